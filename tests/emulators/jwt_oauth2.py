"""An OAuth 2.0 server that takes signed JWT assertions (RFC 7523) and checks them as a real server does.

`JwtOAuth2Server` adds to `OAuth2Server`:
- the JWT bearer grant (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`): the `iss` must
  be registered (`register_issuer`), the JWT signed RS256 or ES256 by one of its keys, the `sub` one of its
  subjects; the scope comes from the form or the `scope` claim; no refresh token is issued.
- client assertions (`client_auth="private_key_jwt"` or `"client_secret_jwt"`): `client_assertion_type` and a
  `client_assertion` signed by a registered client key (`register_client_key`, RS256/ES256) or with the client
  secret (HS256), with `iss` = `sub` = the client id; no second client authentication beside it.

Every assertion: `alg` allowed for its key, a valid signature, `aud` equal to `assertion_audience` (default: the
token URL), `exp` in the future and at most `max_assertion_lifetime` ahead, `iat` present and not in the future,
`jti` never seen before, and `x5t#S256` equal to the registered certificate's thumbprint when a certificate was
registered. A refused grant assertion is `invalid_grant`; a refused client assertion is `invalid_client` (RFC 7523
section 3.2). Times are wall-clock times: the movable token clock (`advance`) does not move the client's clock
either. `refusals` says why each assertion was refused.

Keys and certificates for tests are made here at test time (`new_key`, `certificate_pem`): none is committed.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.emulators.base import Request, Response
from tests.emulators.oauth2_server import OAuth2Server
from tests.emulators.tokens import oauth_error

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti")
CLOCK_SKEW = 60  # seconds an `iat` or `nbf` may lie ahead of this server's clock


@dataclass
class KeyPair:
    """A private key made for one test run: its PEM (what a connection holds) and its public half."""

    algorithm: str  # RS256 or ES256
    private_key: Any = field(repr=False)

    @property
    def pem(self) -> str:
        encoding, private = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
        return self.private_key.private_bytes(encoding, private, serialization.NoEncryption()).decode()

    @property
    def public_key(self) -> Any:
        return self.private_key.public_key()


def new_key(algorithm: str = "RS256") -> KeyPair:
    """A fresh RSA 2048 (RS256) or P-256 (ES256) key."""
    if algorithm == "RS256":
        return KeyPair(algorithm, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return KeyPair(algorithm, ec.generate_private_key(ec.SECP256R1()))


def certificate_pem(key: KeyPair, name: str = "authapi-test") -> str:
    """A self-signed certificate of `key`, as an app registration (Entra ID) holds it."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key.private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def thumbprint_s256(pem: str) -> str:
    """`x5t#S256` of a certificate, computed here independently of the provider."""
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


@dataclass
class Signer:
    """Who may sign assertions: verification keys (public keys, or the client secret for HS256), the subjects
    it may name, and the certificate it registered, if any."""

    keys: list[Any]
    subjects: set[str]
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    certificate_pem: str | None = None


