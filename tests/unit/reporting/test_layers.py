"""CPU per request by layer from a stored profile (tests/fixtures/profiled, a profiled
measurement in miniature whose expected figures its README works out by hand)."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.reporting.layers import (
    APP,
    OTHER,
    layer_of_stack,
    measurement_layers,
    module_of,
    read_profile_tables,
    write_profile_tables,
)

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "profiled"
SITE = "/srv/venv/lib/python3.11/site-packages/"
STDLIB = "/usr/lib/python3.11/"


@pytest.mark.parametrize(("path", "module"), [
    (SITE + "sqlalchemy/orm/query.py", "sqlalchemy"),
    (SITE + "pydantic_core/core_schema.py", "pydantic_core"),
    (STDLIB + "json/encoder.py", "json"),
    (STDLIB + "http/client.py", "http/client"),
    (STDLIB + "socket.py", "socket"),
    ("/app/stages/s2_async/db.py", "app:stages"),
    ("", None),
])
def test_a_frame_is_placed_by_its_file(path: str, module: str | None) -> None:
    assert module_of(path) == module


def test_the_first_named_frame_from_the_leaf_decides() -> None:
    # a socket send (no layer of its own) under h11 under httpx: the HTTP client's, not the server's
    assert layer_of_stack(["asyncio", "uvicorn", "app:stages", "httpx", "h11", "socket"]) == "HTTP client"
    # h11 under uvicorn alone parses the server's side
    assert layer_of_stack(["asyncio", "uvicorn", "h11", "socket"]) == "server & framework"
    # the stage's own function is app code; what it calls is the callee's layer
    assert layer_of_stack(["uvicorn", "app:domain"]) == APP
    assert layer_of_stack(["uvicorn", "app:domain", "json"]) == "JSON"
    assert layer_of_stack([None, "threading"]) == OTHER


def test_layers_of_a_stored_profile_add_up_to_the_measured_cpu(tmp_path: Path) -> None:
    profile = measurement_layers(FIXTURE, requests=10)
    assert profile is not None
    got = profile.layers.set_index("layer")["cpu_ms_per_req"].round(6).to_dict()
    assert got == {"JSON": 1.0, "validation": 0.0, "ORM": 1.0, "DB driver": 2.0, "HTTP client": 1.5,
                   "auth & crypto": 0.0, "logging": 0.0, "event loop": 0.5, "server & framework": 0.5,
                   APP: 1.0, OTHER: 0.5, "PostgreSQL": 5.0}
    assert profile.measured_ms_per_req == pytest.approx(8.0)
    assert profile.sample_ratio == pytest.approx(2.0)  # 16 samples of 10 ms for 80 ms of CPU
    assert profile.profiler_cpu_pct == pytest.approx(5.0)
    hottest = profile.functions.iloc[0]
    assert hottest["function"] == "Connection.execute (asyncpg)" and hottest["cpu_ms_per_req"] == pytest.approx(2.0)


def test_run_tables_pair_the_profiled_measurement_with_the_plain_one(tmp_path: Path) -> None:
    stage = tmp_path / "stages" / "s5-optimized.profiled"
    shutil.copytree(FIXTURE, stage)
    (stage / "stage.json").write_text('{"id": "s5-optimized.profiled", "order": 3005, "repeat": 1, "status": "ok"}')
    measurements = pd.DataFrame([
        {"stage": "s5-optimized", "repeat": 1, "status": "ok", "requests": 2000, "rps": 200.0},
        {"stage": "s5-optimized.profiled", "repeat": 1, "status": "ok", "requests": 10, "rps": 190.0},
        {"stage": "s5-optimized", "repeat": 2, "status": "ok", "requests": 2000, "rps": 100.0},
        {"stage": "s5-optimized.profiled", "repeat": 2, "status": "ok", "requests": 10, "rps": 99.0},
        {"stage": "s5-optimized", "repeat": 3, "status": "ok", "requests": 2000, "rps": 100.0},
        {"stage": "s5-optimized.profiled", "repeat": 3, "status": "ok", "requests": 10, "rps": 80.0},
    ])
    summary = pd.DataFrame([{"stage": "s5-optimized", "rps": 133.0, "cpu_s_per_1k": 7.0},
                            {"stage": "s5-optimized.profiled", "rps": 99.0, "cpu_s_per_1k": 13.0}])
    per = write_profile_tables(tmp_path, measurements, summary)
    assert per is not None
    # pair by pair (repeat k against repeat k), the median of the pairs: 5, 1 and 20 % -> 5 %
    assert per.loc[0, "overhead_pct"] == pytest.approx(5.0)
    assert per.loc[0, "overhead_pairs"] == "+5.0 +1.0 +20.0"
    # the layers' sum beside the CPU per request the profiled window measured
    assert per.loc[0, "layers_ms_per_req"] == pytest.approx(13.0) and per.loc[0, "window_ms_per_req"] == 13.0
    tables = read_profile_tables(tmp_path)
    assert tables is not None
    layers, functions, _ = tables
    assert set(layers["stage"]) == {"s5-optimized"}
    assert layers["cpu_ms_per_req"].sum() == pytest.approx(13.0, rel=1e-3)  # written to 4 digits
    assert len(functions) <= 25
