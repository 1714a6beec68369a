"""Signed JWT assertions (RFC 7523): the JWT bearer grant's `assertion` and a client's `client_assertion`; and a
GitHub App's JWT, which its installation token request carries as a bearer token.

Signing is PyJWT's (with `cryptography`): RS256 or ES256 with a private key PEM, HS256 with the client secret
(`client_secret_jwt` only). Every assertion gets its own `iat`, `exp` and a random `jti`, so two requests never
carry the same one. Key and certificate problems raise a `ConfigError` naming the field, never the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jwt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from airflow_provider_authapi.auth.errors import ConfigError

if TYPE_CHECKING:
    from airflow_provider_authapi.auth.config import OAuth2Config

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ASSERTION_AUTHS = ("private_key_jwt", "client_secret_jwt")  # `client_auth` values that sign an assertion
MIN_RSA_BITS = 2048  # RFC 7518 section 3.3
MIN_HMAC_BYTES = 32  # RFC 7518 section 3.2: a key at least as long as the SHA-256 output
GITHUB_APP_BACKDATE = 60.0  # a GitHub App JWT's `iat`, this many seconds ago
GITHUB_APP_MAX_JWT_LIFETIME = 600.0  # GitHub refuses an `exp` more than 10 minutes ahead
# Claims each assertion sets itself: extra claims may not replace them.
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat", "nbf", "jti"})
# What a Google service-account JSON key must hold for the JWT bearer grant (`private_key_id` is optional).
SERVICE_ACCOUNT_KEYS = ("client_email", "private_key", "token_uri")

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
RSA_ALGORITHMS = ("RS256", "PS256")  # what an RSA key signs (PS256: DPoP proofs only)


def load_private_key(pem: str, algorithm: str, field: str, algorithm_field: str = "assertion_algorithm") -> SigningKey:
    """The unencrypted RSA (RS256, PS256), P-256 (ES256) or, for `algorithm` EdDSA, Ed25519 private key in `pem`; a
    `ConfigError` on `field` otherwise, or on `algorithm_field` when the key does not sign with `algorithm`."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        raise ConfigError(field, "is an encrypted private key: give it unencrypted (PKCS#8 or PKCS#1 PEM)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(field, "is not a PEM private key (-----BEGIN PRIVATE KEY----- ...)") from None
    if isinstance(key, rsa.RSAPrivateKey):
        kind, wants = f"an RSA {key.key_size}-bit key", algorithm if algorithm in RSA_ALGORITHMS else "RS256"
        if algorithm == wants and key.key_size < MIN_RSA_BITS:
            raise ConfigError(field, f"is {kind}: {wants} needs at least {MIN_RSA_BITS} bits")
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        kind, wants = f"an EC {key.curve.name} key", "ES256" if isinstance(key.curve, ec.SECP256R1) else ""
    elif isinstance(key, ed25519.Ed25519PrivateKey) and algorithm == "EdDSA":
        kind, wants = "an Ed25519 key", "EdDSA"
    else:
        raise ConfigError(field, f"is a {type(key).__name__.removesuffix('PrivateKey')} key: use an RSA or P-256 key")
    if algorithm != wants:
        suggestion = f" (use {wants})" if wants else " (ES256 needs the P-256 curve)"
        raise ConfigError(algorithm_field, f"{algorithm} does not sign with {kind}{suggestion}")
    return key  # type: ignore[return-value]


def load_certificate(pem: str, key: SigningKey, field: str) -> x509.Certificate:
    """The X.509 certificate in `pem`, which must hold the public half of `key`."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise ConfigError(field, "is not a PEM certificate (-----BEGIN CERTIFICATE----- ...)") from None
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if certificate.public_key().public_bytes(*public) != key.public_key().public_bytes(*public):
        raise ConfigError(field, "is not the certificate of the assertion private key")
    return certificate


def service_account_key(text: str, field: str = "service_account_json") -> dict[str, str]:
    """The `client_email`, `private_key`, `private_key_id` and `token_uri` of a Google service-account JSON key.

    Anything wrong is a `ConfigError` on `field` that says what, never a value of the key."""
    try:
        key = json.loads(text)
    except ValueError as exc:
        why = f"{exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else "undecodable"
        raise ConfigError(field, f"is not valid JSON ({why}): paste the whole key file") from None
    if not isinstance(key, dict):
        raise ConfigError(field, "must be a JSON object: paste the whole key file")
    if key.get("type", "service_account") != "service_account":
        raise ConfigError(field, f"is a {str(key['type'])[:40]!r} key, not a service_account key")
    missing = [name for name in SERVICE_ACCOUNT_KEYS if not isinstance(key.get(name), str) or not key[name]]
    if missing:
        raise ConfigError(field, f"lacks {', '.join(missing)}: paste the whole key file")
    if not key["token_uri"].startswith(("https://", "http://")):
        raise ConfigError(field, "has a token_uri that is not an http(s) URL")
    load_private_key(key["private_key"], "RS256", field)  # Google's keys are RSA
    found = {name: key[name] for name in SERVICE_ACCOUNT_KEYS}
    return {**found, "private_key_id": str(key.get("private_key_id") or "")}


def certificate_thumbprint(certificate: x509.Certificate) -> str:
    """The JWS `x5t#S256` header: base64url (unpadded) of the SHA-256 of the certificate's DER."""
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class AssertionSigner:
    """Signs short-lived JWTs with one key: claims in, a compact JWS with fresh `iat`, `exp` and `jti` out."""

    def __init__(
        self,
        key: SigningKey | str,
        algorithm: str,
        *,
        lifetime: float,
        headers: Mapping[str, str] | None = None,
        backdate: float = 0.0,
    ) -> None:
        self._key = key
        self.algorithm = algorithm
        self.lifetime = lifetime  # seconds from `iat` to `exp`
        self.headers = dict(headers or {})
        self.backdate = backdate  # `iat` this many seconds in the past: room for a server clock behind ours

    def __repr__(self) -> str:
        return (
            f"AssertionSigner(algorithm={self.algorithm!r}, lifetime={self.lifetime!r}, headers={self.headers!r}, "
            f"backdate={self.backdate!r})"
        )

    def sign(self, claims: Mapping[str, Any]) -> str:
        issued = int(time.time() - self.backdate)
        payload = {**claims, "iat": issued, "exp": issued + int(self.lifetime), "jti": secrets.token_urlsafe(18)}
        return jwt.encode(payload, self._key, algorithm=self.algorithm, headers=self.headers or None)


def key_signer(cfg: OAuth2Config) -> AssertionSigner:
    """The signer of the private key: RS256 or ES256, with the `kid` and `x5t#S256` headers when configured."""
    if not cfg.assertion_private_key:
        raise ConfigError("assertion_private_key", "is required")
    key = load_private_key(cfg.assertion_private_key, cfg.assertion_algorithm, "assertion_private_key")
    headers = {"kid": cfg.assertion_kid} if cfg.assertion_kid else {}
    if cfg.assertion_cert_pem:
        certificate = load_certificate(cfg.assertion_cert_pem, key, "assertion_cert_pem")
        headers["x5t#S256"] = certificate_thumbprint(certificate)
    return AssertionSigner(key, cfg.assertion_algorithm, lifetime=cfg.assertion_lifetime, headers=headers)


def github_app_signer(cfg: OAuth2Config) -> AssertionSigner:
    """The signer of a GitHub App's JWT: RS256 with the app's private key, `iat` a minute in the past (GitHub's
    advice, for clock drift), `exp` the assertion lifetime after it (GitHub refuses more than 10 minutes)."""
    if not cfg.assertion_private_key:
        raise ConfigError("assertion_private_key", "is required: the GitHub App's private key (PEM)")
    try:
        key = load_private_key(cfg.assertion_private_key, "RS256", "assertion_private_key")
    except ConfigError as exc:
        if exc.field == "assertion_private_key":
            raise
        raise ConfigError("assertion_private_key", "is not an RSA key: GitHub Apps sign with RS256 only (paste the "
                          ".pem file the app's settings generated)") from None  # fmt: skip
    return AssertionSigner(key, "RS256", lifetime=cfg.assertion_lifetime, backdate=GITHUB_APP_BACKDATE)


def github_app_jwt(cfg: OAuth2Config, signer: AssertionSigner) -> str:
    """The app's JWT, `iss` its App ID or its client ID (a string: GitHub takes the App ID's digits as well)."""
    return signer.sign({"iss": (cfg.assertion_issuer or cfg.client_id).strip()})


def client_signer(cfg: OAuth2Config) -> AssertionSigner:
    """The signer of the client's `client_assertion` (`client_auth` one of `CLIENT_ASSERTION_AUTHS`)."""
    if cfg.client_auth == "private_key_jwt":
        return key_signer(cfg)
    return AssertionSigner(cfg.client_secret or "", "HS256", lifetime=cfg.assertion_lifetime)


def assertion_audience(cfg: OAuth2Config) -> str:
    """`aud` of every assertion: the configured audience, else the token URL."""
    return cfg.assertion_audience or cfg.token_url


def grant_assertion_form(cfg: OAuth2Config, signer: AssertionSigner) -> dict[str, str]:
    """The JWT bearer grant's `assertion` (RFC 7523 section 2.1): `iss`, `sub`, `aud`, optional `scope`, extras."""
    issuer = cfg.assertion_issuer or cfg.client_id
    claims: dict[str, Any] = dict(cfg.assertion_claims)
    if cfg.assertion_scope_claim and cfg.scopes:
        claims["scope"] = cfg.scope
    claims.update(iss=issuer, sub=cfg.assertion_subject or issuer, aud=assertion_audience(cfg))
    return {"assertion": signer.sign(claims)}


def client_assertion_form(cfg: OAuth2Config, signer: AssertionSigner) -> dict[str, str]:
    """The form fields of a client assertion (RFC 7523 section 2.2): `iss` = `sub` = the client id."""
    claims = {"iss": cfg.client_id, "sub": cfg.client_id, "aud": assertion_audience(cfg)}
    return {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": signer.sign(claims)}
