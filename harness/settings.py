"""Harness settings in one place: defaults that run on a fresh machine, env overrides."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from harness.paths import REPO_ROOT


class HarnessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LADDER_")

    results_dir: Path = REPO_ROOT / "results"
    # an existing server's admin URL (a database the user may CREATE DATABASE from);
    # empty: the harness starts its own embedded PostgreSQL
    database_url: str = ""
    # the services' token secret; empty: a random one per run (never written to results)
    token_secret: str = ""
    start_timeout_seconds: float = 60.0
    # folders with more stage manifests (your own variants), ':'-separated in the env
    extra_stages: str = ""

    def extra_stage_dirs(self) -> list[Path]:
        return [Path(p) for p in self.extra_stages.split(":") if p]
