"""HTML of the token pages: server-rendered, every value escaped, never a secret.

The page is shown inside Airflow's UI (an iframe under Admin), so it borrows the look of Airflow 3's own lists:
the system font, a bordered table with a grey header row, small outline buttons, rounded state badges. It
follows Airflow's light/dark switch by reading the parent page's color mode (same origin).
"""

from __future__ import annotations

from html import escape
from typing import Any

import pendulum

_STYLE = """
:root { color-scheme: light; --fg: oklch(0.23185 0.0323 266.44); --muted: oklch(0.45 0.03 257);
  --border: oklch(0.915 0.01 253); --stripe: oklch(0.955 0.006 253); --bg: #ffffff;
  --primary: oklch(0.469 0.084 257.657); --on-primary: #ffffff; --hover: oklch(0.93 0.01 253);
  --ok-bg: oklch(0.93 0.07 150); --ok-fg: oklch(0.4 0.1 150); --bad-bg: oklch(0.93 0.05 25);
  --bad-fg: oklch(0.45 0.16 25); --warn-bg: oklch(0.94 0.07 85); --warn-fg: oklch(0.45 0.1 70);
  --none-bg: oklch(0.93 0.01 253); --none-fg: oklch(0.4 0.02 257); }
:root.dark { color-scheme: dark; --fg: oklch(0.985 0.004 253); --muted: oklch(0.75 0.02 253);
  --border: oklch(0.28 0.035 251); --stripe: oklch(0.18 0.03 251); --bg: oklch(0.23185 0.0323 266.44);
  --hover: oklch(0.3 0.035 251); --ok-bg: oklch(0.35 0.07 150); --ok-fg: oklch(0.9 0.08 150);
  --bad-bg: oklch(0.36 0.1 25); --bad-fg: oklch(0.9 0.06 25); --warn-bg: oklch(0.38 0.07 75);
  --warn-fg: oklch(0.92 0.08 85); --none-bg: oklch(0.3 0.03 251); --none-fg: oklch(0.88 0.01 253); }
* { box-sizing: border-box; }
body { margin: 0; padding: 12px 16px; background: var(--bg); color: var(--fg); font-size: 14px; line-height: 1.5;
  font-family: Inter, -apple-system, BlinkMacSystemFont, "Segoe UI", Helvetica, Arial, sans-serif,
  "Apple Color Emoji", "Segoe UI Emoji", "Segoe UI Symbol"; -webkit-font-smoothing: antialiased; }
h1 { font-size: 16px; font-weight: 600; margin: 0; padding: 12px 0 4px; }
.sub { color: var(--muted); margin: 0 0 12px; max-width: 64rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th { font-weight: 500; text-align: left; white-space: nowrap; }
th, td { padding: 8px; border-bottom: 1px solid var(--border); vertical-align: middle; height: 53px; }
tbody tr:nth-child(odd) td { background: var(--stripe); }
.conn { font-weight: 500; }
.type { color: var(--muted); font-size: 12px; display: block; }
.when { white-space: nowrap; }
.ago { color: var(--muted); font-size: 12px; display: block; }
.badge { display: inline-block; border-radius: 9999px; padding: 2px 10px; font-size: 12px; font-weight: 500;
  white-space: nowrap; }
.badge.valid { background: var(--ok-bg); color: var(--ok-fg); }
.badge.expired, .badge.other-credentials { background: var(--warn-bg); color: var(--warn-fg); }
.badge.error { background: var(--bad-bg); color: var(--bad-fg); }
.badge.none { background: var(--none-bg); color: var(--none-fg); }
.problem { color: var(--bad-fg); font-size: 12px; display: block; max-width: 32rem; margin-top: 2px; }
.actions { white-space: nowrap; text-align: right; }
.actions form { display: inline; margin-left: 6px; }
button { font: inherit; font-size: 14px; font-weight: 500; height: 32px; padding: 0 12px; border-radius: 4px;
  border: 1px solid var(--border); background: var(--bg); color: var(--fg); cursor: pointer; }
button:hover:not(:disabled) { background: var(--hover); }
button:disabled { opacity: .4; cursor: not-allowed; }
button.primary { background: var(--primary); border-color: transparent; color: var(--on-primary); }
button.primary:hover:not(:disabled) { background: var(--primary); filter: brightness(1.15); }
.notice { border-radius: 4px; padding: 8px 12px; margin: 0 0 12px; max-width: 64rem; }
.notice.ok { background: var(--ok-bg); color: var(--ok-fg); }
.notice.bad { background: var(--bad-bg); color: var(--bad-fg); }
.who { color: var(--muted); font-size: 12px; margin-top: 12px; }
a { color: var(--primary); }
:root.dark a { color: oklch(0.8 0.08 257); }
"""

