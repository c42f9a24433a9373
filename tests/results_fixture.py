"""A small results folder with known numbers, written the way a run writes it."""

import csv
from pathlib import Path

from harness.run_folder import SCHEMA_VERSION, write_json


def write_stage(run_dir: Path, stage: str, order: int, times_ms: list[float], failures: int,
                window: float, cpu_s: float, sessions: int, statements: int | None, hops: int,
                status: str = "ok", repeat: int = 1, host_speed: float | None = None,
                db_cpu_s: float | None = None, part: str | None = None, sent: int | None = None) -> None:
    out = run_dir / "stages" / (stage if repeat == 1 else f"{stage}.r{repeat}")
    out.mkdir(parents=True)
    meta = {"id": stage, "order": order, "repeat": repeat, "title": stage, "fix": f"fix of {stage}",
            "removes": f"what {stage} removes", "status": status, **({"part": part} if part else {})}
    if status != "ok":
        meta["error"] = f"{stage}: service core-api exited at start (code 1)"
    write_json(out / "stage.json", meta)
    if status != "ok":
        return
    with open(out / "samples.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "completed_at", "response_time_ms", "hops", "ok"])
        for i, t in enumerate(times_ms):
            # completions spread over the window, which load_samples keeps
            completed_at = 1000.0 + window * i / max(1, len(times_ms))
            w.writerow(["/api/dashboard" if i % 2 else "/api/me", completed_at, t, hops, 0 if i < failures else 1])
    write_json(out / "measurement.json", {
        "window_start": 1000.0, "window_end": 1000.0 + window, "window_seconds": window,
        "server_cpu_seconds": cpu_s, "generator_cpu_pct": 90.0 if stage.endswith("bound") else 20.0,
        "generator_cpu_peak_pct": 95.0,
        "db": {"sessions": sessions, "xact_commit": 0, "statements": statements},
        **({"host_speed": {"samples": 50, "mean": host_speed}} if host_speed else {}),
        **({"db_cpu_seconds": db_cpu_s} if db_cpu_s is not None else {}),
        **({"generator_sent": sent} if sent is not None else {}),
    })


def make_repeated_run(run_dir: Path, fast_rps: tuple[float, ...],
                      host_speed: tuple[float, ...] | None = None) -> Path:
    """Two stages measured len(fast_rps) times; s1's throughput (and the host's speed) per repeat is given."""
    make_header(run_dir)
    for k, rps in enumerate(fast_rps, start=1):
        speed = host_speed[k - 1] if host_speed else None
        write_stage(run_dir, "s0-slow", 0, [100.0] * 100, 0, 10.0, 2.0, 300, 1100, 16, repeat=k, host_speed=speed)
        write_stage(run_dir, "s1-fast", 1, [10.0] * int(rps * 10), 0, 10.0, 1.0, 0, None, 1, repeat=k,
                    host_speed=speed)
    return run_dir


def make_header(run_dir: Path, kind: str = "ladder") -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "run.json", {
        "schema_version": SCHEMA_VERSION, "kind": kind, "status": "complete", "backend": "local",
        "budget": {"server_cpus": "1", "load_cpus": "0", "cpu_quota": None},
        "load": {"users": 10, "warmup": 1, "duration": 10}, "git": {"commit": "abc"},
        "machine": {"cpu_model": "test cpu"},
    })


def make_run(run_dir: Path) -> Path:
    make_header(run_dir)
    # s0: 100 requests of 1..100 ms in 10 s, 5 failed, 2 CPU-s (0.5 of them PostgreSQL's),
    # 300 sessions, 1100 statements; locust counted 103 requests (3 in no samples file)
    write_stage(run_dir, "s0-slow", 0, [float(t) for t in range(1, 101)], 5, 10.0, 2.0, 300, 1100, 16,
                db_cpu_s=0.5, sent=103)
    # s1: 400 requests of 10 ms in 10 s, no failure, 1 CPU-s (not split: an older run),
    # no sessions, statements unknown; every request locust counted in the samples
    write_stage(run_dir, "s1-fast", 1, [10.0] * 400, 0, 10.0, 1.0, 0, None, 1, sent=400)
    write_stage(run_dir, "s2-broken", 2, [], 0, 10.0, 0.0, 0, None, 0, status="failed")
    return run_dir
