"""`harness verify`: every stage against a freshly seeded database, compared."""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.backends.base import RunEnvironment
from harness.backends.local import run_environment, running_stage
from harness.cpu import CpuBudget
from harness.errors import StageFailed
from harness.manifests.manifest import StageManifest
from harness.settings import HarnessSettings
from harness.verify.fuzz import FuzzResult, fuzz
from harness.verify.script import (
    MAIN_USER,
    EndpointCounters,
    Script,
    Transcript,
    check_expectations,
    compare,
    measure_mechanisms,
)


@dataclass
class StageVerification:
    stage: StageManifest
    transcript: Transcript | None = None
    counters: list[EndpointCounters] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fuzz: FuzzResult | None = None


@dataclass
class LadderVerification:
    stages: list[StageVerification]
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences and not any(s.problems for s in self.stages)


def verify_stage(env: RunEnvironment, stage: StageManifest, log_dir: Path,
                 counter_calls: int = 5, start_timeout: float = 60.0, fuzz_examples: int = 0) -> StageVerification:
    result = StageVerification(stage)
    try:
        with running_stage(env, stage, log_dir, start_timeout) as running, \
                httpx.Client(base_url=running.base_url, timeout=60) as client:
            script = Script(client, env.token_secret)
            result.transcript = script.run(stage.id)
            result.problems += result.transcript.problems
            if counter_calls:
                result.counters = measure_mechanisms(script, env.admin_url, counter_calls)
                result.problems += check_expectations(stage.expect, result.counters)
            if fuzz_examples:  # last: what the fuzzer writes must not touch the counters above
                result.fuzz = fuzz(running.base_url, script.tokens[MAIN_USER], fuzz_examples)
                if not result.fuzz.ok:
                    result.problems.append(f"fuzz: {result.fuzz.summary}")
    except StageFailed as failed:
        result.problems.append(str(failed))
    return result


def verify_ladder(stages: list[StageManifest], budget: CpuBudget, settings: HarnessSettings,
                  counter_calls: int = 5,
                  on_stage: Callable[[StageVerification], None] | None = None,
                  fuzz_examples: int = 0) -> LadderVerification:
    results = []
    with run_environment(budget, settings) as env, tempfile.TemporaryDirectory() as logs:
        for stage in stages:
            result = verify_stage(env, stage, Path(logs) / stage.id, counter_calls,
                                  settings.start_timeout_seconds, fuzz_examples)
            results.append(result)
            if on_stage:
                on_stage(result)
    transcripts = [r.transcript for r in results if r.transcript is not None]
    return LadderVerification(results, compare(transcripts))
