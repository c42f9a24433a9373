import sys

import pytest
from typer.testing import CliRunner

from harness.cli import app, main
from harness.manifests.manifest import discover
from tests.conftest import run_harness

runner = CliRunner()


def test_list_prints_the_ladder() -> None:
    result = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for stage in discover():  # the ladder as its manifests say
        assert stage.id in result.output
    # the services column: 14 for the baseline, 4 for every later stage (the title also says 14,
    # so the count is read from the row's last cell, not searched for anywhere in it)
    rows = [[cell.strip() for cell in line.split("│")] for line in result.output.splitlines()]
    counts = {row[2]: row[-2] for row in rows
              if len(row) > 4 and row[2] in ("s0-baseline", "s1-consolidated", "s5-optimized", "s6-one-deployable")}
    assert counts == {"s0-baseline": "14", "s1-consolidated": "4", "s5-optimized": "4", "s6-one-deployable": "1"}, \
        result.output


def test_diff_shows_the_fix_and_only_the_fix() -> None:
    result = runner.invoke(app, ["diff", "s2-async", "s3-pooled"])
    assert result.exit_code == 0
    assert "+++ stages/s3_pooled/db.py" in result.output
    assert '-engine = create_async_engine(with_driver(get_settings().database_url, "asyncpg"), poolclass=NullPool)' \
        in result.output
    assert "queries.py" not in result.output  # s3 does not touch the queries


def test_diff_s0_s1_shows_the_edge_middleware() -> None:
    result = runner.invoke(app, ["diff", "s0-baseline", "s1-consolidated"])
    assert "+++ stages/s1_consolidated/edge_auth.py" in result.output
    assert "--- baseline/services/token.py" in result.output


