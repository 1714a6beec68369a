"""`airflow authapi ...` commands. They print token state and API answers, never a token or a secret."""

from __future__ import annotations

import hmac
import json
import sys
import threading
import time
from argparse import Namespace
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_authapi import consent
from airflow_provider_authapi.auth.config import config_secrets
from airflow_provider_authapi.auth.errors import AuthApiError, credential_values, redact_text, safe_url, scrub
from airflow_provider_authapi.consent import (
    ConsentError,
    PendingConsent,
    begin,
    complete,
    hook_for,
    token_hook,
    token_statuses,
)
from airflow_provider_authapi.maintenance import clear_and_revoke, keep_warm, refresh_connection
from airflow_provider_authapi.plugins.pages import when


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def _print_status(statuses: list[dict[str, Any]], as_json: bool) -> None:
    """Token states as JSON, or one block per connection; never a token."""
    if as_json:
        print(json.dumps(statuses, indent=2))
        return
    for status in statuses:
        print(f"{status['conn_id']} ({status.get('conn_type') or 'unknown type'})")
        if status.get("error"):
            print(f"  state: error: {status['error']}")
            continue
        print(f"  state: {status.get('state', consent.token_state(status))}")
        if status.get("stored"):
            print(f"  valid until: {when(status.get('expires_at')) or 'no expiry given'}")
            print(f"  last refresh: {when(status.get('obtained_at'))}")
            print(f"  refresh token: {'yes' if status.get('has_refresh_token') else 'no'}")
            if status.get("refresh_expires_at"):
                print(f"  refresh token valid until: {when(status['refresh_expires_at'])}")
            if status.get("scope"):
                print(f"  scope: {status['scope']}")
            for key, value in (status.get("extra") or {}).items():
                print(f"  {key}: {value}")
        if status.get("consent"):
            print(f"  consent: authorization code grant (airflow authapi authorize {status['conn_id']})")


# -- authorize ------------------------------------------------------------------------------------------------------


def authorize(args: Namespace) -> None:
    """Print the consent URL, take the redirected URL (pasted or received on --listen) and store the tokens."""
    try:
        hook = hook_for(args.conn_id)
        local_redirect = f"http://127.0.0.1:{args.listen}/callback" if args.listen else None
        url, pending = begin(hook, redirect_uri=local_redirect)
    except AuthApiError as exc:
        _fail(str(exc))
    except Exception as exc:
        _fail(f"connection {args.conn_id!r} cannot be used: {type(exc).__name__}: {exc}")
    if args.listen and not pending.redirect_uri.startswith((f"http://127.0.0.1:{args.listen}/", "http://localhost:")):
        print(f"warning: the connection's redirect_uri {pending.redirect_uri} is not on port {args.listen}")
    print("Open this URL in a browser and approve the access:", flush=True)
    print(url, flush=True)
    if args.listen:
        query = _receive_redirect(args.listen, args.timeout)
    else:
        print("Then paste the full URL your browser was redirected to and press Enter:", flush=True)
        query = _query_of(sys.stdin.readline())
    try:
        code = _check_redirect(query, pending)
        complete(hook, pending, code, realm_id=query.get("realmId"), callback=query)
    except ConsentError as exc:
        _fail(str(exc))
    print(f"Connection {args.conn_id!r} is authorized. Stored token:")
    _print_status([_status_of(args.conn_id)], as_json=False)


def _query_of(redirected_url: str) -> dict[str, str]:
    parts = urlsplit(redirected_url.strip())
    return {key: values[-1] for key, values in parse_qs(parts.query).items()}


def _check_redirect(query: dict[str, str], pending: PendingConsent) -> str:
    if not hmac.compare_digest(query.get("state", ""), pending.state):
        raise ConsentError("state", "the redirected URL carries another or no state; start again")
    if time.time() > pending.expires_at:
        raise ConsentError("expired", "the authorization request expired; start again")
    if query.get("error"):
        detail = f" ({query['error_description']})" if query.get("error_description") else ""
        raise ConsentError(query["error"], f"the API did not grant access: {query['error']}{detail}")
    if not query.get("code"):
        raise ConsentError("code", "the redirected URL carries no authorization code")
    return query["code"]


def _receive_redirect(port: int, timeout: float) -> dict[str, str]:
    """Serve http://127.0.0.1:PORT until one request carrying `state` arrives; return its query."""
    received: dict[str, str] = {}
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            query = _query_of(self.path)
            if "state" not in query:
                self.send_response(404)
                self.end_headers()
                return
            received.update(query)
            ok = "code" in query and "error" not in query
            body = (
                "Authorization received; you can close this window and return to the terminal."
                if ok
                else "Authorization was not granted; see the terminal."
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            done.set()

    server = HTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"Waiting up to {timeout:.0f} s for the redirect on http://127.0.0.1:{port}/ ...", flush=True)
    try:
        if not done.wait(timeout):
            _fail(f"no redirect arrived on port {port} within {timeout:.0f} s")
    finally:
        server.shutdown()
        server.server_close()
    return received


# -- token ----------------------------------------------------------------------------------------------------------


def token_status(args: Namespace) -> None:
    """Every token-caching connection's token state, or one connection's; exit 1 when one could not be read."""
    if args.conn_id:
        try:
            statuses = [consent.token_status(token_hook(args.conn_id))]
        except AuthApiError as exc:
            _fail(str(exc))
    else:
        statuses = token_statuses()
    _print_status(statuses, args.json)
    if not statuses and not args.json:
        print("No connection of a token-caching type is defined.")
    errors = [status for status in statuses if status.get("error")]
    for status in errors:
        print(f"error: {status['conn_id']}: {status['error']}", file=sys.stderr)
    if errors:
        raise SystemExit(1)


