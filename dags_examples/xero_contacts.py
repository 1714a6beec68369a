"""Xero: the contacts of every organisation the consent connected, one mapped task per organisation.

Connection `xero` (type `authapi_xero`, Xero (accounting API)): the Client ID and Client secret of a Web app
(developer.xero.com, My Apps) and its redirect URI, this Airflow's `<base URL>/oauth-consent/callback`. Then
Authorize it on Admin > API tokens (or `airflow authapi authorize xero`) and pick the organisations to connect.

One token serves every organisation the user connected; each call names one in its `Xero-Tenant-Id` header. After
the consent the hook asks `GET https://api.xero.com/connections` with the new token and keeps the first
organisation's `tenantId` (or the one `discovery_match` names, e.g. `{"tenantName": "Demo Company (UK)"}`) with
the token: the connection's own `Xero-Tenant-Id: {tenant_id}` header. `organisations` lists them all now
(`AuthApiHook.discovered_entries()`), and `contacts` is mapped over them, each task with its own header, which wins
over the connection's. `organisation` reads the connection's own organisation in the triggerer.

Contacts come 100 a page (`page`, `pageSize`) until `pagination.pageCount`. Xero rotates the refresh token at
every refresh (30 minute access tokens); the hook saves each new one before using it.

Run it against the local emulator (three organisations): `bash scripts/demo.sh xero` (see docs/systems/).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.api import PageNumberPaginator
from airflow_provider_authapi.hooks.authapi import AuthApiHook
from airflow_provider_authapi.operators import AuthApiOperator


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["authapi", "xero"],
)
def xero_contacts():
    # [START tenants]
    @task
    def organisations() -> list[dict[str, str]]:
        """Every organisation the consent connected: `{"tenant_id", "tenant_name"}` each (no secret)."""
        return AuthApiHook("xero").discovered_entries()

    @task
    def tenant_headers(orgs: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{"Xero-Tenant-Id": org["tenant_id"]} for org in orgs]

    orgs = organisations()
    contacts = AuthApiOperator.partial(
        task_id="contacts",
        authapi_conn_id="xero",
        endpoint="/Contacts",
        query_params={"pageSize": 100},
        pagination=PageNumberPaginator(total_pages_path="pagination.pageCount"),
        response_filter="Contacts",
    ).expand(headers=tenant_headers(orgs))
    # [END tenants]

    organisation = AuthApiOperator(
        task_id="organisation",
        authapi_conn_id="xero",
        endpoint="/Organisation",  # the connection's own Xero-Tenant-Id: the organisation picked after the consent
        response_filter="Organisations",
        deferrable=True,
    )

    @task
    def summarize(orgs: list[dict[str, str]], pulled: list[list[dict[str, Any]]], own: list[dict]) -> dict[str, Any]:
        """Contacts per organisation (the mapped tasks' results come in the organisations' order)."""
        per_org = {org["tenant_name"]: len(records) for org, records in zip(orgs, pulled, strict=True)}
        archived = sum(1 for records in pulled for record in records if record["ContactStatus"] == "ARCHIVED")
        return {"contacts": per_org, "archived": archived, "own_organisation": own[0]["Name"]}

    summarize(orgs, contacts.output, organisation.output)


xero_contacts()
