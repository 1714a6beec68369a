"""The consent web app mounted on the Airflow API server at `/oauth-consent`.

(Airflow refuses plugin prefixes that start with `/auth`, so `/authapi` is not possible.)

Every route needs a signed-in Airflow user (the auth manager's JWT, as for the REST API): a browser without
one is sent to the login page, other requests get 401. Listing needs read access to a connection, authorizing
and the callback need edit access. Blocking work (DB, token endpoint) runs in FastAPI's thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from airflow_provider_authapi.auth.errors import AuthApiError
from airflow_provider_authapi.consent import (
    ConsentError,
    ConsentStates,
    begin,
    complete,
    hook_for,
    oauth2_connection_ids,
    token_status,
)
from airflow_provider_authapi.plugins import pages

URL_PREFIX = "/oauth-consent"


class LoginRequired(Exception):
    """No valid Airflow session on the request."""


async def current_user(request: Request) -> Any:
    """The signed-in Airflow user, resolved by the auth manager exactly as the REST API does."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

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

    return get_auth_manager().is_authorized_connection(
        method=method, details=ConnectionDetails(conn_id=conn_id), user=user
    )


def _home(request: Request) -> str:
    return str(request.url_for("home"))


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
    def home(request: Request, user: UserDep) -> HTMLResponse:
        rows = []
        for conn_id in oauth2_connection_ids():
            if not _allowed(user, conn_id, "GET"):
                continue
            try:
                rows.append(token_status(hook_for(conn_id)))
            except AuthApiError as exc:
                rows.append({"conn_id": conn_id, "error": str(exc)})
        return HTMLResponse(pages.connections_page(rows, _home(request) + "authorize/", user.get_name()))

    @app.post("/authorize/{conn_id}", name="authorize")
    def authorize(request: Request, conn_id: str, user: UserDep) -> Response:
        if not _allowed(user, conn_id, "PUT"):
            return _error(request, "forbidden", f"You may not edit connection {conn_id!r}.", 403)
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
            complete(hook, pending, code, realm_id=realm_id)
            result = hook.store.status()
        except AuthApiError as exc:
            return _error(request, getattr(exc, "kind", "exchange"), str(exc), status.HTTP_502_BAD_GATEWAY)
        return HTMLResponse(pages.success_page(pending.conn_id, result, _home(request)))

    return app