@pytest.mark.parametrize("args, message", [
    (["run-all", "--stages", "s9-nope"], "unknown stage s9-nope"),
    (["run-all", "--users", "0"], "--users must be at least 1"),
    (["run-all", "--duration", "0"], "--duration must be positive"),
    (["run-all", "--duration", "abc"], "Invalid value for '--duration'"),
    (["run-all", "--no-such-option"], "No such option: --no-such-option"),
    (["run-all", "--server-cpus", "99"], "do not exist"),
    (["run-all", "--server-cpus", "0", "--load-cpus", "0"], "overlap"),
    (["run-all", "--backend", "kubernetes"], "unknown backend 'kubernetes'"),
    (["run-all", "--load-processes", "0"], "--load-processes must be at least 1"),
    (["run-all", "--server-cpus", "1", "--load-cpus", "0", "--load-processes", "2"],
     "--load-processes 2 needs as many load CPUs; the load has 1 (0)"),
    (["run-all", "--rtt", "-1"], "--rtt must be between 0 and 1000 ms, got -1"),
    (["rtt-sweep", "--rtts", "1,x"], "--rtts must be milliseconds separated by commas"),
    (["rtt-sweep", "--rtts", "0,2000"], "--rtt must be between 0 and 1000 ms, got 2000"),
    (["run-all", "--rate", "-5"], "--rate must not be negative, got -5"),
    (["run-all", "--same-traffic-rate", "0"], "--same-traffic-rate must be positive, got 0"),
    (["capacity", "--rates", "10,abc"], "--rates must be requests/s separated by commas"),
    (["verify", "s9-nope"], "unknown stage"),
    (["diff", "s0-baseline", "s0-baseline"], "two different stages"),
    (["compare", "results/reference-capacity", "results/reference-ladder"],
     "results/reference-capacity is a capacity run; compare takes two ladder runs"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # in this process, through the entry point the installed command calls (main: click's own
    # usage errors are one line too); the installed command itself below
    monkeypatch.setenv("LADDER_OWNER", "test")  # main() claims ownership: put back afterwards
    monkeypatch.setattr(sys, "argv", ["harness", *args])
    with pytest.raises(SystemExit) as ended:
        main()
    err = capsys.readouterr().err
    assert ended.value.code == 2, err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("args", "message"), [(["run-all", "--stages", "s9-nope"], "unknown stage s9-nope"),
                                               (["run-all", "--duration", "abc"], "Invalid value for '--duration'")])
def test_the_installed_command_says_bad_input_in_one_line(args: list[str], message: str) -> None:
    done = run_harness(*args, timeout=120)
    assert done.returncode == 2 and message in done.stderr, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1


def test_unwritable_results_folder_is_a_user_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = run_harness("run-all", "--backend", "local", "--quick",
                       env={"LADDER_RESULTS_DIR": str(blocker / "results")}, timeout=120)
    assert done.returncode == 2
    assert "cannot write results" in done.stderr


def test_every_neighbouring_diff_shows_only_that_steps_fix() -> None:
    def files(a: str, b: str) -> list[str]:
        result = runner.invoke(app, ["diff", a, b])
        assert result.exit_code == 0, result.output
        return [line.split()[1] for line in result.output.splitlines() if line.startswith("+++ ")]

    s0_s1 = runner.invoke(app, ["diff", "s0-baseline", "s1-consolidated"]).output
    assert "+++ stages/s1_consolidated/queries.py" in s0_s1  # the composite units of work, new
    assert "FIX (inconsistent middleware)" in s0_s1 and "-app.add_middleware(RequestTiming)" in s0_s1
    assert files("s1-consolidated", "s2-async") == ["stages/s2_async/manifest.toml", "stages/s2_async/db.py",
                                                    "stages/s2_async/rpc.py"]
    assert files("s3-pooled", "s4-queries") == ["stages/s4_queries/manifest.toml", "stages/s4_queries/queries.py",
                                                "stages/s4_queries/indexes.sql"]
    assert files("s4-queries", "s5-optimized") == ["optimized/manifest.toml", "optimized/gunicorn.conf.py"]
    # beyond the case study: the edge that serves in-process and the three services it no longer
    # calls, then the SQL that replaces the ORM
    assert files("s5-optimized", "s6-one-deployable") == ["stages/s6_one_deployable/manifest.toml",
                                                          "stages/s6_one_deployable/services/core_api.py",
                                                          "/dev/null", "/dev/null", "/dev/null"]
    s5_s6 = runner.invoke(app, ["diff", "s5-optimized", "s6-one-deployable"]).output
    for gone in ("identity", "user", "jobs"):
        assert f"--- stages/s1_consolidated/services/{gone}.py\n+++ /dev/null" in s5_s6
    assert files("s6-one-deployable", "s7-sql") == ["stages/s7_sql/manifest.toml", "stages/s7_sql/db.py",
                                                    "stages/s7_sql/queries.py"]
    # the SQL that checks the caller's session as it reads, the routes that hand it the token, and
    # the edge that no longer runs a statement of its own
    assert files("s7-sql", "s8-one-round-trip") == ["stages/s8_one_round_trip/manifest.toml",
                                                    "stages/s8_one_round_trip/queries.py",
                                                    "stages/s8_one_round_trip/services/core_api.py",
                                                    "stages/s8_one_round_trip/edge_token.py"]


def test_neighbouring_manifests_differ_only_in_what_the_step_changes() -> None:
    # the manifests are compared as the stages run with them (after extends): a later stage's
    # file omits what it inherits, which side by side would read as removed (s4 'dropping' s3's pool)
    def changed(a: str, b: str) -> set[str]:
        out = runner.invoke(app, ["diff", a, b]).output.split("\n+++ ", 1)[1]
        hunk = out.split("\n--- ", 1)[0].splitlines()[1:]
        return {line[1:].split(" = ")[0] for line in hunk if line[:1] in "+-"}
    own = {"id", "order", "extends", "title", "fix", "removes"}
    assert changed("s1-consolidated", "s2-async") == own | {"adapters.db", "adapters.rpc", 'expect."dashboard.blocked"'}
    assert changed("s2-async", "s3-pooled") == own | {
        "adapters.db", "adapters.rpc", "env.LADDER_POOL_SIZE", 'expect."dashboard.db_sessions"',
        'expect."dashboard.statements"', 'expect."export create.db_sessions"', 'expect."me.db_sessions"'}
    assert changed("s3-pooled", "s4-queries") == own | {"migrations", "adapters.queries",
                                                         'expect."dashboard.statements"'}
    assert changed("s4-queries", "s5-optimized") == own | {"server.kind", "server.config", "server.workers_per_cpu"}
    hops = {f'expect."{e}.hops"' for e in ("dashboard", "me", "login", "export create")}
    internal = {f"services.{s}.{k}" for s in ("identity", "user", "jobs") for k in ("app", "port", "edge")}
    assert changed("s5-optimized", "s6-one-deployable") == own | {"part", "services.core-api.app"} | hops | internal
    assert changed("s6-one-deployable", "s7-sql") == own | {"adapters.db", "adapters.queries",
                                                            'expect."report.statements"',
                                                            'expect."export create.statements"'}
    reads = {f'expect."{e}.statements"' for e in ("me", "dashboard", "report", "export create")}
    assert changed("s7-sql", "s8-one-round-trip") == own | {"adapters.queries", "services.core-api.app"} | reads
