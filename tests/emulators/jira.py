"""A Jira Cloud REST API v3 emulator: projects, their issues, and the issues' comments, as Jira pages them.

- `GET /rest/api/3/project/search?startAt=&maxResults=` -> `{"startAt", "maxResults", "total", "isLast",
  "values": [{"id", "key", "name"}]}` (at most 50 a page, as Jira).
- `GET /rest/api/3/search?jql=project = KEY&startAt=&maxResults=` -> `{"startAt", "maxResults", "total",
  "issues": [{"id", "key", "fields": {"summary", "updated", "project": {"key"}}}]}` (at most 100 a page); a JQL
  naming a project that does not exist answers 400 with Jira's `errorMessages`, one that is not `project = KEY`
  (an optional `ORDER BY ...` aside) 400 too.
- `GET /rest/api/3/search/jql?jql=project = KEY&fields=&maxResults=&nextPageToken=` -> `{"issues": [...],
  "isLast", "nextPageToken"}`: Jira Cloud's search since the one above was removed (2025), paged by an opaque
  token (no `startAt`, no `total`; the token absent on the last page), at most 100 a page (50 unless asked);
  each issue holds `id` and `key`, and in `fields` only the fields `fields` names (`*all` for all); the same JQL
  and the same 400s and 404.
- `GET /rest/api/3/issue/{key}/comment?startAt=&maxResults=` -> `{"startAt", "maxResults", "total",
  "comments": [{"id", "body"}]}`.
- Auth: Basic `email:api_token` (Jira Cloud's API tokens); anything else is 401.
- `delay` seconds per answer (a slow server, for the benchmark); `in_flight_max` is the most requests it served at
  once; `removed` lists project keys whose issues answer 404 (a project deleted between the two calls);
  `max_in_flight` answers 429 with `Retry-After: 1` above that many requests at once (Jira's concurrency limit).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from typing import Any

from tests.emulators.base import Request, Response
from tests.emulators.tokens import TokenApi

EMAIL, API_TOKEN = "loader@example.com", "jira-api-token-0123456789abcdef"
_JQL = re.compile(r"^\s*project\s*=\s*\"?([A-Z][A-Z0-9_]*)\"?\s*(ORDER\s+BY\s+\w+(\s+(ASC|DESC))?)?\s*$", re.I)


class JiraEmulator(TokenApi):
    def __init__(
        self,
        *,
        projects: int = 3,
        issues_per_project: int | list[int] = 7,
        comments_per_issue: int = 2,
        delay: float = 0.0,
        max_in_flight: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.delay, self.max_in_flight = delay, max_in_flight
        self.projects = [{"id": str(10000 + n), "key": f"P{n}", "name": f"Project {n}"} for n in range(1, projects + 1)]
        counts = issues_per_project if isinstance(issues_per_project, list) else [issues_per_project] * projects
        self.issue_counts = {p["key"]: counts[i] for i, p in enumerate(self.projects)}
        self.comments_per_issue = comments_per_issue
        self.removed: set[str] = set()
        self.in_flight = self.in_flight_max = self.refused = 0
        self._flight = threading.Lock()

    def setup_routes(self) -> None:
        self.route("GET", r"/rest/api/3/project/search", self.project_search)
        self.route("GET", r"/rest/api/3/search", self.search)
        self.route("GET", r"/rest/api/3/search/jql", self.search_jql)
        self.route("GET", r"/rest/api/3/issue/(?P<key>[A-Z0-9]+-\d+)/comment", self.comments)

    # -- plumbing ------------------------------------------------------------------------------------------------

    def _serve(self, request: Request, answer: Any) -> Response:
        if request.basic_auth() != (EMAIL, API_TOKEN):
            return Response.json({"errorMessages": ["Client must be authenticated to access this resource."]}, 401)
        with self._flight:
            if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
                self.refused += 1
                return Response.json({"errorMessages": ["Rate limit exceeded."]}, 429, {"Retry-After": "1"})
            self.in_flight += 1
            self.in_flight_max = max(self.in_flight_max, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            return answer() if callable(answer) else answer
        finally:
            with self._flight:
                self.in_flight -= 1

    @staticmethod
    def _window(request: Request, cap: int) -> tuple[int, int]:
        start = int(request.query.get("startAt", 0))
        size = min(int(request.query.get("maxResults", cap)), cap)
        return start, size

    # -- routes --------------------------------------------------------------------------------------------------

    def project_search(self, request: Request) -> Response:
        start, size = self._window(request, 50)
        values = self.projects[start : start + size]
        body = {"startAt": start, "maxResults": size, "total": len(self.projects),
                "isLast": start + size >= len(self.projects), "values": values}  # fmt: skip
        return self._serve(request, Response.json(body))

    def _project(self, request: Request) -> str | Response:
        """The project key the request's JQL names, or Jira's error answer."""
        match = _JQL.match(request.query.get("jql", ""))
        if match is None:
            body = {"errorMessages": ["Error in the JQL Query: expected project = KEY."], "errors": {}}
            return Response.json(body, 400)
        key = match.group(1).upper()
        if key in self.removed:
            return Response.json({"errorMessages": [f"Project {key} was deleted."]}, 404)
        if key not in self.issue_counts:
            body = {"errorMessages": [f"The value '{key}' does not exist for the field 'project'."], "errors": {}}
            return Response.json(body, 400)
        return key

    def search(self, request: Request) -> Response:
        key = self._project(request)
        if isinstance(key, Response):
            return self._serve(request, key)
        start, size = self._window(request, 100)
        total = self.issue_counts[key]
        issues = [self.issue(key, n) for n in range(start + 1, min(total, start + size) + 1)]
        body = {"startAt": start, "maxResults": size, "total": total, "issues": issues}
        return self._serve(request, Response.json(body))

    def search_jql(self, request: Request) -> Response:
        key = self._project(request)
        if isinstance(key, Response):
            return self._serve(request, key)
        size = max(1, min(int(request.query.get("maxResults", 50)), 100))
        token = request.query.get("nextPageToken")
        start = _page_start(token, key) if token is not None else 0
        if start is None:
            body = {"errorMessages": ["The provided next page token is invalid or expired."], "errors": {}}
            return self._serve(request, Response.json(body, 400))
        wanted = [name.strip() for name in request.query.get("fields", "").split(",") if name.strip()]
        total = self.issue_counts[key]
        issues = [_with_fields(self.issue(key, n), wanted) for n in range(start + 1, min(total, start + size) + 1)]
        body: dict[str, Any] = {"issues": issues, "isLast": start + size >= total}
        if not body["isLast"]:
            body["nextPageToken"] = base64.urlsafe_b64encode(f"{key}:{start + size}".encode()).decode()
        return self._serve(request, Response.json(body))

    def comments(self, request: Request) -> Response:
        assert request.match is not None
        issue_key = request.match.group("key")
        start, size = self._window(request, 50)
        total = self.comments_per_issue
        comments = [{"id": f"{issue_key}/c{n}", "body": f"comment {n} on {issue_key}"}
                    for n in range(start + 1, min(total, start + size) + 1)]  # fmt: skip
        return self._serve(request, Response.json({"startAt": start, "maxResults": size, "total": total,
                                                   "comments": comments}))  # fmt: skip

    @staticmethod
    def issue(project_key: str, n: int) -> dict[str, Any]:
        return {
            "id": f"{project_key}-{n}",
            "key": f"{project_key}-{n}",
            "fields": {
                "summary": f"Issue {n} of {project_key}",
                "updated": f"2026-11-{n % 28 + 1:02d}T10:00:00.000+0000",
                "project": {"key": project_key},
            },
        }

    def expected_issues(self) -> list[str]:
        """Every issue key, in project order then issue order."""
        return [f"{key}-{n}" for key, count in self.issue_counts.items() for n in range(1, count + 1)]

    @classmethod
    def standalone(cls, **kwargs: Any) -> JiraEmulator:
        """For `python -m tests.emulators jira` (the demo): 12 projects of 0 to 192 issues."""
        counts = [(n * 47) % 231 for n in range(12)]
        return cls(projects=12, issues_per_project=counts, **kwargs)

    def describe(self) -> dict[str, Any]:
        return {
            "system": "Jira Cloud",
            "url": self.url,
            "credentials": {"email (login)": EMAIL, "API token (password)": API_TOKEN},
            "connection": {"conn_type": "authapi_basic", "host": self.url, "login": EMAIL, "password": API_TOKEN},
        }


def _page_start(token: str, key: str) -> int | None:
    """Where a `nextPageToken` of project `key`'s search starts, or None for a token this search never gave."""
    try:
        named, _, start = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        return int(start) if named == key and int(start) >= 0 else None
    except ValueError:
        return None


def _with_fields(issue: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """`issue` as `/search/jql` answers it: `id`, `key`, and the fields asked for only."""
    if "*all" in wanted or "*navigable" in wanted:
        return issue
    return {**issue, "fields": {name: value for name, value in issue["fields"].items() if name in wanted}}
