"""The service file is read and refused in one line naming the field; its placeholders filled;
variants resolved from refs or folders; a lock read as constraints; through the installed
command, bad input is one line and exit 2 before anything starts."""

import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import UserError
from harness.service.environments import _poetry_spec, lock_constraints
from harness.service.service_file import fill, read_service_file
from harness.service.setup import placeholders
from harness.service.variants import resolve, variant_id
from tests.conftest import run_harness
from tests.service_fixture import FILES, make_repository

MINIMAL = '''name = "svc"
[start]
app = "svc.main:app"
[[load.requests]]
path = "/items"
'''


def _file(tmp_path: Path, text: str) -> Path:
    (tmp_path / "ladder.toml").write_text(text)
    return tmp_path


@pytest.mark.parametrize(("text", "message"), [
    (MINIMAL.replace('name = "svc"\n', ""), "name: Field required"),
    (MINIMAL.replace('app = "svc.main:app"', 'app = 3'), "start.app: Input should be a valid string"),
    (MINIMAL.replace('app = "svc.main:app"', 'command = "uvicorn x:app"'), "must listen on {port}"),
    (MINIMAL.replace('path = "/items"', 'path = "/items"\nweight = "heavy"'),
     "load.requests.0.weight: Input should be a valid integer"),
    (MINIMAL + '[env]\nURL = "{db.uri}"\n', "unknown placeholder {db.uri}"),
    (MINIMAL + "[writes]\ncount = \"SELECT 1\"\n", "writes.count needs a load request with write = true"),
    (MINIMAL + "surprise = 1\n", "surprise: Extra inputs are not permitted"),
    ("name = ", "not TOML"),
])
def test_a_bad_service_file_is_one_line_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserError, match="ladder.toml") as refused:
        read_service_file(_file(tmp_path, text))
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_placeholders_give_each_setting_its_own_form() -> None:
    values = placeholders("postgresql://ladder:pw@127.0.0.1:5433/ladder_variant_1", 8123, 2, "s3cret")
    assert fill("{db.host}:{db.port}/{db.name} as {db.user}/{db.password}", values) == \
        "127.0.0.1:5433/ladder_variant_1 as ladder/pw"
    assert fill("{db.url:postgresql+asyncpg}", values) == "postgresql+asyncpg://ladder:pw@127.0.0.1:5433/ladder_variant_1"
    assert fill("{db.url} {port} {workers} {secret}", values) == \
        "postgresql://ladder:pw@127.0.0.1:5433/ladder_variant_1 8123 2 s3cret"


def test_variants_are_refs_or_folders_and_a_missing_one_is_refused(tmp_path: Path) -> None:
    repo = make_repository(tmp_path / "repo")
    before, folder = resolve(["before", str(tmp_path / "repo")], repo)
    assert before.commit and len(before.commit) == 40 and before.subject.startswith("notes: list")
    assert folder.commit is None and folder.id == "repo"
    with pytest.raises(UserError, match="variant no-such-branch: no such git ref or folder"):
        resolve(["after,no-such-branch"], repo)
    assert variant_id("feature/Faster.Listing") == "faster-listing" and variant_id(".") == "working-tree"


def test_a_lock_pins_every_package_it_names_but_the_project_itself(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text('version = 1\n[[package]]\nname = "FastAPI"\nversion = "0.115.2"\nsource = { registry = "x" }\n'
                    '[[package]]\nname = "app"\nversion = "0.1.0"\nsource = { editable = "." }\n'
                    '[[package]]\nname = "bcrypt"\nversion = "4.0.1"\nsource = { registry = "x" }\n')
    assert lock_constraints(lock) == ["bcrypt==4.0.1", "fastapi==0.115.2"]
    assert _poetry_spec("^0.109.1") == ">=0.109.1,<0.110" and _poetry_spec("^3.10") == ">=3.10,<4"
    assert _poetry_spec("~1.2") == ">=1.2,<1.3" and _poetry_spec("4.0.1") == "==4.0.1"


def test_the_command_refuses_bad_input_in_one_line_before_anything_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repository(tmp_path / "repo")
    monkeypatch.setenv("LADDER_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("LADDER_OWNER", "test")  # main() claims ownership: put back afterwards
    for args, message in [
        (["--service", str(repo), "--variants", "before,gone"], "variant gone: no such git ref or folder"),
        (["--service", str(repo)], "--service needs --variants"),
        (["--service", str(repo), "--variants", "before", "--backend", "docker"], "local backend only"),
        (["--variants", "before"], "--variants names a service's variants"),
    ]:  # in this process, through the entry point the installed command calls
        monkeypatch.setattr(sys, "argv", ["harness", "run-all", *args, "--quick"])
        with pytest.raises(SystemExit) as ended:
            main()
        err = capsys.readouterr().err
        assert ended.value.code == 2 and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    done = run_harness("run-all", "--service", str(tmp_path / "nowhere"), "--variants", "a", "--quick")
    assert done.returncode == 2 and "no service file at" in done.stderr, done.stderr  # the installed command
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "results").exists()  # refused before a run folder was made
    assert FILES["ladder.toml"] == (repo / "ladder.toml").read_text()