class JwtOAuth2Server(OAuth2Server):
    def __init__(
        self,
        *args: Any,
        client_auth: str = "private_key_jwt",
        assertion_audience: str | None = None,
        max_assertion_lifetime: float = 3600,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, client_auth=client_auth, **kwargs)
        self.assertion_audience = assertion_audience
        self.max_assertion_lifetime = max_assertion_lifetime
        self.client = Signer([], {self.client_id})
        self.issuers: dict[str, Signer] = {}
        self.seen_jtis: set[tuple[str, str]] = set()
        self.refusals: list[str] = []
        self.assertions: list[dict[str, Any]] = []  # the claims of every accepted assertion
        self.lost_answers = 0  # JWT bearer grants to accept (and record the jti of) but answer 503

    # -- test controls -------------------------------------------------------------------------------------------

    def register_client_key(self, key: KeyPair, certificate: str | None = None) -> None:
        """Accept client assertions signed with `key` (and, with a certificate, carrying its `x5t#S256`)."""
        self.client.keys.append(key.public_key)
        self.client.certificate_pem = certificate

    def register_issuer(
        self, issuer: str, key: KeyPair, subjects: tuple[str, ...] = (), certificate: str | None = None
    ) -> None:
        """Accept JWT bearer grants from `issuer` signed with `key`, naming one of `subjects` (default: itself)."""
        self.issuers[issuer] = Signer([key.public_key], set(subjects or (issuer,)), certificate_pem=certificate)

    def fail_after_check(self, count: int) -> None:
        """The next `count` JWT bearer grants pass every check (their `jti` is used up), then answer 503: the
        answer lost on the way, as a client retrying it sees."""
        self.lost_answers = count

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    # -- endpoints -------------------------------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        form = request.form()
        if form.get("grant_type") != JWT_BEARER:
            return super().token(request)
        refused = self.refusal(request, form)
        if refused is not None:
            return refused
        claims = self.verify(form.get("assertion"), self.issuers)
        if claims is None:
            return self._invalid_grant(self.refusals[-1])
        with self.lock:
            lost, self.lost_answers = self.lost_answers > 0, max(0, self.lost_answers - 1)
        if lost:
            return Response(503, b"<html>upstream timed out</html>", {"Content-Type": "text/html"})
        scope = form.get("scope") or str(claims.get("scope") or "")
        if scope and not set(scope.split()) <= self.scopes:
            return oauth_error("invalid_scope", f"unknown scope in {scope!r}")
        return self._tokens(claims["sub"], scope, refresh=False)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        if "client_assertion_type" not in form and "client_assertion" not in form:
            no_client_auth = request.basic_auth() is None and "client_id" not in form
            if form.get("grant_type") == JWT_BEARER and no_client_auth:
                return True  # client authentication is optional for the JWT bearer grant (RFC 7523 section 3.1)
            return super()._client_ok(request, form)
        problem = self._client_assertion_problem(request, form)
        if problem:
            self._refuse(problem)
            return False
        signer = self.client
        if self.client_auth == "client_secret_jwt":
            signer = Signer([self.client_secret], {self.client_id}, ("HS256",))
        return self.verify(form.get("client_assertion"), {self.client_id: signer}) is not None

    def _client_assertion_problem(self, request: Request, form: dict[str, str]) -> str | None:
        if self.client_auth not in ("private_key_jwt", "client_secret_jwt", "any"):
            return "this client does not authenticate with an assertion"
        if form.get("client_assertion_type") != CLIENT_ASSERTION:
            return f"client_assertion_type is not {CLIENT_ASSERTION}"
        if request.basic_auth() is not None or "client_secret" in form:
            return "more than one client authentication method (RFC 6749 section 2.3)"
        if form.get("client_id", self.client_id) != self.client_id:
            return "client_id is not the assertion's client"
        return None

    # -- checking an assertion -----------------------------------------------------------------------------------

    def verify(self, assertion: str | None, signers: dict[str, Signer]) -> dict[str, Any] | None:
        """The claims of an assertion every check accepts; None (the reason in `refusals`) otherwise."""
        try:
            header = jwt.get_unverified_header(assertion or "")
            issuer = jwt.decode(assertion or "", options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            return self._refuse("not a JWT")
        signer = signers.get(str(issuer))
        if signer is None:
            return self._refuse(f"unknown issuer {issuer!r}")
        if header.get("alg") not in signer.algorithms:
            return self._refuse(f"alg {header.get('alg')!r} is not accepted (only {', '.join(signer.algorithms)})")
        claims = self._signed_claims(assertion or "", header["alg"], signer)
        if claims is None:
            return self._refuse("the signature does not verify with any registered key")
        if signer.certificate_pem and header.get("x5t#S256") != thumbprint_s256(signer.certificate_pem):
            return self._refuse("x5t#S256 is not the thumbprint of the registered certificate")
        problem = self._claims_problem(claims, signer)
        if problem:
            return self._refuse(problem)
        with self.lock:
            replayed = (claims["iss"], claims["jti"]) in self.seen_jtis
            if not replayed:
                self.seen_jtis.add((claims["iss"], claims["jti"]))
                self.assertions.append(claims)
        return self._refuse("jti replayed: this assertion was used before") if replayed else claims

    def _signed_claims(self, assertion: str, algorithm: str, signer: Signer) -> dict[str, Any] | None:
        for key in signer.keys:
            try:
                return jwt.decode(
                    assertion,
                    key,
                    algorithms=[algorithm],
                    options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
                )
            except (jwt.PyJWTError, ValueError, TypeError):
                continue
        return None

    def _claims_problem(self, claims: dict[str, Any], signer: Signer) -> str | None:
        missing = [name for name in REQUIRED_CLAIMS if name not in claims]
        if missing:
            return f"missing claims: {', '.join(missing)}"
        if claims["sub"] not in signer.subjects:
            return f"sub {claims['sub']!r} is not allowed for issuer {claims['iss']!r}"
        audience = self.assertion_audience or self.token_url
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if audience not in audiences:
            return f"aud {claims['aud']!r} is not {audience!r}"
        now = time.time()
        if not all(isinstance(claims[name], int | float) for name in ("exp", "iat")):
            return "exp and iat must be numbers"
        if claims["exp"] <= now:
            return "the assertion has expired"
        if claims["exp"] > now + self.max_assertion_lifetime:
            return f"exp is more than {self.max_assertion_lifetime:.0f} s ahead"
        if claims["iat"] > now + CLOCK_SKEW or claims.get("nbf", 0) > now + CLOCK_SKEW:
            return "iat or nbf lies in the future"
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            return "jti must be a non-empty string"
        return None

    def _refuse(self, why: str) -> None:
        with self.lock:
            self.refusals.append(why)
        return None
