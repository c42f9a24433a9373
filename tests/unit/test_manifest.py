from pathlib import Path

import pytest

from harness.errors import UserError
from harness.manifests.manifest import discover, load_manifest, select
from harness.paths import REPO_ROOT


def test_discovers_the_ladder_in_order() -> None:
    # the ladder is its folders: the case study's six stages first, in order, then the rungs beyond
    stages = discover()
    ids = [s.id for s in stages]
    assert ids[:6] == ["s0-baseline", "s1-consolidated", "s2-async", "s3-pooled", "s4-queries", "s5-optimized"]
    assert [s.order for s in stages] == sorted(s.order for s in stages) and len(set(ids)) == len(ids)
    assert [len(s.services) for s in stages[:6]] == [14, 4, 4, 4, 4, 4]
    assert all(s.edge.name == "core-api" for s in stages)


def test_each_stage_changes_one_thing_from_its_neighbour() -> None:
    stages = discover()
    for before, after in zip(stages, stages[1:], strict=False):
        changed = {
            "services": [s.app for s in before.services] != [s.app for s in after.services],
            "db": before.adapters.db != after.adapters.db,
            "rpc": before.adapters.rpc != after.adapters.rpc,
            "queries": before.adapters.queries != after.adapters.queries,
            "server": before.server != after.server,
        }
        # s2 swaps driver and HTTP client together, s3 pool and client: one fix, two ports
        assert 1 <= sum(changed.values()) <= 2, (after.id, changed)


def test_workers_come_from_the_budget_not_the_host() -> None:
    optimized = select(discover(), ["s5-optimized"])[0]
    per_cpu = optimized.server.workers_per_cpu
    assert [s.worker_count(1, per_cpu) for s in optimized.services] == [1, 1, 1, 1]
    assert [s.worker_count(4, per_cpu) for s in optimized.services] == [4, 4, 4, 4]
    command = optimized.command(optimized.edge, "127.0.0.1", 2)
    assert command[command.index("--workers") + 1] == "2"


def test_unknown_stage_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown stage s9-nope"):
        select(discover(), ["s9-nope"])


def test_stages_can_be_listed_with_commas_or_repeated() -> None:
    picked = select(discover(), ["s5-optimized,s2-async", "s3-pooled", "s2-async"])
    assert [s.id for s in picked] == ["s2-async", "s3-pooled", "s5-optimized"]
    with pytest.raises(UserError, match="unknown stage s9-nope"):
        select(discover(), ["s2-async,s9-nope"])


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "manifest.toml"
    path.write_text(text)
    return path


VALID = (REPO_ROOT / "stages/s1_consolidated/manifest.toml").read_text()


def test_valid_manifest_loads(tmp_path: Path) -> None:
    assert load_manifest(_write(tmp_path, VALID)).id == "s1-consolidated"


