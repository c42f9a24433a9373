"""Your service, before and after: `harness run-all --service` on a FastAPI service that is not the
ladder's (tests/service_fixture.py: notes with tags, a form sign-in, sync and async endpoints,
Alembic, a first user and a seed made by scripts, settings from separate variables), in a git
repository of its own, through the installed command. Real PostgreSQL, real locust, real git."""

import json
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.reporting.analysis import BUDGET_BOUND_PCT
from tests.conftest import leftover_processes, run_harness
from tests.service_fixture import make_repository


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repository(tmp_path_factory.mktemp("user") / "notes", broken=True)


def _state(repo: Path) -> dict[str, str]:
    """What the user's repository holds: its refs, HEAD, index and working tree, its worktrees."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout
    return {"refs": git("show-ref"), "head": git("rev-parse", "HEAD"), "status": git("status", "--porcelain"),
            "worktrees": git("worktree", "list"), "files": "\n".join(sorted(
                str(p.relative_to(repo)) for p in repo.rglob("*") if ".git" not in p.parts))}


def _nothing_left() -> None:
    assert leftover_processes() == []
    assert not list(Path(tempfile.gettempdir()).glob("ladder-variants-*"))
    assert not list(Path(tempfile.gettempdir()).glob("ladder-pg-*"))


def _run(results: Path) -> Path:
    (run,) = [p for p in results.iterdir() if (p / "run.json").is_file()]
    return run


def test_the_fix_is_verified_measured_called_and_profiled(repo: Path, tmp_path: Path) -> None:
    before = _state(repo)
    results = tmp_path / "results"
    done = run_harness("run-all", "--service", str(repo), "--variants", "before,after", "--quick", "--no-ceiling",
                       "--profile", "--idle-timeout", "0", env={"LADDER_RESULTS_DIR": str(results)}, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    run = _run(results)
    header = json.loads((run / "run.json").read_text())
    assert [v["id"] for v in header["variants"]] == ["before", "after"]
    assert all(len(v["commit"]) == 40 for v in header["variants"])
    assert header["variants"][1]["environment"]["reused"]  # same dependency files: one environment
    # the output names each variant's interpreter as its environment is ready
    for variant in header["variants"]:
        assert f"{variant['id']}: Python {variant['environment']['python_version']} " in done.stdout, done.stdout
    summary = pd.read_csv(run / "summary.csv").set_index("stage")
    rows = summary.loc[["before", "after"]]
    assert (rows["status"] == "ok").all()
    # each verdict follows from its own evidence: the budget when the server side kept it busy
    for stage, row in rows.iterrows():
        assert row["bound_by"] == ("budget" if row["server_busy_pct"] >= BUDGET_BOUND_PCT else "waiting"), (stage, row)
    # both answered the verify requests alike (the listing's tags, the signed-in user) before timing
    transcripts = [json.loads((run / "stages" / v / "verify.json").read_text()) for v in ("before", "after")]
    assert transcripts[0]["steps"] == transcripts[1]["steps"] and not transcripts[0]["problems"]
    assert any(s["step"] == "GET /notes" and s["status"] == 200 and s["body"] for s in transcripts[0]["steps"])
    # the mechanism: one query per listed note before, the notes and their tags in two after
    assert rows.loc["before", "statements_per_req"] > 3 * rows.loc["after", "statements_per_req"], rows
    # every note a 201 acknowledged is in the database
    assert (rows["writes_lost"] == 0).all() and (rows["writes_acknowledged"] > 0).all()
    # one window a side says nothing of its noise: compare calls nothing, however large the change
    # (exit 3; the gate, test_gate.py, measures until it can call)
    called = run_harness("compare", f"{run}:before", f"{run}:after")
    assert called.returncode == 3, called.stdout + called.stderr
    assert "after against before: cannot call a change" in called.stdout.splitlines()[0], called.stdout
    assert "cannot call a change" in (run / "compare-before-to-after.html").read_text()  # and its page
    # the profile: its own code as one layer, every package its own; the ORM and the driver shrink
    layers = pd.read_csv(run / "layers.csv").pivot_table(index="layer", columns="stage", values="cpu_ms_per_req")
    database = layers.loc[["sqlalchemy (ORM)", "psycopg (DB driver)"]].sum()
    assert database["after"] < 0.6 * database["before"], layers
    assert "notes (own code)" in layers.index
    # what no package claims stays a small share of each variant's own CPU (a 4 s window samples few frames)
    own_cpu = layers.drop(index="PostgreSQL").sum()
    assert (layers.loc["other"].fillna(0) < 0.1 * own_cpu).all(), layers
    report = (run / "report.md").read_text()
    assert report.startswith("# notes: before → after") and "the article" not in report
    assert "`alembic upgrade head`" in report and header["variants"][0]["commit"][:10] in report
    assert _state(repo) == before  # the user's repository, working tree and branches untouched
    _nothing_left()


def test_a_broken_variant_is_named_with_its_cause_and_the_others_are_kept(repo: Path, tmp_path: Path) -> None:
    # a start that exits, a service answering 500, a health path never answered: each fails its variant
    service = repo / "quick-start.toml"
    quick = (repo / "ladder.toml").read_text().replace('health = "/health"', 'health = "/health"\ntimeout = 8')
    service.write_text(quick)
    (repo / "never-healthy.toml").write_text(service.read_text().replace('health = "/health"', 'health = "/nope"'))
    results = tmp_path / "results"
    env = {"LADDER_RESULTS_DIR": str(results)}
    done = run_harness("run-all", "--service", str(service), "--variants", "after,crashes,fails-everything",
                       "--quick", "--no-ceiling", "--idle-timeout", "0", "--rtt", "0", env=env, timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "crashes: service notes exited at start" in out and "RuntimeError: this variant does not start" in out
    assert "fails-everything: verify failed: GET /notes: answered 500" in out
    summary = pd.read_csv(_run(results) / "summary.csv").set_index("stage")
    assert summary.loc["after", "status"] == "ok" and summary.loc["after", "rps"] > 0  # kept
    assert summary.loc[["crashes", "fails-everything"], "status"].eq("failed").all()
    # a health path the app answers 404: said at once with what the app serves, and not tried again
    # in the later repeats (the first try's line is the answer)
    started = time.monotonic()
    never = run_harness("run-all", "--service", str(repo / "never-healthy.toml"), "--variants", "after", "--quick",
                        "--no-ceiling", "--idle-timeout", "0", "--rtt", "0", "--repeat", "3",
                        env={"LADDER_RESULTS_DIR": str(tmp_path / "never")}, timeout=600)
    said = never.stdout + never.stderr
    expected = ("after: notes answered 404 to its health path GET /nope: the app serves /health, /me, /notes, "
                "/signup, /token (change start.health in the service file)")
    assert never.returncode == 1 and expected in " ".join(said.split()), said
    assert time.monotonic() - started < 45  # not 3 × the start timeout (60 s)
    assert [p.name for p in (_run(tmp_path / "never") / "stages").iterdir()] == ["after"]
    # accounts made through the service's own sign-up route, no script of the user's: only the
    # migration makes the database, and every user signs in
    (repo / "sign-up.toml").write_text(
        quick.replace('setup = ["alembic upgrade head", "python scripts/create_first_user.py", '
                      '"python scripts/seed.py"]', 'setup = ["alembic upgrade head"]')
        .replace("[load.sign_in]", '[load.sign_up]\npath = "/signup"\n'
                 'json = { email = "user{account}@example.com", password = "pw{account}" }\n\n[load.sign_in]')
        .split("[[load.requests]]")[0] + '[[load.requests]]\npath = "/me"\n\n[[verify]]\npath = "/me"\n')
    made = run_harness("run-all", "--service", str(repo / "sign-up.toml"), "--variants", "after", "--quick",
                       "--no-ceiling", "--idle-timeout", "0", "--rtt", "0",
                       env={"LADDER_RESULTS_DIR": str(tmp_path / "sign-up")}, timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr
    signed = pd.read_csv(_run(tmp_path / "sign-up") / "summary.csv").set_index("stage")
    assert signed.loc["after", "failures"] == 0 and signed.loc["after", "rps"] > 0
    _nothing_left()


def test_what_cannot_be_made_stops_the_run_in_one_line_before_any_window(repo: Path, tmp_path: Path) -> None:
    (repo / "no-such-package.toml").write_text((repo / "ladder.toml").read_text().replace(
        'name = "notes"', 'name = "notes"\n[environment]\nextra = ["no-such-package-for-ladder-tests"]'))
    (repo / "load.py").write_text("import no_such_module\n")
    (repo / "own-load.toml").write_text((repo / "ladder.toml").read_text().split("[load.sign_in]")[0]
                                        + '[load]\nlocustfile = "load.py"\n')
    for service, variants, message in [
        ("ladder.toml", "before,bad-migration", "variant bad-migration: set-up `alembic upgrade head` failed "
                                                "(exit 1): sqlalchemy.exc.ProgrammingError"),
        ("no-such-package.toml", "after", "variant after: its environment failed to install"),
        ("own-load.toml", "after", "load.locustfile: load.py does not import: ModuleNotFoundError"),
    ]:
        done = run_harness("run-all", "--service", str(repo / service), "--variants", variants, "--quick",
                           "--idle-timeout", "0", env={"LADDER_RESULTS_DIR": str(tmp_path / service)}, timeout=600)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert json.loads((_run(tmp_path / service) / "run.json").read_text())["status"] == "failed"
    _nothing_left()
