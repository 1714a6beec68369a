"""The token page web app mounted on the Airflow API server at `/oauth-consent` (Admin > API tokens).

(The prefix predates the page's other actions and stays: consent redirect URIs registered at APIs end in
`/oauth-consent/callback`. Airflow refuses plugin prefixes that start with `/auth`.)

Every route needs a signed-in Airflow user (the auth manager's JWT, as for the REST API): a browser without
one is sent to the login page, other requests get 401. A connection is listed to users with read access to it;
Refresh, Clear, Authorize and the consent callback need edit access, checked by the auth manager exactly as for
Airflow's connection pages. POSTs from another origin are refused. Blocking work (DB, token endpoint) runs in
FastAPI's thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from airflow_provider_authapi.auth.errors import AuthApiError, ConfigError
from airflow_provider_authapi.compat import airflow_user_from_request
from airflow_provider_authapi.consent import (
    ConsentError,
    ConsentStates,
    begin,
    complete,
    hook_for,
    refresh_token,
    token_statuses,
)
from airflow_provider_authapi.maintenance import NOT_REVOKED, clear_and_revoke
from airflow_provider_authapi.plugins import pages

URL_PREFIX = "/oauth-consent"


class LoginRequired(Exception):
    """No valid Airflow session on the request."""


async def current_user(request: Request) -> Any:
    """The signed-in Airflow user, resolved by the auth manager exactly as the REST API does."""
    bearer_scheme, get_user = airflow_user_from_request()
    try:
        return await get_user(request, None, await bearer_scheme(request))
    except HTTPException as exc:
        if exc.status_code in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
            raise LoginRequired from None
        raise


UserDep = Annotated[Any, Depends(current_user)]


def _allowed(user: Any, conn_id: str, method: str) -> bool:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import ConnectionDetails

    details = ConnectionDetails(conn_id=conn_id, team_name=_team(conn_id))
    return get_auth_manager().is_authorized_connection(method=method, details=details, user=user)


def _team(conn_id: str) -> str | None:
    """The connection's team when Airflow runs multi-team (as its own connection routes ask), else None."""
    from airflow.configuration import conf

    if not conf.getboolean("core", "multi_team", fallback=False):
        return None
    from airflow.models.connection import Connection

    return Connection.get_team_name(conn_id)


def _home(request: Request) -> str:
    return str(request.url_for("home"))


