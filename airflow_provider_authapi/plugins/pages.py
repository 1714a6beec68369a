"""HTML of the consent pages: plain server-rendered markup, every value escaped, never a secret."""

from __future__ import annotations

from html import escape
from typing import Any

import pendulum

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1a202c; }
table { border-collapse: collapse; }
th, td { padding: .4rem .8rem; border-bottom: 1px solid #cbd5e0; text-align: left; }
.ok { color: #276749; } .bad { color: #c53030; } button { padding: .3rem .9rem; cursor: pointer; }
"""


def when(iso: str | None) -> str:
    """An ISO timestamp as `2026-01-31 12:00:00 UTC` (stored timestamps are UTC)."""
    if not iso:
        return ""
    try:
        return pendulum.parse(iso).in_timezone("UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, TypeError):
        return iso


def page(title: str, body: str, status_class: str = "") -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1 class='{status_class}'>{escape(title)}</h1>{body}</body></html>"
    )


def connections_page(rows: list[dict[str, Any]], authorize_url: str, user: str | None) -> str:
    """The list of OAuth 2.0 connections with their token state and an Authorize button for consent ones."""
    if not rows:
        table = "<p>No connection of type <code>authapi_oauth2</code> is defined.</p>"
    else:
        lines = [
            "<table><thead><tr><th>Connection</th><th>Token</th><th>Valid until</th><th>Refresh token</th>"
            "<th>Last refresh</th><th>Realm</th><th></th></tr></thead><tbody>"
        ]
        for row in rows:
            lines.append(_row(row, authorize_url))
        lines.append("</tbody></table>")
        table = "".join(lines)
    who = f"<p>Signed in as <b>{escape(user)}</b>.</p>" if user else ""
    intro = (
        "<p>Connections of type <code>authapi_oauth2</code>. <b>Authorize</b> sends you to the API's consent "
        "page; the tokens it grants are stored in the connection's token cache, where tasks read them.</p>"
    )
    return page("API authorizations", who + intro + table)


def _row(row: dict[str, Any], authorize_url: str) -> str:
    conn_id = str(row["conn_id"])
    if row.get("error"):
        state, until, refresh, obtained, realm = f"<span class='bad'>{escape(row['error'])}</span>", "", "", "", ""
    else:
        if not row.get("stored"):
            state = "<span class='bad'>none</span>"
        elif not row.get("current_credentials", True):
            state = "<span class='bad'>stored for other credentials</span>"
        elif row.get("expired"):
            state = "<span class='bad'>expired</span>"
        else:
            state = "<span class='ok'>valid</span>"
        until = escape(when(row.get("expires_at")) or ("" if not row.get("stored") else "no expiry given"))
        refresh = ("yes" if row.get("has_refresh_token") else "no") if row.get("stored") else ""
        obtained = escape(when(row.get("obtained_at")))
        realm = escape(str((row.get("extra") or {}).get("realm_id") or ""))
    button = ""
    if row.get("consent"):
        button = (
            f"<form method='post' action='{escape(authorize_url + conn_id)}'>"
            f"<button type='submit' name='authorize' data-conn-id='{escape(conn_id)}'>Authorize</button></form>"
        )
    return (
        f"<tr data-conn-id='{escape(conn_id)}'><td><code>{escape(conn_id)}</code></td><td>{state}</td>"
        f"<td>{until}</td><td>{refresh}</td><td>{obtained}</td><td>{realm}</td><td>{button}</td></tr>"
    )


def success_page(conn_id: str, token_status: dict[str, Any], home: str) -> str:
    until = when(token_status.get("expires_at")) or "no expiry given"
    refresh = "with" if token_status.get("has_refresh_token") else "without"
    realm = (token_status.get("extra") or {}).get("realm_id")
    realm_line = f"<p>Company / realm id: <code>{escape(str(realm))}</code></p>" if realm else ""
    body = (
        f"<p id='result' class='ok'>Connection <code>{escape(conn_id)}</code> is authorized: an access token "
        f"valid until {escape(str(until))}, {refresh} a refresh token, is stored.</p>{realm_line}"
        f"<p><a href='{escape(home)}'>Back to API authorizations</a></p>"
    )
    return page("Authorization complete", body, "ok")


def error_page(kind: str, message: str, home: str) -> str:
    body = (
        f"<p id='result' class='bad' data-error='{escape(kind)}'>{escape(message)}</p>"
        f"<p><a href='{escape(home)}'>Back to API authorizations</a></p>"
    )
    return page("Authorization failed", body, "bad")
