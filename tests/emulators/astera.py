"""Astera server API: HTTPS on a self-signed certificate, a user name and password posted for a bearer token.

As documented at https://documentation.astera.com (Astera's Server API documentation):

- `POST /api/account/login` with JSON `{"user": ..., "password": ..., "rememberMe": true}` -> a bearer token with
  a validity period. The documentation does not show the answer; we read it as the OWIN token response the
  .NET server sends: `{"access_token", "token_type": "bearer", "expires_in", "userName"}`. A wrong user or
  password gets 400 `{"error": "invalid_grant", "error_description": ...}`.
- `GET /api/ServerInfo` and `GET /api/Job/{id}/Status` with `Authorization: Bearer <token>`; a missing or
  expired token gets 401.

The server listens on `https://<server>:9260` with the certificate made at install, usually self-signed: the
emulator serves HTTPS with a fresh self-signed certificate, so a client must trust it (`ca_cert_pem`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests.emulators.base import Request, Response, self_signed_cert
from tests.emulators.tokens import TokenApi, TokenRegistry, bearer_refusal, form_or_json, oauth_error

JOB_STATUSES = ("Unknown", "Invalid", "NotStarted", "Queued", "Initializing", "Running", "Completed")


class AsteraEmulator(TokenApi):
    token_paths = ("/api/account/login",)

    def __init__(
        self,
        user: str = "admin",
        password: str = "Admin123-astera-pass",
        *,
        tls: tuple[str, str],
        validity: float = 1200,
        **kwargs: Any,
    ) -> None:
        self.user, self.password = user, password
        self.cert_path = tls[0]
        super().__init__(tls=tls, **kwargs)
        self.tokens = TokenRegistry(self.clock, validity, prefix="astera")
        self.validity = validity

    @classmethod
    def standalone(cls, **kwargs: Any) -> AsteraEmulator:
        """With a self-signed certificate in a fresh temporary directory."""
        return cls(tls=self_signed_cert(tempfile.mkdtemp(prefix="astera-cert-")), **kwargs)

    @property
    def ca_cert_pem(self) -> str:
        return Path(self.cert_path).read_text()

    def setup_routes(self) -> None:
        self.route("POST", "/api/account/login", self.login)
        self.route("GET", "/api/ServerInfo", self.server_info)
        self.route("GET", r"/api/Job/(?P<job>\d+)/Status", self.job_status)

    def login(self, request: Request) -> Response:
        body = form_or_json(request)
        if (body.get("user"), body.get("password")) != (self.user, self.password):
            return oauth_error("invalid_grant", "The user name or password is incorrect.")
        token = self.tokens.issue(self.user, remember=bool(body.get("rememberMe")))
        return Response.json(
            {"access_token": token, "token_type": "bearer", "expires_in": int(self.validity), "userName": self.user},
            headers={"Cache-Control": "no-cache"},
        )

    def _refused(self, request: Request) -> Response | None:
        return bearer_refusal(request, self.tokens.check, "The token has expired")

    def server_info(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        return Response.json(
            {
                "ServerName": "ASTERA-ETL-01",
                "Version": "11.1.0.412",
                "Edition": "Enterprise",
                "Port": 9260,
                "UpTime": "3.04:12:55",
                "LicensedTo": "Example Corp",
                "RepositoryDatabase": "SQL Server",
                "MaxConcurrentJobs": 8,
            }
        )

    def job_status(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        assert request.match is not None
        job = int(request.match["job"])
        return Response.json({"JobId": job, "Status": JOB_STATUSES[job % len(JOB_STATUSES)]})

    def describe(self) -> dict[str, Any]:
        return {
            "system": "Astera server API",
            "url": self.url,
            "credentials": {"user (login)": self.user, "password": self.password},
            "connection": {
                "conn_type": "authapi_token",
                "host": self.url,
                "login": self.user,
                "password": self.password,
                "extra": {"profile": "astera", "ca_cert_pem": self.ca_cert_pem},
            },
        }
