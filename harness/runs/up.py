"""`harness up STAGE`: one stage brought up exactly as a run brings it up — a fresh seeded
database, the budget pinned, the network between the tiers of the run's options — and held
until Ctrl-C, so a user can point their own tools at it (py-spy, k6, wrk, a browser); everything
stopped after. A results folder of kind `up` keeps its logs and lets `harness cleanup` clean up
after a killed session."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from domain import seed
from harness import interrupts
from harness.backends.base import Backend, RunningStage
from harness.cpu import CpuBudget, format_cpus
from harness.errors import StageFailed
from harness.manifests.manifest import StageManifest
from harness.network.emulator import NetworkPlan
from harness.run_folder import new_run_dir, run_header
from harness.runs.skeleton import recorded_run, save
from harness.settings import HarnessSettings

CHECK_EVERY_S = 0.5


def how_to_use(running: RunningStage, budget: CpuBudget, secret: str, users: int) -> list[str]:
    """What a user needs to drive the stage by hand: the URL, who can sign in, commands to try."""
    url = running.base_url
    pids = running.service_pids()
    edge = next(iter(pids.values()), None)
    load = format_cpus(budget.load)
    return [
        f"{running.stage.id} is up at {url}",
        f"  sign in: user N of 1..{users:,} is user<N>@example.com with password password-<N> "
        f"(e.g. {seed.email_for(7)} / {seed.password_for(7)})",
        f"  try:     curl -s -X POST {url}/api/login -H 'content-type: application/json' "
        f"-d '{{\"email\": \"{seed.email_for(1)}\", \"password\": \"{seed.password_for(1)}\"}}'",
        f"           curl -s {url}/api/me -H 'authorization: Bearer <token>'",
        f"  schema:  {url}/openapi.json",
        "  services: " + ", ".join(f"{name} (pid {pid})" for name, pid in pids.items()),
        f"  load it on the load CPUs ({load}): taskset -c {load} wrk -t1 -c50 -d30s {url}/healthz",
        (f"  profile: py-spy record --gil --nonblocking --pid {edge} --format speedscope -o edge.json --duration 30"
         if edge else ""),
        f"  tokens are signed with LADDER_TOKEN_SECRET={secret}",
        "Ctrl-C stops everything it started.",
    ]


def up(stage: StageManifest, backend: Backend, budget: CpuBudget, network: NetworkPlan, settings: HarnessSettings,
       say: Callable[[str], None], hold_seconds: float | None = None) -> Path:
    """Bring `stage` up on `backend` and hold it until interrupted (or `hold_seconds`)."""
    say(f"starting {stage.id} ({backend.name} backend; server CPUs {format_cpus(budget.server)}, "
        + (f"{network.rtt_ms:g} ms RTT between the tiers" if network.on else "loopback") + ") …")
    run_dir = new_run_dir(settings.results_dir)
    record: dict[str, Any] = {**run_header("up", backend.name, budget.as_record()), "stage": stage.id,
                              "network": network.as_record()}
    with (recorded_run(run_dir, record, where=lambda: "holding the stage"),
          backend.environment(budget, settings) as env,
          backend.stage(env, stage, run_dir / "logs", settings.start_timeout_seconds, network) as running):
        record["url"] = running.base_url
        save(run_dir, record)
        users = int(env.seed_rows.get("users", seed.DEFAULT_SIZE.users))
        for line in how_to_use(running, budget, env.token_secret, users):
            if line:
                say(line)
        until = time.monotonic() + hold_seconds if hold_seconds else float("inf")
        while time.monotonic() < until:
            interrupts.check()
            if dead := running.dead_services():
                raise StageFailed(f"{stage.id}: service {', '.join(dead)} exited (logs in {run_dir}/logs)")
            time.sleep(CHECK_EVERY_S)
    return run_dir
