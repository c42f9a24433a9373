"""`harness init` reads a service laid out as the FastAPI full-stack template lays one out (a
backend/ folder, routers under an API prefix taken from the settings, POSTGRES_* settings, an
Alembic configuration and start-up scripts) and writes a service file that reads back; a
service's profile names its own code and its packages as layers."""

import subprocess
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
    "backend/app/api/main.py": "from fastapi import APIRouter\nfrom app.api.routes import items, login, utils\n"
                               "api_router = APIRouter()\napi_router.include_router(login.router)\n"
                               "api_router.include_router(items.router)\napi_router.include_router(utils.router)\n",
    "backend/app/api/routes/__init__.py": "",
    "backend/app/api/routes/login.py": "from fastapi import APIRouter, Depends\n"
                                       "from fastapi.security import OAuth2PasswordRequestForm\n"
                                       "router = APIRouter(tags=['login'])\n"
                                       "@router.post('/login/access-token')\n"
                                       "def login(form: OAuth2PasswordRequestForm = Depends()): ...\n",
    "backend/app/api/routes/items.py": "from fastapi import APIRouter\nrouter = APIRouter(prefix='/items')\n"
                                       "@router.get('/')\ndef items(): ...\n"
                                       "@router.get('/{id}')\ndef item(id: int): ...\n"
                                       # for a superuser only: no account of the load's could read it
                                       "@router.get('/all', dependencies=[Depends(get_current_active_superuser)])\n"
                                       "def every_item(): ...\n",
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
    # from the root; a module of a package by its name (its imports may be relative)
    assert written["database"]["setup"] == ["alembic upgrade head", "python -m app.initial_data"]
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


def _write(root: Path, tree: dict[str, str]) -> None:
    for name, text in tree.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


DEFAULTS = '''\
from typing import Optional
from pydantic import AnyUrl, Field, HttpUrl, PostgresDsn
from pydantic_settings import BaseSettings

class Settings(BaseSettings):
    ACCESS_TOKEN_EXPIRE_MINUTES: int = 60 * 24 * 8
    SENTRY_DSN: HttpUrl | None = None
    SMTP_HOST: Optional[str] = None
    EMAILS_FROM_EMAIL: str | None
    FRONTEND_HOST: str = Field(default="http://localhost:5173")
    BACKEND_CORS_ORIGINS: list[AnyUrl] = Field(default_factory=list)
    PROJECT_NAME: str = Field(...)
    REDIS_URL: AnyUrl
    POSTGRES_SERVER: str
    SQLALCHEMY_DATABASE_URI: PostgresDsn | None = None
    token_ttl: int = Field(3600, alias="TOKEN_TTL_SECONDS")
'''


def test_init_marks_required_only_what_has_no_default_and_writes_only_what_validates(tmp_path: Path) -> None:
    _write(tmp_path, {"app/__init__.py": "", "app/config.py": DEFAULTS,
                      "app/main.py": "from fastapi import FastAPI\napp = FastAPI()\n"})
    assert run_harness("init", str(tmp_path)).returncode == 0
    text = (tmp_path / "ladder.toml").read_text()
    required = [line.split("=")[0].strip(" #") for line in text.splitlines() if "CHECK: required" in line]
    assert sorted(required) == ["PROJECT_NAME", "REDIS_URL"], text  # Field(...) and a type with no default
    env = tomllib.loads(text)["env"]
    assert env["PROJECT_NAME"] == "" and "REDIS_URL" not in env  # "" is no AnyUrl: left to the owner, said why
    assert "# REDIS_URL =   # CHECK: required by the code (AnyUrl)" in text
    # a URL with a default beside its parts (a validator assembles it): the parts are set, not it
    assert env["POSTGRES_SERVER"] == "{db.host}" and "SQLALCHEMY_DATABASE_URI" not in env
    assert "TOKEN_TTL_SECONDS" in text and "ACCESS_TOKEN_EXPIRE_MINUTES" in text  # named, with a default


NESTED = {
    "pyproject.toml": '[tool.poetry]\nname = "svc"\n[tool.poetry.dependencies]\npython = "^3.11"\n'
                      'fastapi = "*"\nsqlalchemy = {extras = ["asyncio"], version = "*"}\nasyncpg = "*"\n',
    "src/svc/__init__.py": "",
    "src/svc/settings.py": '''\
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

class Database(BaseModel):
    host: str = "localhost"
    port: int = 5432
    user: str
    password: SecretStr
    name: str = "svc"

class Auth(BaseModel):
    secret: str
    ttl_seconds: int = 3600

class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SVC_", env_nested_delimiter="__", env_file=".env")
    database: Database
    auth: Auth
    debug: bool = False
''',
    "src/svc/main.py": "from fastapi import FastAPI\nfrom svc.api import api\napp = FastAPI(docs_url='/')\n"
                       "app.include_router(api, prefix='/api')\n",
    "src/svc/api.py": "from fastapi import APIRouter\napi = APIRouter(prefix='/v1')\n"
                      "@api.get('/health')\nasync def health(): return {}\n"
                      "@api.get('/things')\nasync def things(): ...\n"
                      "@api.post('/users/register')\nasync def register(body: dict): ...\n"
                      "@api.post('/token')\nasync def token(form: OAuth2PasswordRequestForm = Depends()): ...\n",
}


