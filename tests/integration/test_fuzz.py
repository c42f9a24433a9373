"""The public API under hostile input: schemathesis against every stage, and against a server
with a known crash, to show the fuzzer finds one where there is one."""

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from harness.ladder.fuzz import fuzz
from tests.conftest import run_harness

CRASHY = textwrap.dedent('''
    from fastapi import FastAPI

    app = FastAPI()


    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id > 1000:  # the bug: a lookup that fails past a range, as the stages' ids once did
            raise RuntimeError("value out of int32 range")
        return {"id": item_id}
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_fuzzer_finds_a_server_error_where_there_is_one(tmp_path: Path) -> None:
    (tmp_path / "crashy.py").write_text(CRASHY)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "crashy:app", "--port", str(port),
                               "--log-level", "warning"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/openapi.json").raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        result = fuzz(f"http://127.0.0.1:{port}", token="unused", examples=20)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert not result.ok, result.output[-2000:]
    assert "Server error" in result.output or "500" in result.output


def test_every_stage_holds_under_the_fuzzer(results_dir: Path) -> None:
    done = run_harness("verify", "--calls", "0", "--fuzz", "10", timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    for stage in ("s0-baseline", "s1-consolidated", "s2-async", "s3-pooled", "s4-queries", "s5-optimized"):
        line = next(line for line in done.stdout.splitlines() if line.startswith(f"{stage}:"))
        assert "ok (fuzz:" in line, line
