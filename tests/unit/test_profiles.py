"""Which load a measurement gets: the run's profile, or the ceiling's capped static-JSON window."""

from harness.load.profile import DEFAULT_PROFILE, QUICK_PROFILE, LoadProfile
from harness.runs.ladder import CEILING_WINDOW_S, measured_profile


def test_a_ladder_stage_is_measured_with_the_runs_profile_unchanged() -> None:
    assert measured_profile(DEFAULT_PROFILE, ceiling=False) is DEFAULT_PROFILE


def test_the_ceiling_keeps_users_and_warmup_but_caps_its_window() -> None:
    # a window twice the cap is cut to the cap: fails if the ceiling kept the run's window
    long = LoadProfile(users=77, warmup=3.0, duration=2 * CEILING_WINDOW_S)
    ceiling = measured_profile(long, ceiling=True)
    assert (ceiling.mix, ceiling.duration) == ("ceiling", CEILING_WINDOW_S)
    assert (ceiling.users, ceiling.warmup, ceiling.rate) == (77, 3.0, 0.0)


def test_a_window_shorter_than_the_cap_is_kept() -> None:
    assert measured_profile(QUICK_PROFILE, ceiling=True).duration == QUICK_PROFILE.duration
    assert measured_profile(LoadProfile(duration=CEILING_WINDOW_S), ceiling=True).duration == CEILING_WINDOW_S


def test_the_same_traffic_pass_keeps_the_runs_load_at_its_rate_in_a_capped_window() -> None:
    from harness.runs.ladder import SAME_TRAFFIC_WINDOW_S
    opened = measured_profile(DEFAULT_PROFILE, ceiling=False, open_rate=95.0)
    assert DEFAULT_PROFILE.duration > SAME_TRAFFIC_WINDOW_S
    assert (opened.rate, opened.duration, opened.mix) == (95.0, SAME_TRAFFIC_WINDOW_S, DEFAULT_PROFILE.mix)
    assert (opened.users, opened.warmup) == (DEFAULT_PROFILE.users, DEFAULT_PROFILE.warmup)
    assert measured_profile(QUICK_PROFILE, ceiling=False, open_rate=5.0).duration == QUICK_PROFILE.duration
