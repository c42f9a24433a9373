"""The services' interpreter, described from the inside (harness.interpreter)."""

import sys
from pathlib import Path

from harness import interpreter


def test_this_interpreter_is_described_as_the_kernel_maps_it() -> None:
    record = interpreter.describe()
    linked = "libpython" in Path("/proc/self/maps").read_text()
    # fails if the probe read the build's configure flags instead of what the process maps
    # (Debian's static python3.11 is configured --enable-shared for its embedding library)
    assert record["libpython"] == ("shared" if linked else "static")
    assert record["version"] == ".".join(map(str, sys.version_info[:3]))
    assert Path(record["real_path"]) == Path(sys.executable).resolve()


def test_only_a_shared_build_gets_the_one_line_note() -> None:
    base = {"real_path": "/usr/bin/python3.11", "version": "3.11.2"}
    assert interpreter.different_build_note({**base, "libpython": "static"}) is None
    note = interpreter.different_build_note({**base, "libpython": "shared"})
    assert note is not None and "\n" not in note and "/usr/bin/python3.11" in note


def test_an_interpreter_that_cannot_run_is_recorded_not_raised() -> None:
    record = interpreter.describe(["/nonexistent/python"])
    assert "error" in record and "/nonexistent/python" in interpreter.summary(record)