def _status_of(conn_id: str) -> dict[str, Any]:
    return consent.token_status(token_hook(conn_id))


def token_clear(args: Namespace) -> None:
    """Revoke the stored tokens (revocation_url), then delete them; exit 1 when the API did not confirm."""
    try:
        cleared = clear_and_revoke(args.conn_id)
    except AuthApiError as exc:
        _fail(str(exc))
    for line in cleared.lines():
        print(line)
    if cleared.refused:
        raise SystemExit(1)


def token_refresh(args: Namespace) -> None:
    """Refresh one connection's token now, or keep refresh tokens alive: one line per connection, exit 1 on a
    failure. The token manager's path, as in tasks."""
    if bool(args.conn_id) == bool(args.all):
        _fail("give a connection id or --all (not both)")
    within = args.expiring_within
    if args.conn_id:
        try:
            token_hook(args.conn_id)  # an unknown connection, or one that caches no token: an error, named
        except AuthApiError as exc:
            _fail(str(exc))
        # Without --expiring-within: refresh now, whatever is stored (a first token too), as the page's Refresh.
        results = [refresh_connection(args.conn_id, within=within, any_token=within is None)]
    else:
        results = keep_warm(within=within)
    if args.json:
        print(json.dumps([result.as_dict() for result in results], indent=2))
    else:
        for result in results:
            print(result)
        if args.conn_id and results[0].outcome == "refreshed":
            _print_status([_status_of(args.conn_id)], as_json=False)
        if not results:
            print("No connection has a stored token.")
    failed = [result for result in results if result.outcome == "failed"]
    for result in failed:
        print(f"error: {result}", file=sys.stderr)
    if failed:
        raise SystemExit(1)


# -- call, test -----------------------------------------------------------------------------------------------------

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
TEXT_CHARS = 4000  # a body that is not JSON is shown up to this many characters


def call(args: Namespace) -> None:
    """One authenticated request through the connection (its token cache included): the status line, then the
    body, pretty JSON when it is JSON, with every secret scrubbed. Exit 1 unless the API answered 2xx."""
    method, path = _method_and_path(args.request)
    kwargs: dict[str, Any] = {"params": _query(args.query)}
    if args.json is not None:
        try:
            kwargs["json"] = json.loads(args.json)
        except ValueError as exc:
            _fail(f"--json is not JSON: {exc}")
    hook = _hook(args.conn_id)
    secrets = _secrets_of(hook)
    try:
        response = hook.request(method, path, **kwargs)
    except AuthApiError as exc:
        _fail(scrub(str(exc), [*secrets, *_secrets_of(hook)]))
    secrets = [*secrets, *_secrets_of(hook), *credential_values(response.request)]
    print(f"{method} {safe_url(response.request.url)} -> {response.status_code} {response.reason_phrase}")
    body = _pretty(response)
    if body:
        print(redact_text(scrub(body, secrets)))
    if not response.is_success:
        raise SystemExit(1)


def test(args: Namespace) -> None:
    """The connection's Test (the UI's Test button's check, our own message); exit 1 when it fails."""
    hook = _hook(args.conn_id)
    ok, message = hook.test_connection()
    print(f"{'OK' if ok else 'FAILED'}: {message}")
    if not ok:
        raise SystemExit(1)


def _hook(conn_id: str) -> Any:
    """The connection's hook, its connection read server-side (metadata DB, env vars, secrets backends).

    `AuthApiHook(conn_id)` alone reads it the Task SDK's way, which outside a task does not look in the
    metadata DB: a connection saved in the UI would be "not defined" there."""
    try:
        hook = hook_for(conn_id)
        hook.config  # noqa: B018 - a connection that cannot be mapped: its field named now, not mid-request
    except AuthApiError as exc:
        _fail(str(exc))
    except Exception as exc:
        _fail(f"connection {conn_id!r} cannot be used: {type(exc).__name__}: {exc}")
    return hook


def _secrets_of(hook: Any) -> list[str]:
    """The connection's secrets and the tokens this process holds for it (to scrub from what is printed)."""
    secrets = list(config_secrets(hook.config))
    token = hook.token_manager.cached_token if hook.token_manager is not None else None
    if token is not None:
        secrets += [value for value in (token.access_token, token.refresh_token) if value]
    return secrets


def _method_and_path(words: list[str]) -> tuple[str, str]:
    if len(words) == 1:
        return "GET", words[0]
    if len(words) == 2 and words[0].upper() in METHODS:
        return words[0].upper(), words[1]
    _fail(f"give [METHOD] PATH, METHOD one of {', '.join(METHODS)}; got {' '.join(words)!r}")
    raise AssertionError  # unreachable: _fail exits


def _query(pairs: list[str] | None) -> list[tuple[str, str]]:
    query = []
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name:
            _fail(f"--query takes NAME=VALUE, got {pair!r}")
        query.append((name, value))
    return query


def _pretty(response: Any) -> str:
    """The body as indented JSON when it is JSON, else its text (cut at `TEXT_CHARS`)."""
    try:
        return json.dumps(response.json(), indent=2, ensure_ascii=False)
    except ValueError:
        text = response.text
        more = len(text) - TEXT_CHARS
        return text[:TEXT_CHARS] + (f"\n... ({more} more characters)" if more > 0 else "")
