"""Where a variant's interpreter is found: pyenv's and uv's managed Pythons when none on PATH fits."""

from pathlib import Path

import pytest

from harness.errors import UserError
from harness.service import environments
from harness.service.environments import choose_interpreter, managed


def _fake_python(path: Path, version: str) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)


def test_an_interpreter_outside_path_is_found_in_pyenv_or_uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_python(tmp_path / "pyenv" / "versions" / "3.99.1" / "bin" / "python3", "3.99.1")
    _fake_python(tmp_path / "uv" / "cpython-3.98.0-linux-x86_64-gnu" / "bin" / "python3", "3.98.0")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "uv"))
    assert managed() == [str(tmp_path / "pyenv/versions/3.99.1/bin/python3"),
                         str(tmp_path / "uv/cpython-3.98.0-linux-x86_64-gnu/bin/python3")]
    assert choose_interpreter(">=3.99", "main").path == str(tmp_path / "pyenv/versions/3.99.1/bin/python3")
    assert choose_interpreter(">=3.98,<3.99", "main").version == "3.98.0"
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="no installed Python fits"):
        choose_interpreter(">=3.99", "main")


def test_a_package_that_did_not_build_names_the_field_to_change() -> None:
    # an old lock pins a version with wheels only for older Pythons: uv builds it and fails
    said = "Resolved 35 packages\n   Building asyncpg==0.25.0\nerror: Failed to download and build `asyncpg==0.25.0`\n"
    hint = environments._older_python_hint(said, environments.Interpreter("/usr/bin/python3.11", "3.11.2"))
    assert hint.startswith("; asyncpg==0.25.0 has no wheel for Python 3.11 here and did not build: "
                           "set [environment] python in the service file to an older Python"), hint
    assert "3.11" not in hint.partition("installed:")[2]  # only older ones offered
    assert environments._older_python_hint("error: No solution found", environments.Interpreter("x", "3.11.2")) == ""