def test_init_reads_nested_settings_with_their_prefix_and_delimiter(tmp_path: Path) -> None:
    _write(tmp_path, NESTED)
    assert run_harness("init", str(tmp_path)).returncode == 0
    text = (tmp_path / "ladder.toml").read_text()
    written = tomllib.loads(text)
    env = written["env"]
    assert env["SVC_DATABASE__HOST"] == "{db.host}" and env["SVC_DATABASE__PORT"] == "{db.port}"
    assert env["SVC_DATABASE__USER"] == "{db.user}" and env["SVC_DATABASE__PASSWORD"] == "{db.password}"
    assert env["SVC_DATABASE__NAME"] == "{db.name}"
    assert env["SVC_AUTH__SECRET"] == "{secret}"
    assert "SVC_DEBUG" not in env and "SVC_AUTH__TTL_SECONDS" in text  # defaults: named, not set
    assert [line for line in text.splitlines() if "CHECK: required" in line] == []
    assert written["start"]["health"] == "/api/v1/health"  # the router's prefix under the app's
    assert [r["path"] for r in written["load"]["requests"]] == ["/api/v1/things"]
    # accounts made through its own sign-up route, and signed in to with them
    assert written["load"]["sign_up"]["path"] == "/api/v1/users/register"
    assert written["load"]["sign_in"]["path"] == "/api/v1/token" and written["load"]["sign_in"]["accounts"] == 20
    assert read_service_file(tmp_path).load.sign_up is not None


def test_init_follows_every_include_router_to_a_route_s_full_path(tmp_path: Path) -> None:
    _write(tmp_path, {
        "svc/__init__.py": "",
        "svc/config.py": "from pydantic_settings import BaseSettings\n"
                         "class Settings(BaseSettings):\n    API_PREFIX: str = '/api'\nsettings = Settings()\n",
        "svc/main.py": "from fastapi import FastAPI\nfrom svc.config import settings\n"
                       "from svc.api import router as api\napp = FastAPI()\n"
                       "app.include_router(api, prefix=f'{settings.API_PREFIX}/v2')\n"
                       "@app.get('/healthz')\ndef healthz(): ...\n",
        "svc/api/__init__.py": "from fastapi import APIRouter\nfrom .routes import items\nrouter = APIRouter()\n"
                               "router.include_router(items.router, prefix='/items')\n",
        "svc/api/routes/__init__.py": "",
        "svc/api/routes/items.py": "from fastapi import APIRouter\nrouter = APIRouter(prefix='/shop')\n"
                                   "@router.get('/')\ndef items(): ...\n",
    })
    assert run_harness("init", str(tmp_path)).returncode == 0
    written = tomllib.loads((tmp_path / "ladder.toml").read_text())
    assert written["start"]["health"] == "/healthz"  # the app's own route as written
    assert [r["path"] for r in written["load"]["requests"]] == ["/api/v2/items/shop/"]


