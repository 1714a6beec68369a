"""GitHub: every repository a GitHub App's installation can reach (all pages), then a summary downstream.

Connection `github_app` (type `authapi_github_app`, GitHub App (installation); or `authapi_oauth2` with profile
`github_app`): login = the app's App ID (or its client ID), `installation_id` = the installation's ID (the number at
the end of its settings URL), `assertion_private_key` = a private key generated in the app's settings (the .pem
file, hidden like a password). The profile fills the token URL `/app/installations/{installation_id}/access_tokens`
on the base URL `https://api.github.com` (GitHub Enterprise Server: `https://<host>/api/v3`), the RS256 JWT (`iat`
a minute back, `exp` 10 minutes after it, `iss` the App ID) and GitHub's `Accept` and API version headers.

The installation token lives 1 hour (the answer's absolute `expires_at`); no refresh token: ahead of its expiry, a
new JWT buys the next one. One connection per installation. Pages follow the `Link` header's `next` relation;
`per_page` asks for up to 100 repositories a page.

Run it against the local emulator: `python -m tests.emulators github_app --env-file conn.env` (see docs/systems/).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_authapi.api import HeaderLinkPaginator
from airflow_provider_authapi.operators import AuthApiOperator


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"per_page": 30},
    tags=["authapi", "github"],
)
def github_app_repositories():
    repositories = AuthApiOperator(
        task_id="list_repositories",
        authapi_conn_id="github_app",
        endpoint="/installation/repositories",
        query_params={"per_page": "{{ params.per_page }}"},
        pagination=HeaderLinkPaginator(),  # Link: <...&page=2>; rel="next", absent on the last page
        response_filter="repositories",
    )

    @task
    def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
        """Downstream: count the repositories, the private and archived ones, and their languages."""
        return {
            "repositories": len(records),
            "distinct_ids": len({repo["id"] for repo in records}),
            "private": sum(1 for repo in records if repo["private"]),
            "archived": sorted(repo["name"] for repo in records if repo["archived"]),
            "languages": dict(sorted(Counter(repo["language"] or "none" for repo in records).items())),
            "stars": sum(repo["stargazers_count"] for repo in records),
        }

    summarize(repositories.output)


github_app_repositories()
