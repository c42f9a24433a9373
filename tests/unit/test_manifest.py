from pathlib import Path

import pytest

from harness.errors import UserError
from harness.ladder.manifest import REPO_ROOT, discover, load_manifest, select

LADDER = ["s0-baseline", "s1-consolidated", "s2-async", "s3-pooled", "s4-queries", "s5-optimized"]


def test_discovers_the_ladder_in_order() -> None:
    stages = discover()
    assert [s.id for s in stages] == LADDER
    assert [len(s.services) for s in stages] == [14, 4, 4, 4, 4, 4]
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
    assert [s.worker_count(1) for s in optimized.services] == [1, 1, 1, 1]
    assert [s.worker_count(4) for s in optimized.services] == [4, 4, 4, 4]
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
