"""Okta with DPoP (RFC 9449) required: the org authorization server's token endpoint and one Okta API route, each
checking a request's DPoP proof as Okta does.

`OktaDPoPEmulator` adds to `JwtOAuth2Server` (client authentication by Basic header, body or a signed client
assertion, as configured; grants client_credentials, refresh_token and the others):
- `POST /oauth2/v1/token` wants a `DPoP` header: one compact JWS whose header has `typ: dpop+jwt`, an asymmetric
  `alg` and a public `jwk` (no private member) whose key verifies the signature; claims `htm` = POST, `htu` = this
  endpoint's URL, `iat` within 5 minutes of now, a `jti` never seen before and the server's current `nonce`. A
  proof without that nonce is answered `400 {"error": "use_dpop_nonce"}` with the nonce in `DPoP-Nonce` (Okta's
  first answer to every client); any other fault is `400 invalid_dpop_proof`. The tokens answered are DPoP tokens
  (`token_type: DPoP`): the access token a JWT whose `cnf.jkt` is the RFC 7638 thumbprint of the proof's key, the
  refresh token bound to that thumbprint too (a refresh proved with another key is `invalid_grant`).
- `GET /api/v1/users` wants `Authorization: DPoP <token>` (a bound token sent as Bearer is refused) and a proof as
  above for its own method and URL, with the resource server's nonce (another than the token endpoint's; first
  answer `401 WWW-Authenticate: DPoP error="use_dpop_nonce"`), `ath` the SHA-256 of the token, and a key whose
  thumbprint is the token's `cnf.jkt`. Faults are 401 with a `WWW-Authenticate: DPoP` challenge.

`refusals` says why each proof was refused, `proofs` holds the header and claims of every accepted one,
`rotate_nonces` gives both servers new nonces. Times of proofs are wall-clock times (the client's clock does not
move with `advance`); tokens expire on the emulator's clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from typing import Any

import jwt

from tests.emulators.base import Request, Response
from tests.emulators.jwt_oauth2 import JwtOAuth2Server
from tests.emulators.tokens import JwtIssuer, oauth_error

TOKEN_PATH = "/oauth2/v1/token"
USERS_PATH = "/api/v1/users"
PROOF_ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")
PROOF_MAX_AGE = 300  # seconds an `iat` may lie behind (or ahead of) this server's clock
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
USERS = [
    {"id": "00u1", "profile": {"login": "ann@example.com"}},
    {"id": "00u2", "profile": {"login": "bo@example.com"}},
]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the JSON of the key type's required members, sorted, no whitespace (computed here
    independently of the provider)."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


class ProofError(Exception):
    """Why a proof is refused; `nonce` when the fault is the missing or stale nonce."""

    def __init__(self, why: str, nonce: bool = False) -> None:
        super().__init__(why)
        self.nonce = nonce


class OktaDPoPEmulator(JwtOAuth2Server):
    token_paths = (TOKEN_PATH,)

    def __init__(self, *args: Any, resource_nonce: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, scopes=("okta.users.read", "offline_access"), **kwargs)
        self.jwts = JwtIssuer(self.clock, self.access.lifetime, issuer="https://okta.emulator")
        self.token_nonce, self.resource_nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.resource_nonce_required = resource_nonce
        self.jtis: set[str] = set()
        self.proofs: list[dict[str, Any]] = []  # {"header", "claims", "path"} of every accepted proof
        self.nonce_challenges = {"token": 0, "resource": 0}
        self._jkt = ""  # the thumbprint of the key of the token request being answered, under `_answering`
        self._answering = threading.Lock()

    def setup_routes(self) -> None:
        self.route("POST", TOKEN_PATH, self.token)
        self.route("GET", USERS_PATH, self.list_users)

    # -- test controls -------------------------------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.url}{TOKEN_PATH}"

    def rotate_nonces(self) -> None:
        """New nonces at both servers: a proof with an old one is answered use_dpop_nonce again."""
        self.token_nonce, self.resource_nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)

    # -- endpoints -------------------------------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        try:
            jkt = self.check_proof(request, TOKEN_PATH, self.token_nonce)
        except ProofError as exc:
            if exc.nonce:
                self.nonce_challenges["token"] += 1
                error = oauth_error("use_dpop_nonce", "Authorization server requires nonce in DPoP proof.")
                error.headers["DPoP-Nonce"] = self.token_nonce
                return error
            return oauth_error("invalid_dpop_proof", str(exc))
        form = request.form()
        if form.get("grant_type") == "refresh_token":
            issued = self.refresh.check(form.get("refresh_token"))
            if issued is not None and issued.data.get("jkt") != jkt:
                return self._invalid_grant("the refresh token is bound to another DPoP key")
        with self._answering:
            self._jkt = jkt
            return super().token(request)

    def list_users(self, request: Request) -> Response:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "dpop" or not token:
            return self.challenge("invalid_token", "DPoP-bound tokens go as Authorization: DPoP <token>")
        claims = self.jwts.check(token)
        if claims is None:
            return self.challenge("invalid_token", "The access token is invalid or expired.")
        nonce = self.resource_nonce if self.resource_nonce_required else None
        try:
            jkt = self.check_proof(request, USERS_PATH, nonce, access_token=token)
        except ProofError as exc:
            if exc.nonce:
                self.nonce_challenges["resource"] += 1
                return self.challenge("use_dpop_nonce", "Resource server requires nonce in DPoP proof.", nonce=True)
            return self.challenge("invalid_dpop_proof", str(exc))
        if (claims.get("cnf") or {}).get("jkt") != jkt:
            self.refusals.append("the proof's key is not the one the token is bound to")
            return self.challenge("invalid_dpop_proof", "The DPoP proof's key does not match the access token.")
        if "okta.users.read" not in str(claims.get("scope", "")).split():
            return Response.json({"errorCode": "E0000006", "errorSummary": "insufficient scope"}, status=403)
        return Response.json(USERS)

    # -- checking a proof ------------------------------------------------------------------------------------------

    def check_proof(self, request: Request, path: str, nonce: str | None, access_token: str | None = None) -> str:
        """The thumbprint of the key of a proof every check accepts; a `ProofError` saying why not otherwise."""
        try:
            return self._check_proof(request, path, nonce, access_token)
        except ProofError as exc:
            self.refusals.append(str(exc))
            raise

    def _check_proof(self, request: Request, path: str, nonce: str | None, access_token: str | None) -> str:
        proof = request.header("dpop")
        if not proof:
            raise ProofError("The DPoP proof JWT header is missing.")
        if "," in proof or proof.count(".") != 2:
            raise ProofError("The DPoP header must hold exactly one compact JWT.")
        try:
            header = jwt.get_unverified_header(proof)
        except jwt.PyJWTError:
            raise ProofError("The DPoP proof is not a JWT.") from None
        if header.get("typ") != "dpop+jwt":
            raise ProofError(f"The DPoP proof's typ is {header.get('typ')!r}, not dpop+jwt.")
        if header.get("alg") not in PROOF_ALGORITHMS:
            raise ProofError(f"The DPoP proof's alg {header.get('alg')!r} is not supported.")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or any(name in jwk for name in PRIVATE_JWK_MEMBERS):
            raise ProofError("The DPoP proof's jwk header is missing or holds a private key.")
        try:
            key = jwt.PyJWK(jwk, algorithm=header["alg"]).key
            claims = jwt.decode(proof, key, algorithms=[header["alg"]], options={"verify_aud": False})
        except (jwt.PyJWTError, KeyError, ValueError, TypeError):
            raise ProofError("The DPoP proof's signature does not verify with its jwk.") from None
        if claims.get("htm") != request.method:
            raise ProofError(f"The DPoP proof's htm {claims.get('htm')!r} is not {request.method}.")
        if claims.get("htu") != f"{self.url}{path}":
            raise ProofError(f"The DPoP proof's htu {claims.get('htu')!r} is not this endpoint's URL.")
        iat = claims.get("iat")
        if not isinstance(iat, int) or abs(time.time() - iat) > PROOF_MAX_AGE:
            raise ProofError("The DPoP proof's iat is missing or more than 5 minutes away from now.")
        if not isinstance(claims.get("jti"), str) or not claims["jti"]:
            raise ProofError("The DPoP proof has no jti.")
        if access_token is not None:
            expected = b64url(hashlib.sha256(access_token.encode()).digest())
            if claims.get("ath") != expected:
                raise ProofError("The DPoP proof's ath is not the hash of the access token.")
        if nonce is not None and claims.get("nonce") != nonce:
            raise ProofError("The DPoP proof's nonce is missing or stale.", nonce=True)
        with self.lock:
            if claims["jti"] in self.jtis:
                raise ProofError("The DPoP proof's jti has been used before.")
            self.jtis.add(claims["jti"])
            self.proofs.append({"header": header, "claims": claims, "path": path})
        return thumbprint(jwk)

    def challenge(self, error: str, description: str, nonce: bool = False) -> Response:
        """401 with a `WWW-Authenticate: DPoP` challenge (and the resource nonce when asked for)."""
        headers = {"WWW-Authenticate": f'DPoP algs="{" ".join(PROOF_ALGORITHMS)}", error="{error}", '
                   f'error_description="{description}"'}  # fmt: skip
        if nonce:
            headers["DPoP-Nonce"] = self.resource_nonce
        return Response.json({"errorCode": "E0000011", "errorSummary": "Invalid token provided"}, 401, headers)

    # -- DPoP tokens -------------------------------------------------------------------------------------------------

    def _tokens(self, subject: str, scope: str, *, refresh: bool) -> Response:
        jkt = self._jkt
        body: dict[str, Any] = {
            "access_token": self.jwts.issue(subject, scope=scope, cid=self.client_id, cnf={"jkt": jkt}),
            "token_type": "DPoP",
            "expires_in": int(self.access.lifetime),
            "scope": scope,
        }
        if refresh:
            body["refresh_token"] = self.refresh.issue(subject, scope=scope, jkt=jkt)
        return Response.json(body, headers={"Cache-Control": "no-store"})