# Follow Airflow's color mode: its UI marks <html> with the class "dark" (same origin, so readable here).
_COLOR_MODE = """
(function () {
  function sync() {
    var dark = false;
    try { dark = window.parent.document.documentElement.classList.contains("dark"); }
    catch (e) { dark = window.matchMedia("(prefers-color-scheme: dark)").matches; }
    document.documentElement.classList.toggle("dark", dark);
  }
  sync();
  try {
    new MutationObserver(sync).observe(window.parent.document.documentElement,
      { attributes: true, attributeFilter: ["class"] });
  } catch (e) {}
})();
"""

STATE_LABELS = {
    "valid": "Valid",
    "expired": "Expired",
    "none": "No token",
    "other-credentials": "Other credentials",
    "error": "Error",
}


def when(iso: str | None) -> str:
    """An ISO timestamp as `2026-01-31 12:00:00 UTC` (stored timestamps are UTC)."""
    if not iso:
        return ""
    try:
        return pendulum.parse(iso).in_timezone("UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, TypeError):
        return iso


def ago(iso: str | None, now: pendulum.DateTime | None = None) -> str:
    """`in 59 min`, `3 h ago`: how far a timestamp is from now."""
    if not iso:
        return ""
    try:
        moment = pendulum.parse(iso)
    except (ValueError, TypeError):
        return ""
    seconds = (moment - (now or pendulum.now("UTC"))).total_seconds()
    size = abs(seconds)
    if size < 10:
        return "just now"
    if size < 60:
        amount = f"{int(size)} s"
    elif size < 3600:
        amount = f"{int(size // 60)} min"
    elif size < 172800:
        amount = f"{int(size // 3600)} h"
    else:
        amount = f"{int(size // 86400)} days"
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style><script>{_COLOR_MODE}</script></head>"
        f"<body>{body}</body></html>"
    )


def notice(kind: str, message: str) -> str:
    """A banner above the table: kind `ok` or `bad`."""
    return f"<p id='notice' class='notice {escape(kind)}' role='status'>{escape(message)}</p>"


def tokens_page(
    rows: list[dict[str, Any]], urls: dict[str, str], user: str | None, *, banner: str = "", type_labels: Any = None
) -> str:
    """The token cache of every token-caching connection the user may see, with Refresh, Clear and Authorize.

    `urls` holds the action prefixes (`refresh`, `clear`, `authorize`), each followed by the connection id.
    """
    labels = type_labels or {}
    intro = (
        "<p class='sub'>The cached access token of every connection whose type obtains tokens (OAuth 2.0, token "
        "login). Tasks on every worker share this cache. <b>Refresh</b> obtains a new token now, <b>Clear</b> "
        "revokes it at the API when the connection has a revocation URL, then forgets it (the next task logs in or "
        "asks the token endpoint again), <b>Authorize</b> sends you to the API's consent page for connections that "
        "use the authorization code grant. A refresh token's expiry shows when the API gave one: "
        "<code>airflow authapi token refresh --all --expiring-within 30d</code> keeps idle ones alive.</p>"
    )
    if not rows:
        table = "<p class='sub' id='empty'>No token-caching connection is defined, or you may not see any.</p>"
    else:
        show_realm = any((row.get("extra") or {}).get("realm_id") for row in rows)
        head = ["Connection", "State", "Valid until", "Last refresh", "Refresh token"]
        head += ["Realm"] if show_realm else []
        cells = "".join(f"<th>{escape(name)}</th>" for name in head) + "<th class='actions'>Actions</th>"
        body = "".join(_row(row, urls, labels, show_realm) for row in rows)
        table = f"<div class='table-wrap'><table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table></div>"
    who = f"<p class='who'>Signed in as {escape(user)}.</p>" if user else ""
    count = f"{len(rows)} connection{'s' if len(rows) != 1 else ''}" if rows else ""
    title = f"<h1>API tokens<span class='type' id='count'>{count}</span></h1>"
    return page("API tokens", f"{title}{intro}{banner}{table}{who}")


