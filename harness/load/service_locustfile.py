"""A service's load from its service file: users sign in once, then send its weighted requests.

The harness writes the service file's [load] as JSON and names it in LADDER_SERVICE_LOAD; this
file turns it into one locust user class. The mix is the ladder's: shuffled rounds that hold every
request exactly as often as its weight, from each user's own seeded generator (harness/load/mix.py),
so every variant is sent the same sequence. The samples, the sign-in signal and the open model are
harness/load/recorder.py's, as for the ladder.

Placeholders in a path or a body's strings: {account} (the account this user signed in as, 1 to
`accounts` in turn), {seq} (this user's running count of requests), {random:LO-HI} (an integer
from the user's own generator).
"""

import json
import os
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from locust import FastHttpUser, task

from harness.load.mix import Schedule
from harness.load.recorder import CeilingUser, arrivals, open_model, sign_in, use_mix, user_numbers
from harness.load.shape import REQUEST_TIMEOUT_SECONDS

SPEC: dict[str, Any] = json.loads(Path(os.environ["LADDER_SERVICE_LOAD"]).read_text()) \
    if os.environ.get("LADDER_SERVICE_LOAD") else {"requests": [], "sign_in": None}
REQUESTS = {r["label"]: r for r in SPEC["requests"]}
use_mix({label: r["weight"] for label, r in REQUESTS.items()})
PLACEHOLDER = re.compile(r"\{(account|seq|random:(\d+)-(\d+))\}")
__all__ = ["CeilingUser", "ServiceUser"]  # locust takes every user class it finds here


def token_at(answer: Any, path: str) -> str | None:
    """The value at a dotted path of a JSON answer (`data.token`), or None."""
    for key in path.split("."):
        if not isinstance(answer, dict) or key not in answer:
            return None
        answer = answer[key]
    return answer if isinstance(answer, str) else None


class ServiceUser(FastHttpUser):
    """A user of the service: signs in (when the file says how), then follows the weighted requests."""

    abstract = os.environ.get("LADDER_MIX", "service") != "service"
    network_timeout = REQUEST_TIMEOUT_SECONDS

    def on_start(self) -> None:
        worker = getattr(self.environment.runner, "worker_index", 0)
        number = next(user_numbers)
        self.rng = random.Random(number if worker <= 0 else f"w{worker}:{number}")
        accounts = (SPEC.get("sign_in") or {}).get("accounts", 1)
        self.account = number % accounts + 1
        self.seq = 0
        self.headers: dict[str, str] = {}
        self.schedule = Schedule(self.rng, {label: r["weight"] for label, r in REQUESTS.items()})
        try:
            if SPEC.get("sign_in"):
                self.sign_in(SPEC["sign_in"])
        finally:
            sign_in.user_done()

    def fill(self, value: Any) -> Any:
        """A path or body with its placeholders filled for this user and request."""
        if isinstance(value, str):
            def one(m: re.Match[str]) -> str:
                if m.group(1) == "account":
                    return str(self.account)
                if m.group(1) == "seq":
                    return str(self.seq)
                return str(self.rng.randint(int(m.group(2)), int(m.group(3))))
            return PLACEHOLDER.sub(one, value)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value

    def send(self, spec: dict[str, Any], name: str, headers: dict[str, str]) -> Any:
        self.seq += 1
        kwargs: dict[str, Any] = {"headers": headers, "name": name}
        if spec.get("json") is not None:
            kwargs["json"] = self.fill(spec["json"])
        elif spec.get("form") is not None:  # an HTML form's (OAuth2's password flow signs in so)
            kwargs["data"] = urlencode(self.fill(spec["form"]))
            kwargs["headers"] = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        return self.client.request(spec["method"], self.fill(spec["path"]), **kwargs)

    def sign_in(self, spec: dict[str, Any]) -> None:
        answer = self.send(spec, "(sign-in)", {})
        token = None
        if answer.status_code == 200:
            try:
                token = token_at(answer.json(), spec["token"])
            except ValueError:
                token = None
        if token:
            self.headers = {spec["header"]: f"{spec['scheme']} {token}".strip()}

    @task
    def next_action(self) -> None:
        if arrivals is None:
            self.act(self.schedule.next())
        else:
            open_model(self.act)

    def act(self, label: str) -> None:
        self.send(REQUESTS[label], label, self.headers)
