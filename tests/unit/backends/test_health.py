"""A service that died at start is said in one line that ends with the exception its log names."""

from harness.backends.health import last_error

LOG = """[2026-12-08 03:53:56 +0000] [2975] [INFO] Booting worker with pid: 2975
Traceback (most recent call last):
  File "/tmp/v/app/db/queries/queries.py", line 3, in <module>
    import aiosql
  File "/env/lib/python3.10/site-packages/aiosql/__init__.py", line 4, in <module>
    import pkg_resources as pkg  # type: ignore
ModuleNotFoundError: No module named 'pkg_resources'
[2026-12-08 03:53:56 +0000] [2972] [ERROR] Worker (pid:2975) exited with code 3.
"""


def test_the_line_ends_with_the_exception_the_log_names() -> None:
    assert last_error(LOG) == ": ModuleNotFoundError: No module named 'pkg_resources'"
    assert last_error("pydantic_core._pydantic_core.ValidationError: 1 validation error for Config") \
        == ": pydantic_core._pydantic_core.ValidationError: 1 validation error for Config"
    assert last_error("[INFO] Listening at: http://127.0.0.1:8000\n") == ""  # nothing to add
