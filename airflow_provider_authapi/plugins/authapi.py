"""`AuthApiPlugin`: the token page on the API server (Admin > API tokens, served under `/oauth-consent`), and
the middleware that lets the UI's Test button reach our connection types (see `plugins.connection_test`)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_authapi.plugins.app import URL_PREFIX, create_app
from airflow_provider_authapi.plugins.connection_test import ConnectionTestMiddleware


class AuthApiPlugin(AirflowPlugin):
    name = "authapi"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "authapi tokens"}]
    fastapi_root_middlewares = [{"middleware": ConnectionTestMiddleware, "name": "authapi connection test"}]
    external_views = [
        {
            "name": "API tokens",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "admin",
            "url_route": "authapi",
        }
    ]
