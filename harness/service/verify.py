"""A service's variants answer the same, checked before any timing, as `harness verify` checks
the ladder's stages: the health path, the sign-in, every [[verify]] request (its status and its
answer, less the fields it says may differ), then every request of the load once (its status). The
first variant's transcript is the reference; any other that differs, and any answer of 500 or
more, fails its variant before it is timed.
"""

from __future__ import annotations

import contextlib
import random
import re
from typing import Any

import httpx

from harness.service.service_file import Body, ServiceFile, SignIn
from harness.verify.script import Transcript

PLACEHOLDER = re.compile(r"\{(account|seq|random:(\d+)-(\d+))\}")


def _filled(value: Any, rng: random.Random, seq: int, account: int = 1) -> Any:
    """A request's strings with its placeholders filled: {account} (verify signs in as account 1),
    {seq}, {random:LO-HI}."""
    if isinstance(value, str):
        def one(m: re.Match[str]) -> str:
            if m.group(1) == "account":
                return str(account)
            if m.group(1) == "seq":
                return str(seq)
            return str(rng.randint(int(m.group(2)), int(m.group(3))))
        return PLACEHOLDER.sub(one, value)
    if isinstance(value, dict):
        return {k: _filled(v, rng, seq, account) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, rng, seq, account) for v in value]
    return value


def request_of(body: Body, rng: random.Random, seq: int, account: int = 1) -> tuple[str, dict[str, Any]]:
    """A request's path and httpx's keywords for its JSON or form body, placeholders filled."""
    kwargs: dict[str, Any] = {}
    if body.json_body is not None:
        kwargs["json"] = _filled(body.json_body, rng, seq, account)
    elif body.form is not None:
        kwargs["data"] = _filled(body.form, rng, seq, account)
    return _filled(body.path, rng, seq, account), kwargs


def without(value: Any, ignored: set[str]) -> Any:
    """The answer with every ignored field removed, at any depth."""
    if isinstance(value, dict):
        return {k: without(v, ignored) for k, v in value.items() if k not in ignored}
    if isinstance(value, list):
        return [without(v, ignored) for v in value]
    return value


class ServiceScript:
    """The requests every variant must answer alike, sent to one variant."""

    def __init__(self, client: httpx.Client, service: ServiceFile) -> None:
        self.client, self.service = client, service
        self.rng = random.Random("verify")  # the same {random:…} values for every variant
        self.seq = 0
        self.headers: dict[str, str] = {}

    def send(self, body: Body, headers: dict[str, str]) -> httpx.Response:
        self.seq += 1
        path, kwargs = request_of(body, self.rng, self.seq)
        # a connection of its own for each: a server may close one after an error it could not handle
        return self.client.request(body.method, path, headers={**headers, "connection": "close"}, **kwargs)

    def run(self, variant: str) -> Transcript:
        out = Transcript(variant)

        def step(name: str, answer: httpx.Response, body: Any = None, compared: bool = True) -> None:
            # an answer that is not compared (a write's, whose ids may differ) keeps its status only
            out.steps.append({"step": name, "status": answer.status_code, "body": body if compared else None})
            if answer.status_code >= 500:
                out.problems.append(f"{name}: answered {answer.status_code} {answer.text[:160]}")

        health = self.client.get(self.service.start.health)
        step(f"GET {self.service.start.health}", health, compared=False)
        if (sign_in := self.service.load.sign_in) is not None:
            self.sign_in(sign_in, out)
        for request in self.service.verify:
            answer = self.send(request, self.headers if request.signed_in else {})
            try:
                parsed: Any = answer.json() if answer.content else None
            except ValueError:
                parsed = answer.text[:500]
            step(request.label(), answer, without(parsed, set(request.ignore)))
        for sent in self.service.load.requests:
            step(f"load: {sent.label()}", self.send(sent, self.headers), compared=False)
        return out

    def sign_in(self, spec: SignIn, out: Transcript) -> None:
        answer = self.send(spec, {})
        token = None
        with contextlib.suppress(ValueError):  # an answer that is not JSON has no token
            token = _at(answer.json(), spec.token)
        out.steps.append({"step": "sign-in", "status": answer.status_code, "body": {"token": token is not None}})
        if token is None:
            out.problems.append(f"sign-in: {spec.method} {spec.path} answered {answer.status_code} without a token "
                                f"at '{spec.token}': {answer.text[:160]}")
            return
        self.headers = {spec.header: f"{spec.scheme} {token}".strip()}


def _at(answer: Any, path: str) -> str | None:
    for key in path.split("."):
        if not isinstance(answer, dict) or key not in answer:
            return None
        answer = answer[key]
    return answer if isinstance(answer, str) else None