def _same_origin(request: Request) -> bool:
    """False for a POST a page of another site made (browsers send `Origin` on every POST)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", request.url.netloc)


def _type_labels() -> dict[str, str]:
    from airflow_provider_authapi.connections import CONNECTION_TYPES

    return {name: conn_type.hook_name for name, conn_type in CONNECTION_TYPES.items()}


DONE = {
    "refreshed": "obtained a new token",
    "revoked": "the API confirmed the revocation of its tokens; cleared the stored token",
    "cleared": "cleared the stored token",
    "nothing": "had no stored token",
}


def _tokens_page(request: Request, user: Any, banner: str = "", code: int = status.HTTP_200_OK) -> HTMLResponse:
    rows = []
    for row in token_statuses():
        if _allowed(user, row["conn_id"], "GET"):
            rows.append({**row, "can_edit": _allowed(user, row["conn_id"], "PUT")})
    home = _home(request)
    urls = {"refresh": home + "refresh/", "clear": home + "clear/", "authorize": home + "authorize/"}
    html = pages.tokens_page(rows, urls, user.get_name(), banner=banner, type_labels=_type_labels())
    return HTMLResponse(html, status_code=code)


def _error(request: Request, kind: str, message: str, code: int = status.HTTP_400_BAD_REQUEST) -> HTMLResponse:
    return HTMLResponse(pages.error_page(kind, message, _home(request)), status_code=code)


def create_app() -> FastAPI:
    app = FastAPI(title="authapi consent", docs_url=None, redoc_url=None, openapi_url=None)
    states = ConsentStates()

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _exc: LoginRequired) -> Response:
        if request.method != "GET":
            return HTMLResponse(pages.error_page("login", "Sign in to Airflow first.", _home(request)), 401)
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)

    @app.get("/", name="home", response_class=HTMLResponse)
    def home(
        request: Request, user: UserDep, done: str | None = None, conn_id: str | None = None, why: str | None = None
    ) -> HTMLResponse:
        banner = ""
        if done in DONE and conn_id:
            not_revoked = f" Not revoked: {NOT_REVOKED[why]}." if done == "cleared" and why in NOT_REVOKED else ""
            banner = pages.notice("ok", f"Connection {conn_id}: {DONE[done]}.{not_revoked}")
        return _tokens_page(request, user, banner)

    def _refused(request: Request, user: Any, conn_id: str) -> Response | None:
        """The answer to a cross-site POST, or to a user who may not edit the connection; None when allowed."""
        if not _same_origin(request):
            return _error(request, "forbidden", "Cross-site request refused.", status.HTTP_403_FORBIDDEN)
        if not _allowed(user, conn_id, "PUT"):
            return _error(request, "forbidden", f"You may not edit connection {conn_id!r}.", 403)
        return None

    def _act(request: Request, user: Any, conn_id: str, action: Any, done: Any) -> Response:
        """Run a Refresh or Clear for an allowed user, then show the page again (with what happened)."""
        refused = _refused(request, user, conn_id)
        if refused is not None:
            return refused
        try:
            result = action(conn_id)
        except AuthApiError as exc:
            return _failed(request, user, conn_id, exc)
        return _done(request, {"done": done(result), "conn_id": conn_id})

    def _failed(request: Request, user: Any, conn_id: str, exc: AuthApiError) -> HTMLResponse:
        mistake = isinstance(exc, ConfigError) or getattr(exc, "kind", None) in ("config", "static")
        code = status.HTTP_400_BAD_REQUEST if mistake else status.HTTP_502_BAD_GATEWAY  # else: the API said no
        return _tokens_page(request, user, pages.notice("bad", f"Connection {conn_id}: {exc}"), code)

    def _done(request: Request, query: dict[str, str]) -> Response:
        return RedirectResponse(f"{_home(request)}?{urlencode(query)}", status_code=status.HTTP_303_SEE_OTHER)

    @app.post("/refresh/{conn_id}", name="refresh")
    def refresh(request: Request, conn_id: str, user: UserDep) -> Response:
        return _act(request, user, conn_id, refresh_token, lambda _status: "refreshed")

    @app.post("/clear/{conn_id}", name="clear")
    def clear(request: Request, conn_id: str, user: UserDep) -> Response:
        """Revoke the stored tokens (when the connection has a revocation_url), then delete them.

        A revocation the API did not confirm is shown at once, with its reason; the stored copy is gone anyway."""
        refused = _refused(request, user, conn_id)
        if refused is not None:
            return refused
        try:
            cleared = clear_and_revoke(conn_id)
        except AuthApiError as exc:
            return _failed(request, user, conn_id, exc)
        if cleared.refused:
            message = f"Connection {conn_id}: " + " ".join(f"{line.rstrip('.')}." for line in cleared.lines())
            return _tokens_page(request, user, pages.notice("bad", message), status.HTTP_502_BAD_GATEWAY)
        if cleared.confirmed:
            return _done(request, {"done": "revoked", "conn_id": conn_id})
        if not cleared.stored:
            return _done(request, {"done": "nothing", "conn_id": conn_id})
        return _done(request, {"done": "cleared", "conn_id": conn_id, "why": cleared.not_revoked})

    @app.post("/authorize/{conn_id}", name="authorize")
    def authorize(request: Request, conn_id: str, user: UserDep) -> Response:
        refused = _refused(request, user, conn_id)
        if refused is not None:
            return refused
        try:
            hook = hook_for(conn_id)
            url, pending = begin(hook, redirect_uri=str(request.url_for("callback")), user=user.get_name())
        except AuthApiError as exc:
            return _error(request, getattr(exc, "kind", "config"), str(exc))
        except Exception as exc:  # an unknown conn id: AirflowNotFoundException
            return _error(request, "config", f"connection {conn_id!r} cannot be used: {type(exc).__name__}")
        states.put(pending)
        return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)

    @app.get("/callback", name="callback", response_class=HTMLResponse)
    def callback(
        request: Request,
        user: UserDep,
        state: str | None = None,
        code: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
        realm_id: Annotated[str | None, Query(alias="realmId")] = None,  # QuickBooks' company id
    ) -> HTMLResponse:
        try:
            pending = states.take(state, user=user.get_name())
        except ConsentError as exc:
            return _error(request, exc.kind, str(exc))
        if error:
            detail = f" ({error_description})" if error_description else ""
            return _error(request, error, f"The API did not grant access: {error}{detail}.", status.HTTP_403_FORBIDDEN)
        if not code:
            return _error(request, "code", "The callback carries no authorization code.")
        if not _allowed(user, pending.conn_id, "PUT"):
            return _error(request, "forbidden", f"You may not edit connection {pending.conn_id!r}.", 403)
        try:
            hook = hook_for(pending.conn_id)
            complete(hook, pending, code, realm_id=realm_id, callback=dict(request.query_params))
            result = hook.store.status()
        except AuthApiError as exc:
            return _error(request, getattr(exc, "kind", "exchange"), str(exc), status.HTTP_502_BAD_GATEWAY)
        return HTMLResponse(pages.success_page(pending.conn_id, result, _home(request)))

    return app
