"""GitHub: a GitHub App's installation access token, and the REST API with it.

As documented by GitHub ("Generating a JSON Web Token (JWT) for a GitHub App", "Generating an installation access
token for a GitHub App", REST "List repositories accessible to the app installation", "Using pagination in the
REST API"), on one local host (real `https://api.github.com`):

- `POST /app/installations/{installation_id}/access_tokens`, `Authorization: Bearer <JWT>`: the JWT signed RS256
  with the app's private key (checked against its public key), `iss` the App ID (a number, or its digits) or the
  app's client ID, `iat` at most 60 s ahead of the server's clock, `exp` a number in the future, at most 10 minutes
  ahead and at most 600 s after `iat`. Anything else: 401 with GitHub's body, `{"message": "'Expiration time'
  claim ('exp') is too far in the future", "documentation_url": "https://docs.github.com/rest", "status": "401"}`
  and its other messages; an installation that is not this app's: 404 `Not Found`. An optional JSON body narrows
  the token: `repositories` (names of the installation's repositories) and `permissions` (at most the
  installation's own levels), else 422. Answer 201: `{token: "ghs_...", expires_at: "2026-12-03T18:00:00Z",
  permissions, repository_selection}` (and `repositories` when narrowed): an absolute expiry, 1 hour ahead
  (`token_lifetime`), no refresh token.
- `GET /installation/repositories?per_page=&page=` with `Authorization: Bearer <token>` (or `token <token>`):
  `{total_count, repository_selection, repositories: [...]}`, `per_page` 1 to 100 (default 30, more is cut to
  100), the other pages in the `Link` header (`next`, `last`, `first`, `prev`; absolute URLs). A missing, dead or
  unknown token (the app's JWT too): 401 `Bad credentials`. A request without a `User-Agent`: 403.

Installation tokens expire on the emulator's movable clock (`advance`); the JWT's times are checked against the
wall clock, which signs them (the movable clock does not move the client's). The app's key pair is made at start
(`key`); none is committed. `jwts` holds the claims of every accepted JWT, `refusals` why each other was refused.
"""

from __future__ import annotations

import datetime
import time
from typing import Any
from urllib.parse import urlencode

import jwt

from tests.emulators.base import Request, Response
from tests.emulators.jwt_oauth2 import KeyPair, new_key
from tests.emulators.tokens import TokenApi, TokenRegistry

TOKEN_ROUTE = r"/app/installations/(?P<installation>\d+)/access_tokens"
REPOSITORIES_ROUTE = r"/installation/repositories"
DOCS = "https://docs.github.com/rest"
CLOCK_SKEW = 60  # seconds an `iat` may lie ahead of GitHub's clock
MAX_JWT_LIFETIME = 600  # `exp` at most 10 minutes ahead (and after `iat`)
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100
LEVELS = {"read": 1, "write": 2, "admin": 3}
LANGUAGES = ("Python", "Go", "TypeScript", "Rust", None)
# GitHub's 401 messages for an app JWT it refuses.
UNDECODABLE = "A JSON web token could not be decoded"
EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
EXP_PAST = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion "
    "expires"
)
IAT_BAD = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
UNKNOWN_APP = "Integration not found"
NOT_ACCESSIBLE = "There is at least one repository that does not exist or is not accessible to the parent installation."


def github_error(status: int, message: str) -> Response:
    """GitHub's REST error body."""
    body = {"message": message, "documentation_url": DOCS, "status": str(status)}
    return Response.json(body, status=status, headers={"Content-Type": "application/json; charset=utf-8"})


