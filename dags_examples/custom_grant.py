"""A login of your own: a vendor's XML session login and per-request signing, in the provider's token machinery.

Some APIs log in in a way no built-in grant speaks (here: XML posted to `/session`, the ticket answered in a
header, a renewal token that works once) and want each request signed besides. Two classes of your own cover it,
named by dotted path in the connection (see `odd_login_auth.py` beside this file):

- `grant_class` (OAuth 2.0 and token login types): a `CustomGrant` subclass whose `fetch(client, config)` logs
  in and returns the token (optionally `refresh` renews it). Everything else is the provider's, as for a built-in
  grant: the token cached in an Airflow Variable that every task, worker and the triggerer share, renewal ahead of
  expiry with one process presenting a rotating renewal, the token sent as `Authorization: Bearer`, the Test
  button, the token page, the CLI, and every token and secret masked in the logs.
- `auth_class` (every type): an `httpx.Auth` subclass, built with the connection's settings, that signs every
  request after the token is on it, and only requests to the connection's origins.

Connection `odd_login` (type `authapi_token`, Token login API): host = the API base URL, login = the user,
password = the PIN, and the extras `grant_class` `dags_examples.odd_login_auth.OddLoginGrant`, `auth_class`
`dags_examples.odd_login_auth.HmacSigner`, `signing_key_id` and `signing_secret` (read by the signer). In task
code, `AuthApiHook("odd_login", grant=OddLoginGrant, auth=HmacSigner)` does the same without the two fields, and
shares the same cached token.

`whoami` (an `AuthApiOperator`) logs in; `signed_report` (a `@task` with `AuthApiHook`) sends a signed POST with
the ticket `whoami` cached: one login for the whole run, and for the next runs until the ticket nears expiry.

Run it against the local emulator: `bash scripts/demo.sh custom_grant` (see docs/systems/custom_grant.md).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.operators import AuthApiOperator


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["authapi", "custom_grant"],
)
def custom_grant():
    who = AuthApiOperator(task_id="whoami", authapi_conn_id="odd_login", endpoint="/api/whoami")

    @task
    def signed_report(who: dict) -> dict:
        """A signed POST through the hook: the grant's ticket from the shared cache, the signer's headers on top."""
        from airflow_provider_authapi.hooks.authapi import AuthApiHook

        response = AuthApiHook("odd_login").request("POST", "/api/signed", json={"report": "daily"})
        response.raise_for_status()
        return {"subject": who["subject"], **response.json()}

    signed_report(who.output)


custom_grant()
