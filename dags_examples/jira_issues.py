"""Jira Cloud: every project's issues in one task, each issue with its project's key, then count them.

Connection `jira` (type `authapi_basic`, Basic auth API): API base URL `https://<your-site>.atlassian.net`, User
name the Atlassian account's email, Password an API token of that account (id.atlassian.com > Security > API
tokens). The account sees the projects it may browse, and only their issues.

The projects come from `/rest/api/3/project/search` (offset pages: `startAt`, `maxResults`, `total`); for each
one, `children=` searches its issues with the JQL `project = <key> ORDER BY created` on `/rest/api/3/search/jql`
(Jira Cloud's search: pages by `nextPageToken`, none on the last page), asking for `summary` and `updated` only.
`include` copies the project's key into every issue record. Eight projects' searches run at once; a project that
is gone by the time its issues are asked for (404, or 400 "does not exist for the field 'project'") gives no
issues instead of failing the run. `issues` runs in a worker, `issues_deferred` the same pull in the triggerer;
both stream to JSON Lines in project order, and `count` reads them back.

Run it against the local emulator: `bash scripts/demo.sh jira` (see docs/systems/).
"""

from __future__ import annotations

import json

import pendulum
from airflow.sdk import ObjectStoragePath, dag, task

from airflow_provider_authapi.operators import AuthApiOperator

# [START children]
PROJECT_ISSUES = {
    "authapi_conn_id": "jira",
    "endpoint": "/rest/api/3/project/search",
    # Jira answers at most 50 projects a page: the limit must not ask for more, or the offsets would skip some
    "pagination": {"type": "offset", "offset_param": "startAt", "limit_param": "maxResults", "limit": 50},
    "response_filter": "values",
    "children": {
        "endpoint": "/rest/api/3/search/jql",
        "query_params": {"jql": "project = {key} ORDER BY created", "fields": "summary,updated", "maxResults": 100},
        "pagination": {"type": "cursor", "cursor_path": "nextPageToken", "cursor_param": "nextPageToken"},
        "response_filter": "issues",
        "include": {"project_key": "key"},
        "concurrency": 8,
        "response_actions": [
            {"status": 404, "action": "empty"},
            {"status": 400, "content": "does not exist for the field 'project'", "action": "empty"},
        ],
    },
}
# [END children]


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"out_url": "file:///tmp/authapi-jira"},
    tags=["authapi", "jira", "children"],
)
def jira_issues():
    sync = AuthApiOperator(
        task_id="issues", output_path="{{ params.out_url }}/{{ ts_nodash }}/issues.jsonl", **PROJECT_ISSUES
    )
    deferred = AuthApiOperator(
        task_id="issues_deferred",
        output_path="{{ params.out_url }}/{{ ts_nodash }}/issues-deferred.jsonl",
        deferrable=True,
        **PROJECT_ISSUES,
    )

    @task
    def count(*summaries: dict) -> dict:
        """Read each file back: issues per project, every issue once."""
        counted = {}
        for summary in summaries:
            per_project: dict[str, int] = {}
            keys = set()
            with ObjectStoragePath(summary["path"]).open("r") as lines:
                for line in lines:
                    issue = json.loads(line)
                    keys.add(issue["key"])
                    per_project[issue["project_key"]] = per_project.get(issue["project_key"], 0) + 1
            assert len(keys) == summary["records"], f"{summary['path']}: an issue came twice"
            counted[summary["path"].rsplit("/", 1)[-1]] = {"records": len(keys), "projects": len(per_project)}
        return counted

    count(sync.output, deferred.output)


jira_issues()
