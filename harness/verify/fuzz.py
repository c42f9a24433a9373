"""The public API under hostile input: schemathesis, the well-kept OpenAPI fuzzer, against a
running stage's published schema.

Property-based runs, positive and negative (values the schema allows and values it refuses),
bounded in examples per operation and seeded, so a run is fast and repeatable. Checks: no 5xx
(`not_a_server_error`: a dropped connection or a traceback is a failure too) and every answer
conforming to the schema it declares (`response_schema_conformance`). A valid bearer token goes
with every request, so the fuzzer reaches past the auth check. Only the edge publishes a schema;
internal services publish none, so internal routes stay out of it.

Driven through schemathesis's own command line (its stable interface), in a subprocess whose
working folder is a scratch folder: schemathesis keeps a crash cache and reads a config file in
the folder it runs in, so from the repository's root it wrote `.schemathesis/` into the tree and
would pick up whatever schemathesis.toml lay there. Each fuzz run starts from nothing and leaves
nothing.
"""

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UserError

CHECKS = "not_a_server_error,response_schema_conformance"
EXAMPLES = 25  # per operation and generation mode: ~7 operations × 2 modes, a minute or two per stage
SEED = 1801300  # any fixed seed: the same examples every run (180 → 1300)


@dataclass(frozen=True)
class FuzzResult:
    ok: bool
    summary: str  # schemathesis's closing lines (test cases generated, failures found)
    output: str

    @property
    def failures(self) -> list[str]:
        return [line.strip() for line in self.output.splitlines() if line.strip().startswith(("_", "- "))
                and ("Server error" in line or "schema" in line.lower())][:10]


def _schemathesis() -> str:
    beside = Path(sys.executable).with_name("schemathesis")  # the venv's own
    found = str(beside) if beside.exists() else shutil.which("schemathesis")
    if not found:
        raise UserError("schemathesis is not installed (pip install -e .): verify --fuzz needs it")
    return found


def fuzz(base_url: str, token: str, examples: int = EXAMPLES, report_dir: Path | None = None,
         timeout: float = 900.0) -> FuzzResult:
    argv = [_schemathesis(), "run", f"{base_url}/openapi.json", "--checks", CHECKS,
            "--max-examples", str(examples), "--seed", str(SEED),
            "--mode", "all", "--workers", "1", "--request-timeout", "30", "--no-color",
            "--header", f"Authorization: Bearer {token}", "--phases", "examples,coverage,fuzzing"]
    if report_dir is not None:
        argv += ["--report", "junit", "--report-dir", str(report_dir.resolve())]
    with tempfile.TemporaryDirectory(prefix="ladder-fuzz-") as scratch:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL, cwd=scratch)
    output = done.stdout + done.stderr
    # its closing count, e.g. "178 generated, 178 passed" (or "…, 3 failed")
    counts = [line.strip() for line in output.splitlines() if re.search(r"\d+ generated", line)]
    summary = counts[-1] if counts else f"schemathesis exited with {done.returncode}"
    return FuzzResult(done.returncode == 0, summary, output)
