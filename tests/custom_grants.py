"""Classes a user of the provider would write: grants of their own and a request signer, importable by dotted path
(`tests.custom_grants.OddLoginGrant`) in tests, task processes and the triggerer alike. They speak
`tests.emulators.odd_login.OddLoginServer`.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Generator, Mapping
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import httpx

from airflow_provider_authapi.auth import CustomGrant, Token

XML = {"Content-Type": "application/xml"}


def session_answer(response: httpx.Response) -> dict[str, Any]:
    """The login's answer as an OAuth-shaped dict: the ticket from its header, lifetime and renewal from the XML."""
    root = ElementTree.fromstring(response.text)
    return {
        "access_token": response.headers["X-Session-Ticket"],
        "expires_in": int(root.findtext("lifetime")),
        "refresh_token": root.findtext("renewal"),
    }


def login_body(config: Mapping[str, Any]) -> str:
    """The XML login: the connection's login as the user, its password as the PIN."""
    return f"<login><user>{escape(config['login'])}</user><pin>{escape(config['password'])}</pin></login>"


class OddLoginGrant(CustomGrant):
    """The XML session login, renewed by its rotating renewal token: sync only (async runs it in a thread)."""

    clients: list[type] = []  # the class of each client the provider handed in (tests)
    lock = threading.Lock()

    def fetch(self, client: httpx.Client, config: Mapping[str, Any]) -> dict[str, Any]:
        self._saw(client)
        response = client.post("/session", content=login_body(config), headers=XML)
        response.raise_for_status()
        return session_answer(response)

    def refresh(self, client: httpx.Client, config: Mapping[str, Any], token: Token) -> dict[str, Any] | None:
        self._saw(client)
        response = client.post("/session/renew", headers={"X-Renewal": token.refresh_token or ""})
        if response.status_code == 401:
            return None  # the renewal is dead: the provider logs in again
        response.raise_for_status()
        return session_answer(response)

    def _saw(self, client: Any) -> None:
        with self.lock:
            self.clients.append(type(client))


class AsyncOddLoginGrant(OddLoginGrant):
    """The same login with async methods of its own, for the triggerer's event loop."""

    async def afetch(self, client: httpx.AsyncClient, config: Mapping[str, Any]) -> dict[str, Any]:
        self._saw(client)
        response = await client.post("/session", content=login_body(config), headers=XML)
        response.raise_for_status()
        return session_answer(response)

    async def arefresh(self, client: httpx.AsyncClient, config: Mapping[str, Any], token: Token) -> dict | None:
        self._saw(client)
        response = await client.post("/session/renew", headers={"X-Renewal": token.refresh_token or ""})
        if response.status_code == 401:
            return None
        response.raise_for_status()
        return session_answer(response)


class LoginOnlyGrant(CustomGrant):
    """No `refresh`: every renewal is a login; returns a `Token` it builds itself."""

    def fetch(self, client: httpx.Client, config: Mapping[str, Any]) -> Token:
        response = client.post("/session", content=login_body(config), headers=XML)
        response.raise_for_status()
        answer = session_answer(response)
        return Token.from_lifetime(answer["access_token"], expires_in=answer["expires_in"])


class LeakyGrant(CustomGrant):
    """A grant whose own error quotes the PIN: the provider must not repeat it."""

    def fetch(self, client: httpx.Client, config: Mapping[str, Any]) -> dict[str, Any]:
        raise ValueError(f"vendor SDK refused PIN {config['password']}")


class NotAGrant:
    """Has a `fetch`, but is no `CustomGrant`."""

    def fetch(self, client: httpx.Client, config: Mapping[str, Any]) -> dict[str, Any]:
        return {"access_token": "never"}


class NoFetchGrant(CustomGrant):
    """A subclass that forgot `fetch`."""


def signature(secret: str, request: httpx.Request) -> str:
    body_hash = hashlib.sha256(request.content).hexdigest()
    message = f"{request.method}\n{request.url.path}\n{body_hash}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class HmacSigner(httpx.Auth):
    """Signs each request with the connection's `signing_key_id` and `signing_secret` (HMAC-SHA256 of method,
    path and body hash), as a vendor's SigV4-like scheme would."""

    requires_request_body = True

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.key_id, self.secret = config["signing_key_id"], config["signing_secret"]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Key-Id"] = self.key_id
        request.headers["X-Signature"] = signature(self.secret, request)
        yield request
