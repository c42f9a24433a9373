"""Which load a measurement gets: the run's load shape, or the ceiling's capped static-JSON window."""

from harness.kinds import Kind
from harness.load.shape import DEFAULT_SHAPE, QUICK_SHAPE, LoadShape
from harness.runs.ladder import CEILING_WINDOW_S, measured_shape


def test_a_ladder_stage_is_measured_with_the_runs_profile_unchanged() -> None:
    assert measured_shape(DEFAULT_SHAPE, Kind.LADDER) is DEFAULT_SHAPE


def test_the_ceiling_keeps_users_and_warmup_but_caps_its_window() -> None:
    # a window twice the cap is cut to the cap: fails if the ceiling kept the run's window
    long = LoadShape(users=77, warmup=3.0, duration=2 * CEILING_WINDOW_S)
    ceiling = measured_shape(long, Kind.CEILING)
    assert (ceiling.mix, ceiling.duration) == ("ceiling", CEILING_WINDOW_S)
    assert (ceiling.users, ceiling.warmup, ceiling.rate) == (77, 3.0, 0.0)


def test_a_window_shorter_than_the_cap_is_kept() -> None:
    assert measured_shape(QUICK_SHAPE, Kind.CEILING).duration == QUICK_SHAPE.duration
    assert measured_shape(LoadShape(duration=CEILING_WINDOW_S), Kind.CEILING).duration == CEILING_WINDOW_S


def test_the_same_traffic_pass_keeps_the_runs_load_at_its_rate_in_a_capped_window() -> None:
    from harness.runs.ladder import SAME_TRAFFIC_WINDOW_S
    opened = measured_shape(DEFAULT_SHAPE, Kind.SAME_TRAFFIC, 95.0)
    assert DEFAULT_SHAPE.duration > SAME_TRAFFIC_WINDOW_S
    assert (opened.rate, opened.duration, opened.mix) == (95.0, SAME_TRAFFIC_WINDOW_S, DEFAULT_SHAPE.mix)
    assert (opened.users, opened.warmup) == (DEFAULT_SHAPE.users, DEFAULT_SHAPE.warmup)
    assert measured_shape(QUICK_SHAPE, Kind.SAME_TRAFFIC, 5.0).duration == QUICK_SHAPE.duration