# shapes public projects showed (docs/service.md, "Tried on public projects")
FACTORY = {  # an app factory, alembic.ini beside the code, scripts in a package, settings from a committed .env
    "pyproject.toml": '[project]\nname = "svc"\ndependencies = ["sqlalchemy[asyncio]", "asyncpg", "psycopg2-binary"]\n',
    ".env": "# the project's own\nPROJECT_NAME=svc\nexport ADMIN_EMAIL=admin@example.com\n",
    "src/__init__.py": "",
    "src/alembic.ini": "[alembic]\nscript_location = migrations\n",
    "src/app/__init__.py": "",
    "src/app/setup.py": "from fastapi import FastAPI\ndef create_application():\n"
                        "    application = FastAPI()\n    return application\n",
    "src/app/main.py": "import os\nfrom .setup import create_application\nos.environ['MODE'] = 'served'\n"
                       "app = create_application()\n",
    "src/app/config.py": "from pydantic import PostgresDsn\n"
                         "from pydantic_settings import BaseSettings, SettingsConfigDict\n"
                         "class Settings(BaseSettings):\n    model_config = SettingsConfigDict(env_file='.env')\n"
                         "    DATABASE_URL: PostgresDsn\n    DATABASE_ASYNC_URL: PostgresDsn\n"
                         "    PROJECT_NAME: str\n    ADMIN_EMAIL: str\n",
    "src/app/db.py": "from sqlalchemy.ext.asyncio import create_async_engine\n"
                     "from .config import Settings\nengine = create_async_engine(str(Settings().DATABASE_ASYNC_URL))\n",
    "src/scripts/__init__.py": "",
    "src/scripts/create_first_user.py": "from ..app.config import Settings\n",
}
RAW_ASYNCPG = {  # asyncpg called directly; a URL made from its parts by default
    "pyproject.toml": '[project]\nname = "raw"\ndependencies = ["asyncpg"]\n',
    "raw/__init__.py": "",
    "raw/main.py": "import asyncpg\nfrom fastapi import FastAPI\nfrom raw.config import settings\n"
                   "app = FastAPI(openapi_url=f'{settings.API}/openapi.json')\n"
                   "async def pool():\n    return await asyncpg.create_pool(settings.DSN or settings.POSTGRES_URI)\n"
                   # signing in and up with JSON bodies embedded under a key (the RealWorld API's shape)
                   "class UserWithToken(BaseModel):\n    email: str\n    token: str\n"
                   "class UserInResponse(BaseModel):\n    user: UserWithToken\n"
                   "@app.post('/api/users/login', response_model=UserInResponse)\n"
                   "async def login(user_login: UserInLogin = Body(..., embed=True, alias='user')): ...\n"
                   "@app.post('/api/users')\n"
                   "async def register(user_create: UserInCreate = Body(..., embed=True, alias='user')): ...\n",
    "raw/config.py": "from pydantic_settings import BaseSettings\nclass Settings(BaseSettings):\n"
                     "    API: str = '/api'\n    jwt_token_prefix: str = 'Token'\n"
                     "    POSTGRES_SERVER: str = 'localhost'\n    POSTGRES_USER: str = 'u'\n"
                     "    POSTGRES_URI: str = f'{POSTGRES_USER}@{POSTGRES_SERVER}'\n    DB_DSN: str\n"
                     "settings = Settings()\n",
}
MYSQL = {"pyproject.toml": '[project]\nname = "m"\ndependencies = ["sqlalchemy", "aiomysql"]\n',
         "main.py": "from fastapi import FastAPI\napp = FastAPI()\n"}


def test_init_on_the_shapes_public_projects_showed(tmp_path: Path) -> None:
    from harness.service.init import render, survey

    def written(name: str, tree: dict[str, str]) -> tuple[dict, str]:
        _write(tmp_path / name, tree)
        subprocess.run(["git", "init", "-q", str(tmp_path / name)], check=True)
        subprocess.run(["git", "-C", str(tmp_path / name), "add", "-A"], check=True)
        text = render(survey(tmp_path / name), tmp_path / name)
        return tomllib.loads(text), text

    factory, text = written("factory", FACTORY)
    assert factory["start"]["app"] == "src.app.main:app"  # what the factory made, not the factory's local
    assert factory["database"]["setup"] == ["cd src && alembic upgrade head",  # alembic.ini's paths are from src
                                            "python -m src.scripts.create_first_user"]
    assert factory["env"]["DATABASE_ASYNC_URL"] == "{db.url:postgresql+asyncpg}"  # the engine's
    assert factory["env"]["DATABASE_URL"] == "{db.url:postgresql+psycopg2}"  # the sync tools'
    assert "MODE" not in text  # written by the code, not read
    assert "# given by .env (committed, so in every variant), not set here: ADMIN_EMAIL, PROJECT_NAME" in text
    assert "CHECK: required" not in text

    raw, text = written("raw", RAW_ASYNCPG)
    assert raw["load"]["sign_in"]["path"] == "/api/users/login" and "form" not in raw["load"]["sign_in"]
    assert raw["load"]["sign_in"]["json"] == {"user": {"email": "user{account}@example.com",
                                                       "password": "pw-{account}-long-enough"}}
    assert raw["load"]["sign_up"]["path"] == "/api/users" and "user" in raw["load"]["sign_up"]["json"]
    # the token's place from the answer's model, the header's scheme from the settings' token prefix
    assert raw["load"]["sign_in"]["token"] == "user.token" and raw["load"]["sign_in"]["scheme"] == "Token"
    assert raw["start"]["health"] == "/api/openapi.json"  # no health route: the app's own schema path
    assert factory["start"]["health"] == "/openapi.json"  # FastAPI's, not given
    assert raw["env"]["DB_DSN"] == "{db.url}"  # asyncpg takes no driver in its scheme
    assert raw["env"]["POSTGRES_SERVER"] == "{db.host}" and "POSTGRES_URI" not in raw["env"]  # made from the parts

    _, text = written("mysql", MYSQL)
    assert "CHECK: the dependencies name aiomysql and no PostgreSQL driver" in text
