"""Harness settings in one place: defaults that run on a fresh machine, env overrides."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from harness.manifest import REPO_ROOT


class HarnessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LADDER_")

    results_dir: Path = REPO_ROOT / "results"
    # an existing server's admin URL (a database the user may CREATE DATABASE from);
    # empty: the harness starts its own embedded PostgreSQL
    database_url: str = ""
    # the services' token secret; empty: a random one per run (never written to results)
    token_secret: str = ""
    start_timeout_seconds: float = 60.0
