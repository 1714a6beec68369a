"""The `airflow authapi` command group, loaded through the provider info's `cli` key."""

from __future__ import annotations

from argparse import ArgumentTypeError
from datetime import timedelta

from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

_COMMANDS = "airflow_provider_authapi.cli.commands"


def _duration(text: str) -> timedelta:
    """argparse type of --expiring-within: `30d`, `12h`, `90m`."""
    from airflow_provider_authapi.maintenance import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ArgumentTypeError(str(exc)) from None


ARG_CONSENT_CONN_ID = Arg(("conn_id",), help="Connection id (OAuth 2.0, authorization code grant)")
ARG_CONN_ID = Arg(("conn_id",), help="Connection id (any type whose scheme obtains tokens: OAuth 2.0, token login)")
ARG_OPTIONAL_CONN_ID = Arg(
    ("conn_id",), nargs="?", default=None, help="Connection id; every token-caching connection if omitted"
)
ARG_LISTEN = Arg(
    ("--listen",),
    type=int,
    metavar="PORT",
    help="Receive the redirect on http://127.0.0.1:PORT instead of reading the pasted URL from stdin",
)
ARG_TIMEOUT = Arg(("--timeout",), type=float, default=600.0, help="Seconds to wait for the redirect (default 600)")
ARG_JSON = Arg(("--json",), action="store_true", help="Print JSON")
ARG_REFRESH_CONN_ID = Arg(("conn_id",), nargs="?", default=None, help="Connection id (or --all)")
ARG_ALL = Arg(("--all",), action="store_true", help="Every connection with a stored refresh token")
ARG_EXPIRING_WITHIN = Arg(
    ("--expiring-within",),
    type=_duration,
    metavar="DURATION",
    help="Only refresh tokens whose refresh token expires within DURATION (30d, 12h, 90m)",
)

TOKEN_COMMANDS = (
    ActionCommand(
        name="status",
        help="Show the stored token state (expiry, refresh token, last refresh; never a secret); exit 1 on error",
        func=lazy_load_command(f"{_COMMANDS}.token_status"),
        args=(ARG_OPTIONAL_CONN_ID, ARG_JSON),
    ),
    ActionCommand(
        name="clear",
        help="Revoke a connection's stored tokens at its revocation_url (RFC 7009), then delete them; exit 1 when "
        "the API did not confirm the revocation (the stored copy is deleted all the same)",
        func=lazy_load_command(f"{_COMMANDS}.token_clear"),
        args=(ARG_CONN_ID,),
    ),
    ActionCommand(
        name="refresh",
        help="Obtain a new access token now (by the refresh token or the connection's grant) and store it; with "
        "--all or --expiring-within, keep refresh tokens alive. One line per connection; exit 1 if one failed",
        description=(
            "<conn_id> alone refreshes that connection now. --all refreshes every connection with a stored refresh "
            "token; --expiring-within DURATION only those whose refresh token expires within DURATION (as the API "
            "said: x_refresh_token_expires_in, refresh_token_expires_in, refresh_expires_in)."
        ),
        func=lazy_load_command(f"{_COMMANDS}.token_refresh"),
        args=(ARG_REFRESH_CONN_ID, ARG_ALL, ARG_EXPIRING_WITHIN, ARG_JSON),
    ),
)

ARG_ANY_CONN_ID = Arg(("conn_id",), help="Connection id (any authapi_* type)")
ARG_REQUEST = Arg(
    ("request",), nargs="+", metavar="[METHOD] PATH", help="HTTP method (default GET) and path, e.g. /v1/me"
)
ARG_QUERY = Arg(("--query",), action="append", metavar="NAME=VALUE", help="A query parameter (repeatable)")
ARG_JSON_BODY = Arg(("--json",), metavar="BODY", help='A JSON request body, e.g. \'{"name": "x"}\'')

AUTHAPI_COMMANDS = (
    ActionCommand(
        name="call",
        help="Send one authenticated request through a connection (its token cache included) and print the status "
        "and the body (pretty JSON, secrets scrubbed); exit 1 unless the API answered 2xx",
        func=lazy_load_command(f"{_COMMANDS}.call"),
        args=(ARG_ANY_CONN_ID, ARG_REQUEST, ARG_QUERY, ARG_JSON_BODY),
    ),
    ActionCommand(
        name="test",
        help="Test a connection as the UI's Test button does and print its message; exit 1 when the test fails",
        func=lazy_load_command(f"{_COMMANDS}.test"),
        args=(ARG_ANY_CONN_ID,),
    ),
    ActionCommand(
        name="authorize",
        help="Consent in a browser (authorization code grant with PKCE) and store the tokens",
        description=(
            "Prints the authorization URL. Open it, approve, then paste the URL the browser was redirected to "
            "(or use --listen PORT with a redirect URI on http://127.0.0.1:PORT)."
        ),
        func=lazy_load_command(f"{_COMMANDS}.authorize"),
        args=(ARG_CONSENT_CONN_ID, ARG_LISTEN, ARG_TIMEOUT),
    ),
    GroupCommand(name="token", help="Inspect, refresh or clear stored tokens", subcommands=TOKEN_COMMANDS),
)


def get_authapi_cli_commands() -> list[GroupCommand]:
    """The provider info's `cli` entry: Airflow adds these to its command tree."""
    return [
        GroupCommand(
            name="authapi",
            help="Authenticated REST API connections: browser consent and the token cache",
            subcommands=AUTHAPI_COMMANDS,
        )
    ]