def iso(epoch: float) -> str:
    """`2026-12-03T18:00:00Z`, as GitHub writes times."""
    return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubEmulator(TokenApi):
    """One GitHub App (`app_id`, `client_id`, `key`) installed on one account (`installation_id`, `owner`)."""

    token_paths = (TOKEN_ROUTE,)

    def __init__(
        self,
        app_id: int = 1234567,
        client_id: str = "Iv23liEmulatorClient01",
        installation_id: int = 45678901,
        *,
        owner: str = "acme-corp",
        repositories: int = 75,
        token_lifetime: float = 3600,
        permissions: dict[str, str] | None = None,
        key: KeyPair | None = None,
        **kwargs: Any,
    ) -> None:
        self.app_id, self.client_id, self.installation_id, self.owner = app_id, client_id, installation_id, owner
        self.key = key or new_key("RS256")
        self.permissions = dict(permissions or {"metadata": "read", "contents": "read", "issues": "write"})
        super().__init__(**kwargs)
        self.tokens = TokenRegistry(self.clock, token_lifetime, prefix="ghs")
        self.jwts: list[dict[str, Any]] = []  # the claims of every JWT accepted
        self.refusals: list[str] = []  # why each other JWT was refused
        self.bodies: list[dict[str, Any]] = []  # the body of every token request accepted
        self.failures = 0  # token requests to answer 502 before checking anything (`fail_next`)
        self.repositories = [
            {
                "id": 700000000 + i,
                "node_id": f"R_kgDOEmu{i:04d}",
                "name": f"service-{i:03d}",
                "full_name": f"{owner}/service-{i:03d}",
                "private": i % 3 != 0,
                "owner": {"login": owner, "id": 9100001, "type": "Organization"},
                "html_url": f"https://github.com/{owner}/service-{i:03d}",
                "fork": False,
                "archived": i % 10 == 0,
                "language": LANGUAGES[i % len(LANGUAGES)],
                "stargazers_count": (i * 7) % 50,
                "default_branch": "main",
            }
            for i in range(1, repositories + 1)
        ]

    @classmethod
    def standalone(cls, **kwargs: Any) -> GitHubEmulator:
        """The emulator with a new app key, made now: `describe()` hands its PEM out in the connection."""
        return cls(key=new_key("RS256"), **kwargs)

    def setup_routes(self) -> None:
        self.route("POST", TOKEN_ROUTE, self.access_token)
        self.route("GET", REPOSITORIES_ROUTE, self.list_repositories)

    def fail_next(self, count: int) -> None:
        """The next `count` token requests answer 502, as GitHub does now and then: a client retries them."""
        with self.lock:
            self.failures = count

    def installation_token_url(self) -> str:
        return f"{self.url}/app/installations/{self.installation_id}/access_tokens"

    @property
    def pages(self) -> int:
        """Repository pages served (refused requests included)."""
        return self.count("GET", REPOSITORIES_ROUTE)

    # -- the installation access token ---------------------------------------------------------------------------

    def access_token(self, request: Request) -> Response:
        with self.lock:
            failing, self.failures = self.failures > 0, max(0, self.failures - 1)
        if failing:
            return Response(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"})
        if not request.header("user-agent"):
            return _no_user_agent()
        claims = self._app_jwt(request)
        if isinstance(claims, Response):
            return claims
        assert request.match is not None
        if int(request.match["installation"]) != self.installation_id:
            return github_error(404, "Not Found")
        try:
            body = request.json() if request.body else {}
        except ValueError:
            return github_error(400, "Problems parsing JSON")
        if not isinstance(body, dict):
            return github_error(400, "Problems parsing JSON")
        granted, problem = self._narrowed(body)
        if problem:
            return github_error(422, problem)
        with self.lock:
            self.bodies.append(body)
        names = body.get("repositories")
        token = self.tokens.issue(str(self.installation_id), repositories=names, permissions=granted)
        expires_at = self.tokens.expires_at(token)
        assert expires_at is not None
        answer: dict[str, Any] = {
            "token": token,
            "expires_at": iso(expires_at),
            "permissions": granted,
            "repository_selection": "selected" if names else "all",
        }
        if names:
            answer["repositories"] = [repo for repo in self.repositories if repo["name"] in names]
        return Response.json(answer, status=201, headers={"Content-Type": "application/json; charset=utf-8"})

    def _app_jwt(self, request: Request) -> dict[str, Any] | Response:
        """The claims of the app's JWT on `request`, or GitHub's 401 (the reason kept in `refusals`)."""
        token = request.bearer()
        if not token:
            return self._refuse(UNDECODABLE, "no bearer JWT")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                self.key.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            return self._refuse(UNDECODABLE, f"{type(exc).__name__}: {exc}")
        if header.get("alg") != "RS256":
            return self._refuse(UNDECODABLE, f"alg {header.get('alg')!r}")
        if str(claims.get("iss")) not in (str(self.app_id), self.client_id):
            return self._refuse(UNKNOWN_APP, f"iss {claims.get('iss')!r}")
        iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
        if not isinstance(iat, int) or isinstance(iat, bool) or iat > now + CLOCK_SKEW:
            return self._refuse(IAT_BAD, f"iat {iat!r}, now {now:.0f}")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now:
            return self._refuse(EXP_PAST, f"exp {exp!r}, now {now:.0f}")
        if exp > now + MAX_JWT_LIFETIME or exp - iat > MAX_JWT_LIFETIME:
            return self._refuse(EXP_TOO_FAR, f"exp {exp}, iat {iat}, now {now:.0f}")
        with self.lock:
            self.jwts.append(claims)
        return claims

    def _narrowed(self, body: dict[str, Any]) -> tuple[dict[str, str], str | None]:
        """The token's permissions (the installation's, or fewer as the body asks), or a 422 message."""
        names = body.get("repositories")
        if names is not None:
            known = {repo["name"] for repo in self.repositories}
            if not isinstance(names, list) or not set(map(str, names)) <= known:
                return {}, NOT_ACCESSIBLE
        asked = body.get("permissions")
        if asked is None:
            return dict(self.permissions), None
        if not isinstance(asked, dict) or not all(
            name in self.permissions and LEVELS.get(level, 99) <= LEVELS[self.permissions[name]]
            for name, level in asked.items()
        ):
            return {}, "The permissions requested are not granted to this installation."
        return {str(name): str(level) for name, level in asked.items()}, None

    def _refuse(self, message: str, why: str) -> Response:
        with self.lock:
            self.refusals.append(f"{message} ({why})")
        return github_error(401, message)

    # -- the REST API, with the installation token -----------------------------------------------------------------

    def list_repositories(self, request: Request) -> Response:
        if not request.header("user-agent"):
            return _no_user_agent()
        grant = self.tokens.check(_token(request))
        if grant is None:
            return github_error(401, "Bad credentials")
        try:
            per_page = min(int(request.query.get("per_page", DEFAULT_PER_PAGE)), MAX_PER_PAGE)
            page = int(request.query.get("page", 1))
        except ValueError:
            return github_error(422, "Invalid request: per_page and page must be integers")
        per_page, page = max(per_page, 1), max(page, 1)
        names = grant.data.get("repositories")
        visible = [repo for repo in self.repositories if not names or repo["name"] in names]
        last = max(1, -(-len(visible) // per_page))
        body = {
            "total_count": len(visible),
            "repository_selection": "selected" if names else "all",
            "repositories": visible[(page - 1) * per_page : page * per_page],
        }
        headers = {"Content-Type": "application/json; charset=utf-8"}
        links = self._links(request, page, last, per_page)
        if links:
            headers["Link"] = links
        return Response.json(body, headers=headers)

    def _links(self, request: Request, page: int, last: int, per_page: int) -> str:
        """GitHub's `Link` header: the next, last, first and previous pages that exist, as absolute URLs."""

        def url(number: int) -> str:
            query = {**request.query, "per_page": str(per_page), "page": str(number)}
            return f"{self.url}{request.path}?{urlencode(query)}"

        relations = []
        if page < last:
            relations += [("next", page + 1), ("last", last)]
        if page > 1:
            relations += [("first", 1), ("prev", min(page - 1, last))]
        return ", ".join(f'<{url(number)}>; rel="{name}"' for name, number in relations)

    def describe(self) -> dict[str, Any]:
        return {
            "system": "GitHub App (installation)",
            "url": self.url,
            "credentials": {
                "App ID (login)": self.app_id,
                "client ID (also accepted as iss)": self.client_id,
                "installation ID": self.installation_id,
                "installation permissions": self.permissions,
            },
            "connection": {
                "conn_type": "authapi_oauth2",
                "host": self.url,
                "login": str(self.app_id),
                "extra": {
                    "profile": "github_app",
                    "installation_id": str(self.installation_id),
                    "assertion_private_key": self.key.pem,
                },
            },
        }


def _token(request: Request) -> str | None:
    """The installation token of `Authorization: Bearer <token>` or `Authorization: token <token>`."""
    scheme, _, value = (request.header("authorization") or "").partition(" ")
    return value.strip() if scheme.lower() in ("bearer", "token") and value.strip() else None


def _no_user_agent() -> Response:
    message = "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"
    return Response(403, message.encode(), {"Content-Type": "text/plain"})
