"""`harness init` reads a service laid out as the FastAPI full-stack template lays one out (a
backend/ folder, routers under an API prefix taken from the settings, POSTGRES_* settings, an
Alembic configuration and start-up scripts) and writes a service file that reads back; a
service's profile names its own code and its packages as layers."""

import tomllib
from pathlib import Path

from harness.reporting.layers import Layering
from harness.service.service_file import read_service_file
from tests.conftest import run_harness

TREE = {
    "backend/pyproject.toml": '[project]\nname = "app"\nrequires-python = ">=3.10"\n'
                              'dependencies = ["fastapi", "sqlmodel", "psycopg[binary]", "alembic"]\n',
    "backend/alembic.ini": "[alembic]\nscript_location = app/alembic\n",
    "uv.lock": 'version = 1\n[[package]]\nname = "fastapi"\nversion = "0.115.0"\n',
    "backend/app/__init__.py": "",
    "backend/app/main.py": "from fastapi import FastAPI\nfrom app.api.main import api_router\n"
                           "from app.core.config import settings\n"
                           "app = FastAPI(title=settings.PROJECT_NAME)\n"
                           "app.include_router(api_router, prefix=settings.API_V1_STR)\n",
    "backend/app/core/__init__.py": "",
    "backend/app/core/config.py": "from pydantic_settings import BaseSettings\n"
                                  "class Settings(BaseSettings):\n    API_V1_STR: str = '/api/v1'\n"
                                  "    SECRET_KEY: str = 'x'\n    PROJECT_NAME: str\n    POSTGRES_SERVER: str\n"
                                  "    POSTGRES_PORT: int = 5432\n    POSTGRES_USER: str\n"
                                  "    POSTGRES_PASSWORD: str = ''\n    POSTGRES_DB: str = ''\n"
                                  "    FIRST_SUPERUSER: str\nsettings = Settings()\n",
    "backend/app/api/__init__.py": "",
    "backend/app/api/main.py": "from fastapi import APIRouter\napi_router = APIRouter()\n",
    "backend/app/api/routes/__init__.py": "",
    "backend/app/api/routes/login.py": "from fastapi import APIRouter, Depends\n"
                                       "from fastapi.security import OAuth2PasswordRequestForm\n"
                                       "router = APIRouter(tags=['login'])\n"
                                       "@router.post('/login/access-token')\n"
                                       "def login(form: OAuth2PasswordRequestForm = Depends()): ...\n",
    "backend/app/api/routes/items.py": "from fastapi import APIRouter\nrouter = APIRouter(prefix='/items')\n"
                                       "@router.get('/')\ndef items(): ...\n"
                                       "@router.get('/{id}')\ndef item(id: int): ...\n",
    "backend/app/api/routes/utils.py": "from fastapi import APIRouter\nrouter = APIRouter(prefix='/utils')\n"
                                       "@router.get('/health-check/')\nasync def health(): return True\n",
    "backend/app/initial_data.py": "print('first superuser')\n",
}


def test_init_writes_a_service_file_from_what_the_code_shows(tmp_path: Path) -> None:
    for name, text in TREE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    done = run_harness("init", str(tmp_path))
    assert done.returncode == 0, done.stderr
    written = tomllib.loads((tmp_path / "ladder.toml").read_text())
    assert written["root"] == "backend" and written["start"]["app"] == "app.main:app"
    assert written["start"]["health"] == "/api/v1/utils/health-check/"
    assert written["load"]["sign_in"]["path"] == "/api/v1/login/access-token"
    assert [r["path"] for r in written["load"]["requests"]] == ["/api/v1/items/"]
    assert written["database"]["setup"] == ["alembic upgrade head", "python app/initial_data.py"]  # from root
    env = written["env"]
    assert env["POSTGRES_SERVER"] == "{db.host}" and env["POSTGRES_DB"] == "{db.name}"
    assert env["SECRET_KEY"] == "{secret}" and env["FIRST_SUPERUSER"] == "" and "API_V1_STR" not in env
    assert read_service_file(tmp_path).start.app == "app.main:app"  # it reads back as a service file
    again = run_harness("init", str(tmp_path))
    assert again.returncode == 2 and "exists" in again.stderr  # never over an existing file


def test_a_services_profile_names_its_own_code_and_each_package() -> None:
    layering = Layering(("/tmp/ladder-variants-x/after",), "notes (own code)")
    site = "/root/.cache/envs/notes/lib/python3.11/site-packages"
    def layer(*paths: str) -> str:
        return layering.layer([layering.module(p) for p in paths])
    assert layer("/tmp/ladder-variants-x/after/notes/main.py") == "notes (own code)"
    assert layer("/tmp/ladder-variants-x/after/notes/main.py", f"{site}/sqlalchemy/orm/query.py") == "sqlalchemy (ORM)"
    assert layer(f"{site}/passlib/context.py", "/usr/lib/python3.11/hashlib.py") == "hashlib (password hashing)"
    assert layer(f"{site}/opentelemetry/trace.py", "/usr/lib/python3.11/socket.py") == "opentelemetry"
    assert layer("/usr/lib/python3.11/socket.py") == "other"
