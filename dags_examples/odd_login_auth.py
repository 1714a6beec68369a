"""Classes of your own for `custom_grant.py`: a vendor's login that no built-in grant speaks, and a request signer.

The connection names them by dotted path, `grant_class` and `auth_class`, so this module must be importable
wherever the connection is used: the workers, the triggerer and the API server (the Test button). In a
deployment, ship it in a package installed beside the provider; the demo and the tests put the repository root
on the Python path, so here it is `dags_examples.odd_login_auth.OddLoginGrant`.

The vendor (`tests/emulators/odd_login.py` plays it): `POST /session` with `<login><user>..</user><pin>..</pin>
</login>` answers 201, the session ticket in the `X-Session-Ticket` header and `<session><lifetime>600</lifetime>
<renewal>..</renewal></session>`; `POST /session/renew` with the renewal in `X-Renewal` answers the same shape,
and each renewal works once. Calls take the ticket as `Authorization: Bearer`; some also want an HMAC-SHA256
signature of method, path and body hash in `X-Key-Id` and `X-Signature`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Generator, Mapping
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import httpx

from airflow_provider_authapi.auth import CustomGrant, Token

XML = {"Content-Type": "application/xml"}


class OddLoginGrant(CustomGrant):
    """The XML session login, renewed with its rotating renewal token.

    `fetch` logs in with the connection's login (the user) and password (the PIN); `refresh` presents the
    renewal. Both return the answer shaped like an OAuth 2.0 token response; the provider does the rest: the
    shared cache, renewal ahead of expiry (one process presents a renewal), the `Authorization: Bearer` header,
    retries of 429 and 5xx, masking. A refused renewal (401) makes the provider log in again. Sync is enough: in
    the triggerer these run in a thread (implement `afetch` and `arefresh` to run on its event loop instead).
    """

    def fetch(self, client: httpx.Client, config: Mapping[str, Any]) -> dict[str, Any]:
        body = f"<login><user>{escape(config['login'])}</user><pin>{escape(config['password'])}</pin></login>"
        response = client.post("/session", content=body, headers=XML)
        response.raise_for_status()
        return session_answer(response)

    def refresh(self, client: httpx.Client, config: Mapping[str, Any], token: Token) -> dict[str, Any] | None:
        response = client.post("/session/renew", headers={"X-Renewal": token.refresh_token or ""})
        response.raise_for_status()
        return session_answer(response)


def session_answer(response: httpx.Response) -> dict[str, Any]:
    """The ticket from its header, its lifetime and the next renewal from the XML body (one with a DTD refused:
    its entities would expand)."""
    if "<!DOCTYPE" in response.text:
        raise ValueError("the session answer declares a DTD; refused")
    session = ElementTree.fromstring(response.text)  # noqa: S314 (no DTD: nothing to expand)
    return {
        "access_token": response.headers["X-Session-Ticket"],
        "expires_in": int(session.findtext("lifetime") or 0) or None,  # None: the connection's default lifetime
        "refresh_token": session.findtext("renewal"),
    }


class HmacSigner(httpx.Auth):
    """Signs every request, after the provider has put the ticket on it: `X-Key-Id` and `X-Signature`, the hex
    HMAC-SHA256 of `METHOD\\npath\\nsha256(body)` under the key. Built with the connection's settings: the
    extras `signing_key_id` and `signing_secret` (named like a secret, so masked in logs and scrubbed from
    errors)."""

    requires_request_body = True  # the body is hashed: httpx reads it before auth_flow

    def __init__(self, config: Mapping[str, Any]) -> None:
        missing = [name for name in ("signing_key_id", "signing_secret") if not config.get(name)]
        if missing:
            raise ValueError(f"set the connection's extra {' and '.join(missing)}")
        self.key_id, self.secret = str(config["signing_key_id"]), str(config["signing_secret"])

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        body_hash = hashlib.sha256(request.content).hexdigest()
        message = f"{request.method}\n{request.url.path}\n{body_hash}".encode()
        request.headers["X-Key-Id"] = self.key_id
        request.headers["X-Signature"] = hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
        yield request