def _row(row: dict[str, Any], urls: dict[str, str], labels: dict[str, str], show_realm: bool) -> str:
    conn_id = str(row["conn_id"])
    conn_type = str(row.get("conn_type") or "")
    state = str(row.get("state") or ("error" if row.get("error") else "none"))
    stored = bool(row.get("stored"))
    badge = f"<span class='badge {escape(state)}' data-state='{escape(state)}'>{STATE_LABELS.get(state, state)}</span>"
    if row.get("damaged"):
        badge = "<span class='badge error' data-state='damaged'>Damaged</span>"
    if row.get("error"):
        badge += f"<span class='problem'>{escape(str(row['error']))}</span>"
    elif state == "other-credentials":
        badge += "<span class='problem'>The stored token belongs to earlier credentials; it will be replaced.</span>"
    until = row.get("expires_at")
    valid_until = _when_cell(until) if until else ("no expiry given" if stored else "")
    refreshed = _when_cell(row.get("obtained_at")) if stored else ""
    refresh_token = ("yes" if row.get("has_refresh_token") else "no") if stored else ""
    if row.get("refresh_expires_at") and row.get("has_refresh_token"):
        refresh_token += _refresh_expiry(row["refresh_expires_at"])
    label = labels.get(conn_type, conn_type)
    cells = [
        f"<td><span class='conn'>{escape(conn_id)}</span><span class='type' title='{escape(conn_type)}'>"
        f"{escape(label)}</span></td>",
        f"<td class='state'>{badge}</td>",
        f"<td class='valid-until'>{valid_until}</td>",
        f"<td class='last-refresh'>{refreshed}</td>",
        f"<td class='refresh-token'>{refresh_token}</td>",
    ]
    if show_realm:
        cells.append(f"<td><code>{escape(str((row.get('extra') or {}).get('realm_id') or ''))}</code></td>")
    cells.append(f"<td class='actions'>{_actions(row, urls, conn_id, stored)}</td>")
    return f"<tr data-conn-id='{escape(conn_id)}'>{''.join(cells)}</tr>"


def _refresh_expiry(iso: str) -> str:
    """When the refresh token dies (the API said so): idle ones need a refresh before then (keep-warm)."""
    return (
        f"<span class='ago refresh-expires' data-refresh-expires='{escape(iso)}' title='{escape(when(iso))}'>"
        f"until {escape(when(iso)[:10])} ({escape(ago(iso))})</span>"
    )


def _when_cell(iso: str | None) -> str:
    return f"<span class='when'>{escape(when(iso))}</span><span class='ago'>{escape(ago(iso))}</span>"


def _actions(row: dict[str, Any], urls: dict[str, str], conn_id: str, stored: bool) -> str:
    if not row.get("can_edit"):
        return "<span class='type'>view only</span>"
    if row.get("error") and not stored:
        return _button(urls["clear"], conn_id, "Clear", disabled="Nothing is stored")
    if row.get("damaged"):  # the one fix: Clear (then Authorize, for a consent connection)
        refresh = _button(urls["refresh"], conn_id, "Refresh", disabled="Clear the damaged record first")
        return refresh + _button(urls["clear"], conn_id, "Clear", primary=True)
    consent = bool(row.get("consent"))
    parts = []
    if consent:
        parts.append(_button(urls["authorize"], conn_id, "Authorize", primary=not row.get("has_refresh_token")))
    no_grant = consent and not row.get("has_refresh_token")
    parts.append(_button(urls["refresh"], conn_id, "Refresh", disabled="Authorize first" if no_grant else ""))
    parts.append(_button(urls["clear"], conn_id, "Clear", disabled="" if stored else "Nothing is stored"))
    return "".join(parts)


def _button(prefix: str, conn_id: str, label: str, *, disabled: str = "", primary: bool = False) -> str:
    attrs = f" disabled title='{escape(disabled)}'" if disabled else ""
    css = " class='primary'" if primary else ""
    return (
        f"<form method='post' action='{escape(prefix + conn_id)}'>"
        f"<button type='submit' name='{label.lower()}' data-conn-id='{escape(conn_id)}'{css}{attrs}>"
        f"{escape(label)}</button></form>"
    )


def success_page(conn_id: str, token_status: dict[str, Any], home: str) -> str:
    until = when(token_status.get("expires_at")) or "no expiry given"
    refresh = "with" if token_status.get("has_refresh_token") else "without"
    realm = (token_status.get("extra") or {}).get("realm_id")
    realm_line = f"<p>Company / realm id: <code>{escape(str(realm))}</code></p>" if realm else ""
    derived = (token_status.get("extra") or {}).get("derived") or {}  # what the consent named: no secret
    if isinstance(derived, dict) and derived:
        kept = ", ".join(f"<code>{escape(str(name))}</code> {escape(str(value))}" for name, value in derived.items())
        realm_line += f"<p id='derived'>Learned after the consent: {kept}</p>"
    body = (
        "<h1>Authorization complete</h1>"
        f"<p id='result' class='notice ok'>Connection <code>{escape(conn_id)}</code> is authorized: an access "
        f"token valid until {escape(str(until))}, {refresh} a refresh token, is stored.</p>{realm_line}"
        f"<p><a href='{escape(home)}'>Back to API tokens</a></p>"
    )
    return page("Authorization complete", body)


def error_page(kind: str, message: str, home: str) -> str:
    body = (
        "<h1>Authorization failed</h1>"
        f"<p id='result' class='notice bad' data-error='{escape(kind)}'>{escape(message)}</p>"
        f"<p><a href='{escape(home)}'>Back to API tokens</a></p>"
    )
    return page("Authorization failed", body)
