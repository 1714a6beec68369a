"""The `airflow authapi` command group, loaded through the provider info's `cli` key."""

from __future__ import annotations

from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

_COMMANDS = "airflow_provider_authapi.cli.commands"

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

TOKEN_COMMANDS = (
    ActionCommand(
        name="status",
        help="Show the stored token state (expiry, refresh token, last refresh; never a secret); exit 1 on error",
        func=lazy_load_command(f"{_COMMANDS}.token_status"),
        args=(ARG_OPTIONAL_CONN_ID, ARG_JSON),
    ),
    ActionCommand(
        name="clear",
        help="Delete a connection's stored token",
        func=lazy_load_command(f"{_COMMANDS}.token_clear"),
        args=(ARG_CONN_ID,),
    ),
    ActionCommand(
        name="refresh",
        help="Obtain a new access token now (by the refresh token or the connection's grant) and store it",
        func=lazy_load_command(f"{_COMMANDS}.token_refresh"),
        args=(ARG_CONN_ID, ARG_JSON),
    ),
)

AUTHAPI_COMMANDS = (
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