@pytest.mark.parametrize("broken, message", [
    (VALID.replace('port = 8001', 'port = 8000'), "ports must be unique"),
    (VALID.replace('edge = true\n', ''), "exactly one service must be the edge"),
    (VALID.replace('id = "s1-consolidated"', 'id = "consolidated"'), "id"),
    (VALID.replace('kind = "uvicorn"', 'kind = "hypercorn"'), "kind"),
    (VALID + "\nsurprise = 1\n", "surprise"),
    ("id = [", "invalid manifest"),
])
def test_invalid_manifests_are_rejected_with_one_line(tmp_path: Path, broken: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        load_manifest(_write(tmp_path, broken))
    assert "\n" not in str(info.value)


def _variant(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.toml").write_text(text)
    return folder


def test_a_stage_holds_only_its_change_and_inherits_the_rest() -> None:
    by_id = {s.id: s for s in discover()}
    s3, s4, s5 = by_id["s3-pooled"], by_id["s4-queries"], by_id["s5-optimized"]
    assert s4.extends == "s3-pooled" and s5.extends == "s4-queries"
    assert s4.services == s3.services and s4.env == s3.env  # inherited, not copied
    assert s4.adapters.db == s3.adapters.db and s4.adapters.queries != s3.adapters.queries
    assert s5.migrations == s4.migrations == ["stages/s4_queries/indexes.sql"]
    assert s5.server.kind == "gunicorn" and s4.server.kind == "uvicorn"
    # each manifest file says only what differs: no [[services]] after s1
    for stage in ("s2-async", "s3-pooled", "s4-queries", "s5-optimized"):
        assert "[[services]]" not in (by_id[stage].folder / "manifest.toml").read_text(), stage


def test_expectations_accumulate_as_the_fixes_do() -> None:
    by_id = {s.id: s for s in discover()}
    s1, s2, s3, s4, s5 = (by_id[i] for i in ("s1-consolidated", "s2-async", "s3-pooled", "s4-queries",
                                              "s5-optimized"))
    # s4 must still show s3's pooling and s2's unblocked loop, and overrides s3's N+1 count
    assert s4.expect["me.db_sessions"] == s3.expect["me.db_sessions"] == "<= 0.2"
    assert s4.expect["dashboard.blocked"] == s2.expect["dashboard.blocked"] == "<= 0.5"
    assert s3.expect["dashboard.statements"] == ">= 11" and s4.expect["dashboard.statements"] == "<= 3"
    # s2 inherits s1's hop counts; s3 overrides its per-unit-of-work sessions
    assert s2.expect["login.hops"] == s1.expect["login.hops"] and s1.expect["dashboard.db_sessions"] == ">= 1"
    assert s3.expect["dashboard.db_sessions"] == "<= 0.2"
    assert s5.expect == s4.expect
    assert "blocked" not in str(s1.expect)  # s1's loop still blocks: the claim is s2's own


def test_the_rungs_beyond_the_case_study_say_so_and_their_variants_inherit_it(tmp_path: Path) -> None:
    by_id = {s.id: s for s in discover()}
    # the case study ends at s5: every rung after it is beyond, and none before
    assert [s.id for s in discover() if s.beyond_case_study] == [s.id for s in discover() if s.order > 5]
    assert {"s6-one-deployable", "s7-sql", "s8-one-round-trip"} <= {s.id for s in discover() if s.beyond_case_study}
    assert by_id["s5-optimized"].part == "case-study"
    # s7's file does not say it: it is beyond because s6 is (a forgotten `part` cannot put it back)
    assert "part" not in (by_id["s7-sql"].folder / "manifest.toml").read_text()
    after = max(s.order for s in discover()) + 1  # a place of its own, after every stage the tree has
    mine = _variant(tmp_path / "mine", f'id = "s{after}-mine"\norder = {after}\nextends = "s7-sql"\n'
                    'title = "t"\nfix = "f"\nremoves = "r"\n')
    assert select(discover(extra=[mine.parent]), [f"s{after}-mine"])[0].beyond_case_study


def test_the_rungs_beyond_accumulate_their_mechanisms() -> None:
    by_id = {s.id: s for s in discover()}
    s6, s7 = by_id["s6-one-deployable"], by_id["s7-sql"]
    # no internal hop at all (s1-s5: at most one), and s7 keeps it
    assert {k: v for k, v in s6.expect.items() if k.endswith(".hops")} == {
        "dashboard.hops": "== 0", "me.hops": "== 0", "login.hops": "== 0", "export create.hops": "== 0"}
    assert all(s7.expect[k] == v for k, v in s6.expect.items() if k not in ("report.statements",))
    assert s7.expect["report.statements"] == "<= 2" and s7.expect["export create.statements"] == "<= 6"
    assert s7.adapters.db == "stages.s7_sql.db" and s7.services == s6.services


def test_your_own_variant_can_extend_any_stage(tmp_path: Path) -> None:
    mine = _variant(tmp_path / "mine", 'id = "s99-mine"\norder = 99\nextends = "s3-pooled"\ntitle = "t"\n'
                    'fix = "f"\nremoves = "r"\n[env]\nLADDER_POOL_SIZE = "20"\n')
    stage = select(discover(extra=[mine.parent]), ["s99-mine"])[0]
    assert stage.env == {"LADDER_POOL_SIZE": "20"} and len(stage.services) == 4
    s3 = select(discover(), ["s3-pooled"])[0]
    assert stage.adapters.db == "stages.s3_pooled.db" and stage.expect == s3.expect


@pytest.mark.parametrize("extends, message", [("s8-nowhere", "extends unknown stage s8-nowhere"),
                                               ("s99-mine", "circle")])
def test_a_broken_extends_is_one_clear_line(tmp_path: Path, extends: str, message: str) -> None:
    _variant(tmp_path / "mine", f'id = "s99-mine"\norder = 99\nextends = "{extends}"\ntitle = "t"\n'
             'fix = "f"\nremoves = "r"\n')
    with pytest.raises(UserError, match=message) as info:
        discover(extra=[tmp_path])
    assert "\n" not in str(info.value)
