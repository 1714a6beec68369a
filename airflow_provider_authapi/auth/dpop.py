"""DPoP (RFC 9449): proofs of possession of a private key, for OAuth 2.0 tokens bound to that key.

A `DPoPProver` holds the connection's key and signs one proof JWT per HTTP request: header `typ: dpop+jwt`, the
`alg` and the public key as a `jwk`; claims a random `jti`, the request's method (`htm`) and URL without query and
fragment (`htu`, section 4.2), `iat`, and, where the server gave one, its `nonce`; a proof for a resource request
also carries `ath`, the base64url SHA-256 of the access token (section 4.3). Signing and the JWK are PyJWT's.

The nonces (section 8 for the authorization server, section 9 for a resource server) are answered here as well:
`nonce_of` reads a `DPoP-Nonce` header, `token_nonce_asked` and `resource_nonce_asked` say whether an answer is the
server's request to send the request again with it. Where nonces are kept (per origin) is the caller's business:
the token endpoint's in its `grants.OAuth2Grant`, the resource servers' in `client.DPoPTokenAuth`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from typing import Any, Literal

import httpx
import jwt

from airflow_provider_authapi.auth.assertions import SigningKey, load_private_key
from airflow_provider_authapi.auth.errors import ConfigError

DPoPAlgorithm = Literal["ES256", "RS256", "PS256", "EdDSA"]
DPOP_HEADER = "DPoP"
NONCE_HEADER = "DPoP-Nonce"
USE_DPOP_NONCE = "use_dpop_nonce"
TOKEN_TYPE = "DPoP"  # the `token_type` of a bound token, and the `Authorization` scheme it is sent with
PROOF_TYPE = "dpop+jwt"
MAX_NONCE_CHARS = 1024  # longer `DPoP-Nonce` values are not taken into a proof
_NONCE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 9449 section 8.1: 1*NQCHAR
# RFC 7638 section 3.2: the members of each key type that its thumbprint covers.
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(access_token: str) -> str:
    """`ath`: base64url (unpadded) of the SHA-256 of the access token's ASCII (RFC 9449 section 4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def proof_url(url: str | httpx.URL) -> str:
    """`htu`: the request URL without user info, query and fragment (RFC 9449 section 4.2)."""
    return str(httpx.URL(url).copy_with(userinfo=b"", query=None, fragment=None))


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK (what a bound token's `cnf.jkt` holds): neither PyJWT nor
    `cryptography` computes one, so it is the RFC's canonical JSON of the required members, hashed."""
    members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def load_key(pem: str, algorithm: str, field: str = "dpop_private_key") -> SigningKey:
    """The DPoP private key: `assertions.load_private_key`'s rules, errors naming `field` or `dpop_algorithm`."""
    return load_private_key(pem, algorithm, field, algorithm_field="dpop_algorithm")


class DPoPProver:
    """Signs DPoP proofs with one private key. The key never shows in `repr()`: its public thumbprint does."""

    def __init__(self, key: SigningKey, algorithm: DPoPAlgorithm) -> None:
        self._key = key
        self.algorithm = algorithm
        public = jwt.get_algorithm_by_name(algorithm).to_jwk(key.public_key(), as_dict=True)  # type: ignore[attr-defined]
        self.jwk: dict[str, Any] = {name: public[name] for name in THUMBPRINT_MEMBERS[public["kty"]]}
        self.thumbprint = jwk_thumbprint(self.jwk)

    @classmethod
    def from_pem(cls, pem: str | None, algorithm: DPoPAlgorithm, field: str = "dpop_private_key") -> DPoPProver:
        if not pem:
            raise ConfigError(field, "is required with dpop on: a private key (PEM) of the client's own")
        return cls(load_key(pem, algorithm, field), algorithm)

    def __repr__(self) -> str:
        return f"DPoPProver(algorithm={self.algorithm!r}, jkt={self.thumbprint!r})"

    def proof(
        self, method: str, url: str | httpx.URL, *, access_token: str | None = None, nonce: str | None = None
    ) -> str:
        """A fresh proof for one request: `method` and `url` as sent; `access_token` for a resource request."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(18),
            "htm": method.upper(),
            "htu": proof_url(url),
            "iat": int(time.time()),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token.strip())
        if nonce:
            claims["nonce"] = nonce
        headers = {"typ": PROOF_TYPE, "jwk": self.jwk}
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)  # type: ignore[arg-type]

    def header(self, method: str, url: str | httpx.URL, **kwargs: Any) -> dict[str, str]:
        """`{"DPoP": <proof>}`."""
        return {DPOP_HEADER: self.proof(method, url, **kwargs)}


def nonce_of(response: httpx.Response) -> str | None:
    """The answer's `DPoP-Nonce`, when it is one (RFC 9449 section 8.1: printable ASCII, no quote or backslash)."""
    value = response.headers.get(NONCE_HEADER, "").strip()
    return value if value and len(value) <= MAX_NONCE_CHARS and _NONCE.fullmatch(value) else None


def token_nonce_asked(response: httpx.Response) -> bool:
    """An authorization server's `400 {"error": "use_dpop_nonce"}` with a nonce to use (section 8)."""
    if response.status_code != 400 or nonce_of(response) is None:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == USE_DPOP_NONCE


def resource_nonce_asked(response: httpx.Response) -> bool:
    """A resource server's `401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a nonce (section 9)."""
    if response.status_code != 401 or nonce_of(response) is None:
        return False
    challenge = _challenge(response)
    return challenge is not None and challenge[0] == USE_DPOP_NONCE


def dpop_challenge(response: httpx.Response) -> str | None:
    """The `error` (and its description) of a `WWW-Authenticate: DPoP` challenge, for an error message."""
    challenge = _challenge(response)
    if challenge is None:
        return None
    error, description = challenge
    return f"{error} ({description})" if description else error


_DPOP_CHALLENGE = re.compile(r"(?:^|,)\s*DPoP\s+(.*)", re.IGNORECASE | re.DOTALL)
_CHALLENGE_ERROR = re.compile(r'\berror\s*=\s*"?([\w.-]{1,64})')
_CHALLENGE_DESCRIPTION = re.compile(r'\berror_description\s*=\s*"([^"]{0,200})"')


def _challenge(response: httpx.Response) -> tuple[str, str | None] | None:
    """`(error, error_description)` of the answer's `WWW-Authenticate: DPoP` challenge, if it names an error."""
    for value in response.headers.get_list("www-authenticate"):
        found = _DPOP_CHALLENGE.search(value)
        error = _CHALLENGE_ERROR.search(found.group(1)) if found else None
        if found and error:
            description = _CHALLENGE_DESCRIPTION.search(found.group(1))
            return error.group(1), description.group(1) if description else None
    return None
