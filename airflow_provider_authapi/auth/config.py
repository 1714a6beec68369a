"""Validated, Airflow-free configuration of every auth scheme.

The Airflow layer maps a Connection to one of these; the core turns it into an `httpx.Auth`.
Secret-bearing fields are excluded from `repr()`.

These dataclasses hold the only copy of every default and of every choice (the `Literal` types): the connection
form and the connection mapping (`connections.fields`) read them through the attribute each field fills.
"""

from __future__ import annotations

import hashlib
import importlib
import ipaddress
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Literal, get_args

import httpx

from airflow_provider_authapi.auth.assertions import (
    CLIENT_ASSERTION_AUTHS,
    GITHUB_APP_MAX_JWT_LIFETIME,
    MIN_HMAC_BYTES,
    RESERVED_CLAIMS,
    github_app_signer,
    key_signer,
    service_account_key,
)
from airflow_provider_authapi.auth.dpop import TOKEN_TYPE, DPoPAlgorithm, DPoPProver
from airflow_provider_authapi.auth.errors import SENSITIVE_NAME, ConfigError

MIN_SIGNATURE_SECRET_LENGTH = 32

GrantType = Literal["client_credentials", "authorization_code", "password", "refresh_token", "jwt_bearer", "github_app"]
ClientAuth = Literal["basic", "body", "private_key_jwt", "client_secret_jwt"]
AssertionAlgorithm = Literal["RS256", "ES256"]  # HS256 only for client_secret_jwt, with the client secret
Location = Literal["header", "query"]
TokenLocation = Literal["header", "query", "cookie"]
RequestFormat = Literal["json", "form"]
CredentialSource = Literal["body", "header", "cookie"]  # where a login's answer carries the token
LifetimeUnit = Literal["seconds", "minutes", "hours"]
LIFETIME_UNIT_SECONDS: dict[str, float] = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0}
BasicScheme = Literal["basic", "digest"]
OAuth1SignatureMethod = Literal["HMAC-SHA256", "HMAC-SHA1"]  # HMAC-SHA1 only when named: NetSuite refuses it

# Defaults that more than one dataclass below shares.
HEADER_NAME = "Authorization"
HEADER_PREFIX = "Bearer"
LOCATION: Location = "header"
DEFAULT_LIFETIME = 3600.0
DEFAULT_LEEWAY = 60.0  # renew this long before expiry (capped at 5% of the lifetime by the token manager)
MAX_ASSERTION_LIFETIME = 3600.0  # servers refuse assertions that live longer (Google: 1 h)
INSTALLATION_ID = "{installation_id}"  # in a GitHub App's token URL: its `installation_id`
GITHUB_PERMISSION_LEVELS = ("read", "write", "admin")


@dataclass(frozen=True)
class TokenPlacement:
    """Where the access token goes on each API request: a header (with a prefix), a query parameter or a cookie."""

    location: TokenLocation = LOCATION
    header_name: str = HEADER_NAME
    prefix: str = HEADER_PREFIX
    query_param: str = "access_token"
    cookie_name: str = ""

    def __post_init__(self) -> None:
        _check_choice("token_placement", self.location, TokenLocation)
        if self.location == "cookie" and not self.cookie_name:
            raise ConfigError("cookie_name", "a cookie name is required to send the token in a cookie")
        fields_of = {"header_name": "header_name", "prefix": "header_prefix", "query_param": "query_param_name"}
        for name, field_name in {**fields_of, "cookie_name": "cookie_name"}.items():
            object.__setattr__(self, name, one_line(field_name, getattr(self, name)))

    def describe(self) -> str:
        """Where the token goes, the token left out: `header 'Authorization: Bearer <token>'`."""
        if self.location == "query":
            return f"query parameter '{self.query_param}=<token>'"
        if self.location == "cookie":
            return f"cookie '{self.cookie_name}=<token>'"
        prefix = f"{self.prefix} " if self.prefix else ""
        return f"header '{self.header_name}: {prefix}<token>'"


@dataclass(frozen=True)
class TLSConfig:
    """TLS settings: verification, a CA bundle for self-signed servers, a client certificate."""

    verify: bool = True
    ca_pem: str | None = field(default=None, repr=False)
    client_cert_pem: str | None = field(default=None, repr=False)
    client_key_pem: str | None = field(default=None, repr=False)


PROXY_SCHEMES = ("http", "https")
_BYPASS_HOST = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


@dataclass(frozen=True)
class ProxyConfig:
    """An HTTP(S) forward proxy every request of the connection goes through: API requests and token, consent
    and revocation requests, sync and async. `url` is `http://host:port` or `https://host:port`; credentials in it
    (`http://user:pass@host:port`) are moved into `username` and `password` and the URL given is kept as a secret
    too. The proxy gets them as `Proxy-Authorization: Basic` (on the CONNECT of an HTTPS target; on every request
    to a plain-http target, which a forward proxy reads anyway). `bypass` lists hosts reached directly, in the
    NO_PROXY convention: `example.com` (and its subdomains; `.example.com` and `*.example.com` alike), an IP
    address, `host:port`, or `*` for every host. The default, no `url`, is no proxy of the connection's own.

    Errors name the connection field (`egress_url`, `egress_username`, `egress_password`, `egress_bypass`:
    Airflow's masker hides every field whose name holds `proxy`), never a credential nor a URL that holds one."""

    url: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    bypass: tuple[str, ...] = ()
    given_secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)  # the URL as given, with userinfo

    def __post_init__(self) -> None:
        given = (self.url or "").strip()
        if not given:
            for name, value in (("egress_username", self.username), ("egress_password", self.password)):
                if value:
                    raise ConfigError(name, "is set but egress_url is empty: give the proxy's URL, or clear this field")
            if any(entry.strip() for entry in self.bypass):
                raise ConfigError("egress_bypass", "is set but egress_url is empty: give the proxy's URL, or clear it")
            object.__setattr__(self, "url", "")
            return
        try:
            parsed = httpx.URL(given)
        except httpx.InvalidURL as exc:
            port = re.search(r"Invalid port: '([^']*)'", str(exc))
            if port:
                raise ConfigError("egress_url", f"has a port out of range ({port.group(1)}; 1 to 65535)") from None
            raise ConfigError("egress_url", "is not a URL such as http://proxy.example.com:3128") from None
        shown = safe_proxy_url(parsed) if parsed.host else "the value given"
        if parsed.scheme not in PROXY_SCHEMES:
            raise ConfigError("egress_url", "must start with http:// or https://, e.g. http://proxy.example.com:3128")
        if not parsed.host:
            raise ConfigError("egress_url", "names no host: give http://host:port")
        if parsed.port is not None and not 0 < parsed.port < 65536:
            raise ConfigError("egress_url", f"has a port out of range ({parsed.port}; 1 to 65535)")
        if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
            raise ConfigError("egress_url", f"is more than a proxy's address ({shown}): give scheme, host and port")
        secrets_given: list[str] = []
        username, password = self.username or None, self.password or None
        if parsed.userinfo:
            if username or password:
                raise ConfigError(
                    "egress_username", "credentials are given both in egress_url and in their own fields: keep one"
                )
            username, password = parsed.username or None, parsed.password or None
            raw_password = parsed.userinfo.decode("ascii", "replace").partition(":")[2]
            secrets_given += [given, raw_password]
        if password and not username:
            raise ConfigError("egress_username", "is required with a proxy password")
        if username and any(char in username for char in ":\r\n\0"):
            raise ConfigError("egress_username", "may not hold a colon, a line break or a NUL")
        object.__setattr__(self, "url", str(parsed.copy_with(userinfo=b"", path="/")).rstrip("/"))
        object.__setattr__(self, "username", username)
        object.__setattr__(self, "password", password)
        object.__setattr__(self, "bypass", tuple(bypass_pattern(entry) for entry in self.bypass if entry.strip()))
        object.__setattr__(self, "given_secrets", tuple(value for value in secrets_given if value))

    def __bool__(self) -> bool:
        """Whether there is a proxy at all."""
        return bool(self.url)

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.username, self.password or "") if self.username else None

    def describe(self) -> str:
        """The proxy as an error message names it: its URL, no credential."""
        return f"proxy {self.url}"


def safe_proxy_url(url: httpx.URL) -> str:
    return str(url.copy_with(userinfo=b"", path="/", query=None, fragment=None)).rstrip("/")


def bypass_pattern(entry: str) -> str:
    """One NO_PROXY-style entry as an httpx mount pattern (`all://*example.com:8443`); an `egress_bypass` error names
    what is wrong with it."""
    text = entry.strip()
    if text == "*":
        return "all://"
    if "://" in text or "/" in text:
        why = "CIDR ranges are not supported, list the hosts" if "/" in text and "://" not in text else "no scheme"
        raise ConfigError("egress_bypass", f"{text!r} is not a host, domain or host:port ({why})")
    host, port = text, ""
    if text.startswith("["):  # [::1] or [::1]:8443
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ConfigError("egress_bypass", f"{text!r} is not a host, domain or host:port")
        port = rest[1:]
    elif text.count(":") > 1:  # a bare IPv6 address
        host = text
    elif ":" in text:
        host, _, port = text.partition(":")
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError("egress_bypass", f"{text!r} has a port out of range (1 to 65535)")
        port = f":{int(port)}"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return f"all://[{address}]{port}" if address.version == 6 else f"all://{address}{port}"
    domain = host.removeprefix("*").removeprefix(".").lower()
    if not _BYPASS_HOST.match(domain):
        raise ConfigError("egress_bypass", f"{text!r} is not a host, domain or host:port")
    return f"all://{domain}{port}" if domain == "localhost" else f"all://*{domain}{port}"


@dataclass(frozen=True)
class SignatureConfig:
    """A header carrying a fresh HS256 JWT, signed with `secret`, on every request."""

    header: str
    secret: str = field(repr=False)
    issuer: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "header", one_line("signature_header", self.header or ""))
        if not self.header:
            raise ConfigError("signature_header", "a header name is required")
        if len(self.secret or "") < MIN_SIGNATURE_SECRET_LENGTH:
            raise ConfigError("signature_secret", f"must be at least {MIN_SIGNATURE_SECRET_LENGTH} characters long")


BUDGET_SHARE = 0.95  # of a stated API limit the deployment aims for: the rest absorbs clock skew and late answers
BUDGET_MAX_BATCH = 50  # send times one turn at the shared budget reserves at most
BUDGET_BATCH_SECONDS = 1.0  # a turn reserves about this many seconds' worth of the budget (at least one request)


@dataclass(frozen=True)
class BudgetConfig:
    """At most `requests` every `period` seconds for the whole deployment (`budget_requests`, `budget_period`);
    shared by `auth/budget.py`'s `SharedBudget`. No `requests`: no shared budget."""

    requests: int | None = None
    period: float = 60.0
    share: float = BUDGET_SHARE

    def __post_init__(self) -> None:
        if self.requests is None:
            return
        if isinstance(self.requests, bool) or not isinstance(self.requests, int) or self.requests < 1:
            raise ConfigError("budget_requests", f"must be a whole number, 1 or more (got {self.requests!r})")
        if not isinstance(self.period, int | float) or not 0 < self.period <= 86_400:
            raise ConfigError("budget_period", f"must be seconds, above 0 and at most a day (got {self.period!r})")
        if not 0 < self.share <= 1:
            raise ConfigError("budget_requests", f"share must be in (0, 1] (got {self.share!r})")

    @property
    def enabled(self) -> bool:
        return self.requests is not None

    @property
    def interval(self) -> float:
        """Seconds between two requests of the deployment."""
        return self.period / (self.share * (self.requests or 1))

    @property
    def batch(self) -> int:
        """Send times reserved in one turn."""
        return max(1, min(BUDGET_MAX_BATCH, math.floor(BUDGET_BATCH_SECONDS / self.interval)))

    def describe(self) -> str:
        return f"{self.requests} requests per {self.period:g} s"


@dataclass(frozen=True)
class CommonConfig:
    """Options every connection type shares.

    `auth` (or its dotted path `auth_class`) is an `httpx.Auth` of the user's own that signs every request after
    the connection's own credentials (`client.build_auth`); a class is built with `settings`. `settings` is what
    a class of the user's own (that auth, a `grants.CustomGrant`) reads of the connection: its host, login,
    password and extras; `secret_settings` names those that are secret (None: those named like one,
    `SECRET_SETTING_NAME`)."""

    base_url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tls: TLSConfig = field(default_factory=TLSConfig)
    timeout: float = 30.0
    signature: SignatureConfig | None = None
    allowed_origins: tuple[str, ...] = ()  # besides the base URL's, origins the credentials may go to
    proxy: ProxyConfig = field(default_factory=ProxyConfig)  # no url: none of its own (the environment's, if any)
    auth_class: str = ""
    auth: Any = field(default=None, repr=False, compare=False)  # an httpx.Auth subclass or instance
    settings: dict[str, Any] = field(default_factory=dict, repr=False)
    secret_settings: tuple[str, ...] | None = field(default=None, repr=False)
    budget: BudgetConfig = field(default_factory=BudgetConfig)  # the deployment-wide API budget (`auth/budget.py`)

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _one_line_values("extra_headers", self.headers))
        object.__setattr__(self, "params", {name: value.strip() for name, value in self.params.items()})
        object.__setattr__(self, "allowed_origins", tuple(_listed_origin(url) for url in self.allowed_origins))
        if self.auth is not None or self.auth_class:
            auth = own_class("auth_class", self.auth if self.auth is not None else self.auth_class, httpx.Auth)
            object.__setattr__(self, "auth", auth)
            object.__setattr__(self, "auth_class", class_path(auth))
        object.__setattr__(self, "settings", dict(self.settings))
        if self.secret_settings is None:
            named = tuple(name for name in self.settings if SECRET_SETTING_NAME.search(name))
            object.__setattr__(self, "secret_settings", named)

    @property
    def settings_view(self) -> Mapping[str, Any]:
        """`settings`, read-only: what a class of the user's own is given."""
        return MappingProxyType(self.settings)

    @property
    def origins(self) -> tuple[str, ...]:
        """Where the connection's credentials may go: its base URL's origin, then `allowed_origins`. A base URL whose
        origin is still a `{name}` placeholder (`{api_domain}/crm`) has none until `derived.resolve` fills it."""
        base = (origin(self.base_url),) if self.base_url and not origin_templated(self.base_url) else ()
        return tuple(dict.fromkeys((*base, *self.allowed_origins)))


@dataclass(frozen=True)
class NoAuthConfig:
    """No authentication."""


@dataclass(frozen=True)
class BasicAuthConfig:
    """HTTP Basic, or HTTP Digest (RFC 7616: the server's challenge answered with MD5 or SHA-256)."""

    username: str
    password: str = field(repr=False)
    http_scheme: BasicScheme = "basic"

    def __post_init__(self) -> None:
        _check_choice("http_scheme", self.http_scheme, BasicScheme)


@dataclass(frozen=True)
class BearerAuthConfig:
    """A static token sent as `<header>: <prefix> <token>`."""

    token: str = field(repr=False)
    header_name: str = HEADER_NAME
    prefix: str = HEADER_PREFIX

    def __post_init__(self) -> None:
        object.__setattr__(self, "token", one_line("token", self.token))
        object.__setattr__(self, "header_name", one_line("header_name", self.header_name))
        object.__setattr__(self, "prefix", one_line("header_prefix", self.prefix))


@dataclass(frozen=True)
class ApiKeyConfig:
    """An API key in a header or query parameter, with an optional prefix."""

    key: str = field(repr=False)
    name: str = "X-API-Key"
    location: Location = LOCATION
    prefix: str = ""

    def __post_init__(self) -> None:
        _check_choice("api_key_location", self.location, Location)
        for name, field_name in (("key", "api_key"), ("name", "api_key_name"), ("prefix", "api_key_prefix")):
            object.__setattr__(self, name, one_line(field_name, getattr(self, name)))
        if not self.name:
            raise ConfigError("api_key_name", "a header or query parameter name is required")


OAUTH1_INSTALL = "pip install 'airflow-provider-authapi[oauth1]'"


def oauthlib_oauth1() -> Any:
    """`oauthlib.oauth1`, which signs OAuth 1.0a requests; a `ConfigError` saying how to install it if missing."""
    try:
        from oauthlib import oauth1
    except ImportError:
        problem = f"OAuth 1.0a signing needs the oauthlib package: {OAUTH1_INSTALL}"
        raise ConfigError("signature_method", problem) from None
    return oauth1


@dataclass(frozen=True)
class OAuth1Config:
    """OAuth 1.0a (RFC 5849) with the token credentials given up front, as NetSuite's token-based authentication:
    no token endpoint. Every request carries `Authorization: OAuth realm="...", oauth_consumer_key, oauth_token,
    oauth_signature_method, oauth_timestamp, oauth_nonce, oauth_version, oauth_signature`, an HMAC over the method,
    the URL, its query and a form-encoded body's parameters (a JSON body is not signed), keyed by the consumer
    secret and the token secret (`client.OAuth1Auth`, signed by oauthlib). `realm` is sent unsigned (NetSuite: the
    account ID, `1234567_SB1`). HMAC-SHA1 only when named: NetSuite refuses it since 2023.1."""

    consumer_key: str
    consumer_secret: str = field(repr=False)
    token_id: str = field(repr=False)
    token_secret: str = field(repr=False)
    realm: str = ""
    signature_method: OAuth1SignatureMethod = "HMAC-SHA256"

    def __post_init__(self) -> None:
        _check_choice("signature_method", self.signature_method, OAuth1SignatureMethod)
        for name in ("consumer_key", "consumer_secret", "token_id", "token_secret", "realm"):
            object.__setattr__(self, name, one_line(name, getattr(self, name) or ""))
            if not getattr(self, name) and name != "realm":
                raise ConfigError(name, "is required to sign OAuth 1.0a requests")
        if any(char in self.realm for char in '"\\'):
            raise ConfigError("realm", "may not hold a double quote or a backslash (it is quoted in the header)")
        oauthlib_oauth1()


DERIVED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CALLBACK_SECRETS = ("code", "state")  # consent callback parameters that are no value to keep
ANSWER_SECRETS = ("access_token", "refresh_token", "id_token")  # token answer keys never kept as a value


@dataclass(frozen=True)
class DerivedValues:
    """Named values an OAuth 2.0 connection learns only after its consent (`auth/derived.py` uses them): each
    kept with the token, public, and filling `{name}` in its URLs, headers and endpoints.

    `consent_values` maps a name to a consent callback parameter (Zoho: `{"accounts_server": "accounts-server"}`),
    `answer_values` to a path in the token answer (`{"api_domain": "api_domain"}`), `discovery_values` to a path
    in one entry of the answer of `discovery_url`, a GET sent with the first token (Jira Cloud: `{"cloudid":
    "id"}`). `discovery_list` is the path of the entries in that answer (empty: the answer itself, a list or one
    object); `discovery_match` the paths in an entry and the values that pick it (`{"url":
    "https://acme.atlassian.net"}`; empty: the first entry). Errors name the connection field."""

    consent_values: dict[str, str] = field(default_factory=dict)
    answer_values: dict[str, str] = field(default_factory=dict)
    discovery_url: str = ""
    discovery_list: str = ""
    discovery_values: dict[str, str] = field(default_factory=dict)
    discovery_match: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from airflow_provider_authapi.auth.json_path import parse_path

        seen: dict[str, str] = {}
        for field_name in ("consent_values", "answer_values", "discovery_values", "discovery_match"):
            given = getattr(self, field_name)
            if not isinstance(given, Mapping):
                raise ConfigError(field_name, f"must be a JSON object of names and paths (got {type(given).__name__})")
            cleaned = {str(name).strip(): str(where).strip() for name, where in given.items()}
            for name, where in cleaned.items():
                if not where:
                    raise ConfigError(field_name, f"{name!r} names no parameter or path")
                if field_name == "discovery_match":
                    parse_path(name, field=field_name)
                    continue
                if not DERIVED_NAME.fullmatch(name):
                    raise ConfigError(field_name, f"{name[:40]!r} is not a name such as api_domain (letters, _)")
                if SECRET_SETTING_NAME.search(name):
                    raise ConfigError(field_name, f"{name!r} is named like a secret: values kept here are public")
                if name in seen:
                    raise ConfigError(field_name, f"{name!r} is also in {seen[name]}: give each value one source")
                seen[name] = field_name
                if field_name != "consent_values":
                    path = parse_path(where, field=field_name)
                    if field_name == "answer_values" and path and path[0] in ANSWER_SECRETS:
                        raise ConfigError(field_name, f"{name!r} would keep the {path[0]}: a secret is no value")
                elif where in CALLBACK_SECRETS:
                    raise ConfigError(field_name, f"{name!r} would keep the callback's {where}: it is no value")
            object.__setattr__(self, field_name, cleaned)
        object.__setattr__(self, "discovery_url", (self.discovery_url or "").strip())
        object.__setattr__(self, "discovery_list", (self.discovery_list or "").strip())
        parse_path(self.discovery_list, field="discovery_list")
        if bool(self.discovery_url) != bool(self.discovery_values):
            missing = "discovery_values" if self.discovery_url else "discovery_url"
            raise ConfigError(missing, "is required with " + ("discovery_url" if self.discovery_url else
                              "discovery_values") + ": the request and what it gives go together")  # fmt: skip
        if self.discovery_match and not self.discovery_url:
            raise ConfigError("discovery_match", "is set but discovery_url is empty")

    def __bool__(self) -> bool:
        return bool(self.names)

    def __str__(self) -> str:  # what the fingerprint holds: the same for the same settings, in any order
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)}, sort_keys=True)

    @property
    def names(self) -> tuple[str, ...]:
        """Every value's name, consent's first, then the token answer's, then the discovery's."""
        return (*self.consent_values, *self.answer_values, *self.discovery_values)


NO_DERIVED = DerivedValues()


@dataclass(frozen=True)
class OAuth2Config:
    """OAuth 2.0 (RFC 6749) with any of its common grants."""

    token_url: str
    grant_type: GrantType = "client_credentials"
    client_id: str = ""
    client_secret: str | None = field(default=None, repr=False)
    client_auth: ClientAuth = "basic"
    scopes: tuple[str, ...] = ()
    audience: str | None = None
    resource: str | None = None
    extra_token_params: dict[str, str] = field(default_factory=dict)
    authorization_url: str | None = None
    redirect_uri: str | None = None
    use_pkce: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    revocation_url: str | None = None  # RFC 7009: where `token clear` revokes the tokens first
    placement: TokenPlacement = field(default_factory=TokenPlacement)
    default_lifetime: float | None = DEFAULT_LIFETIME
    max_lifetime: float | None = None
    leeway: float | None = DEFAULT_LEEWAY  # None: the token manager's own leeway
    # Signed JWT assertions (RFC 7523): the jwt_bearer grant and private_key_jwt / client_secret_jwt client auth.
    assertion_private_key: str | None = field(default=None, repr=False)  # PEM, RSA or EC P-256, unencrypted
    assertion_algorithm: AssertionAlgorithm = "RS256"
    assertion_issuer: str | None = None  # jwt_bearer `iss`; None: the client id
    assertion_subject: str | None = None  # jwt_bearer `sub`; None: the issuer
    assertion_audience: str | None = None  # `aud` of every assertion; None: the token URL
    assertion_lifetime: float = 300.0  # seconds from `iat` to `exp`
    assertion_scope_claim: bool = False  # jwt_bearer: scopes in the assertion's `scope` claim, not the form
    assertion_claims: dict[str, Any] = field(default_factory=dict)  # more jwt_bearer claims
    assertion_kid: str | None = None  # JWS `kid` header
    assertion_cert_pem: str | None = None  # the key's certificate: JWS `x5t#S256` header
    # A Google service-account JSON key: fills the token URL and the assertion fields above left unset.
    service_account_json: str | None = field(default=None, repr=False)
    # A GitHub App's installation token (`grant_type="github_app"`): the app's JWT (RS256 with the assertion
    # private key, `iss` the assertion issuer, else the client ID: the App ID or client ID) buys a token for one
    # installation. `{installation_id}` in the token URL is filled from `installation_id`. The token can be
    # narrowed to some of the installation's permissions and repositories (names, without the owner).
    installation_id: str | None = None
    installation_permissions: dict[str, str] = field(default_factory=dict)
    installation_repositories: tuple[str, ...] = ()
    # DPoP (RFC 9449): every token request and API request carries a fresh proof signed with `dpop_private_key`,
    # whose public key the tokens are bound to; they are sent as `Authorization: DPoP <token>` (`dpop.py`).
    dpop: bool = False
    dpop_private_key: str | None = field(default=None, repr=False)  # PEM: P-256, RSA or Ed25519, unencrypted
    dpop_algorithm: DPoPAlgorithm = "ES256"
    # Values learned after the consent (callback, token answer, a discovery request): `{name}` in URLs and headers.
    derived: DerivedValues = field(default_factory=DerivedValues)

    def __post_init__(self) -> None:
        if self.service_account_json:
            self._fill_from_service_account(self.service_account_json)
        if not self.token_url:
            raise ConfigError("token_url", "is required for OAuth 2.0")
        _check_choice("grant_type", self.grant_type, GrantType)
        _check_choice("client_auth", self.client_auth, ClientAuth)
        if self.grant_type == "password" and not self.username:
            raise ConfigError("username", "is required for the password grant")
        if self.grant_type == "refresh_token" and not self.refresh_token:
            raise ConfigError("refresh_token", "is required for the refresh_token grant")
        self._check_assertions()
        if self.grant_type == "github_app":
            self._check_github_app()
        if self.dpop:
            self._check_dpop()

    def _check_dpop(self) -> None:
        """A loadable key for the algorithm; the token in the `Authorization` header, whose scheme is DPoP."""
        _check_choice("dpop_algorithm", self.dpop_algorithm, DPoPAlgorithm)
        if self.grant_type == "github_app":
            raise ConfigError("dpop", "GitHub App installation tokens are not DPoP-bound: turn dpop off")
        DPoPProver.from_pem(self.dpop_private_key, self.dpop_algorithm)  # a ConfigError naming the field
        if self.placement.location != "header":
            raise ConfigError("auth_location", "must be header with dpop on: a DPoP token goes in the Authorization "
                              f"header (got {self.placement.location})")  # fmt: skip
        if self.placement.header_name.lower() != HEADER_NAME.lower():
            raise ConfigError("header_name", f"must be {HEADER_NAME} with dpop on (RFC 9449 section 7.1)")
        object.__setattr__(self, "placement", replace(self.placement, header_name=HEADER_NAME, prefix=TOKEN_TYPE))

    def _check_github_app(self) -> None:
        """The app's issuer and key, the installation (filled into the token URL), what the token is narrowed to."""
        if not (self.assertion_issuer or self.client_id or "").strip():
            raise ConfigError("client_id", "is required for the github_app grant: the App ID or the client ID "
                              "(the app's settings, General)")  # fmt: skip
        installation = (self.installation_id or "").strip()
        if not installation:
            raise ConfigError("installation_id", "is required for the github_app grant: the number at the end of "
                              "the installation's settings URL (.../settings/installations/<id>)")  # fmt: skip
        if not installation.isascii() or not installation.isdigit():
            raise ConfigError("installation_id", f"must be a number, e.g. 12345678 (got {installation[:40]!r})")
        object.__setattr__(self, "installation_id", installation)
        object.__setattr__(self, "token_url", self.token_url.replace(INSTALLATION_ID, installation))
        if self.assertion_algorithm != "RS256":
            raise ConfigError("assertion_algorithm", "must be RS256 for a GitHub App (its keys are RSA)")
        if self.assertion_lifetime > GITHUB_APP_MAX_JWT_LIFETIME:
            raise ConfigError("assertion_lifetime", f"must be at most {GITHUB_APP_MAX_JWT_LIFETIME:.0f} s for a "
                              "GitHub App: GitHub refuses a JWT that lives longer")  # fmt: skip
        for name, level in self.installation_permissions.items():
            if not str(name).strip() or level not in GITHUB_PERMISSION_LEVELS:
                raise ConfigError("installation_permissions", f"{str(name)[:40]!r}: the level must be one of "
                                  f"{', '.join(GITHUB_PERMISSION_LEVELS)} (got {str(level)[:40]!r})")  # fmt: skip
        for repository in self.installation_repositories:
            if "/" in repository:
                raise ConfigError("installation_repositories", f"{repository[:80]!r}: give the repository's name "
                                  "without its owner (the installation's account)")  # fmt: skip
        github_app_signer(self)  # loads the key: a ConfigError naming the field, never the key

    def _fill_from_service_account(self, text: str) -> None:
        """`token_uri` is the token URL and `aud`, `client_email` the issuer, `private_key` and `private_key_id`
        the key and its `kid`: each where the config leaves it unset. Google wants the scopes in the assertion."""
        key = service_account_key(text)
        if self.grant_type != "jwt_bearer":
            raise ConfigError("grant_type", f"must be jwt_bearer with a service account key (got {self.grant_type!r})")
        if not self.scopes:
            raise ConfigError("scopes", "a service account key needs at least one scope, e.g. its API's readonly one")
        filled = {
            "token_url": key["token_uri"],
            "assertion_audience": key["token_uri"],
            "assertion_issuer": key["client_email"],
            "assertion_private_key": key["private_key"],
            "assertion_kid": key["private_key_id"],
        }
        for name, value in filled.items():
            if value and not getattr(self, name):
                object.__setattr__(self, name, value)

    def _check_assertions(self) -> None:
        """The JWT assertion settings: a loadable key of the right type wherever a key signs."""
        _check_choice("assertion_algorithm", self.assertion_algorithm, AssertionAlgorithm)
        if not 0 < self.assertion_lifetime <= MAX_ASSERTION_LIFETIME:
            raise ConfigError("assertion_lifetime", f"must be more than 0 and at most {MAX_ASSERTION_LIFETIME:.0f} s")
        reserved = sorted(RESERVED_CLAIMS & set(self.assertion_claims))
        if reserved:
            raise ConfigError(
                "assertion_claims",
                f"may not set {', '.join(reserved)}: iss, sub and aud have their own fields, the others are set "
                "for each assertion",
            )
        if self.client_auth in CLIENT_ASSERTION_AUTHS and not self.client_id:
            raise ConfigError("client_id", f"is required for {self.client_auth} client authentication")
        if self.client_auth == "client_secret_jwt" and len((self.client_secret or "").encode()) < MIN_HMAC_BYTES:
            raise ConfigError("client_secret", f"must be at least {MIN_HMAC_BYTES} bytes to sign client_secret_jwt")
        if self.grant_type == "jwt_bearer" and not (self.assertion_issuer or self.client_id):
            raise ConfigError("assertion_issuer", "is required for the jwt_bearer grant (the default is the client id)")
        if self.grant_type == "jwt_bearer" or self.client_auth == "private_key_jwt":
            if not self.assertion_private_key:
                why = "the jwt_bearer grant" if self.grant_type == "jwt_bearer" else "private_key_jwt client auth"
                raise ConfigError("assertion_private_key", f"is required for {why}")
            key_signer(self)  # loads the key and the certificate: a ConfigError naming the field at fault

    @property
    def scope(self) -> str:
        """Scopes joined by spaces, as RFC 6749 wants."""
        return " ".join(self.scopes)


@dataclass(frozen=True)
class TokenLoginConfig:
    """Login to a token endpoint that is not OAuth (Aspire, Astera style), or a session login (SAP Business One).

    The token is read from the answer's body (`token_path`), or from a response header or cookie named
    `credential_name`; `carry_cookies` names cookies of the login answer that go back on every request with it.
    A lifetime read at `expires_in_path` counts in `lifetime_unit`s (SAP's `SessionTimeout` is in minutes).
    """

    token_url: str
    username: str = ""
    password: str = field(default="", repr=False)
    request_format: RequestFormat = "json"
    username_field: str = "username"
    password_field: str = "password"
    extra_body: dict[str, Any] = field(default_factory=dict)
    token_path: str = "access_token"
    refresh_token_path: str | None = None
    expires_in_path: str | None = None
    expires_at_path: str | None = None
    default_lifetime: float | None = DEFAULT_LIFETIME
    max_lifetime: float | None = None
    leeway: float | None = DEFAULT_LEEWAY  # None: the token manager's own leeway
    refresh_url: str | None = None
    refresh_token_field: str = "RefreshToken"
    refresh_body: dict[str, Any] = field(default_factory=dict)
    placement: TokenPlacement = field(default_factory=TokenPlacement)
    credential_source: CredentialSource = "body"
    credential_name: str = ""
    carry_cookies: tuple[str, ...] = ()
    lifetime_unit: LifetimeUnit = "seconds"

    def __post_init__(self) -> None:
        if not self.token_url:
            raise ConfigError("token_url", "is required for a token login")
        _check_choice("request_format", self.request_format, RequestFormat)
        _check_choice("credential_source", self.credential_source, CredentialSource)
        _check_choice("lifetime_unit", self.lifetime_unit, LifetimeUnit)
        if self.credential_source == "body" and not self.token_path:
            raise ConfigError("token_path", "a response path to the token is required")
        if self.credential_source != "body" and not self.credential_name:
            where = f"the {self.credential_source} holding the token"
            raise ConfigError("credential_name", f"the name of {where} is required")

    def in_seconds(self, lifetime: float) -> float:
        """A lifetime read from a login answer, counted in units of `lifetime_unit`, in seconds."""
        return lifetime * LIFETIME_UNIT_SECONDS[self.lifetime_unit]


@dataclass(frozen=True)
class CustomGrantConfig:
    """A grant of the user's own (`grants.CustomGrant`): its `fetch` (and `refresh`) obtain the tokens from the
    connection's `CommonConfig.settings`; the token manager, the shared cache, the placement and the lifetimes
    are the built-in ones. `grant` is the subclass, an instance of it, or its dotted path; `grant_class` is then
    the class's dotted path, the same in every process (the fingerprint holds it, not the instance)."""

    grant_class: str = ""
    grant: Any = field(default=None, repr=False, compare=False)
    placement: TokenPlacement = field(default_factory=TokenPlacement)
    default_lifetime: float | None = DEFAULT_LIFETIME
    max_lifetime: float | None = None
    leeway: float | None = DEFAULT_LEEWAY  # None: the token manager's own leeway

    def __post_init__(self) -> None:
        from airflow_provider_authapi.auth.grants import CustomGrant  # grants imports this module

        given = self.grant if self.grant is not None else self.grant_class
        if not given:
            raise ConfigError("grant_class", "is required: the dotted path of a CustomGrant subclass")
        grant = own_class("grant_class", given, CustomGrant)
        cls = grant if isinstance(grant, type) else type(grant)
        if cls.fetch is CustomGrant.fetch:
            raise ConfigError("grant_class", f"{class_path(cls)} does not implement fetch(client, config)")
        object.__setattr__(self, "grant", grant)
        object.__setattr__(self, "grant_class", class_path(cls))


SchemeConfig = (
    NoAuthConfig
    | BasicAuthConfig
    | BearerAuthConfig
    | ApiKeyConfig
    | OAuth2Config
    | TokenLoginConfig
    | CustomGrantConfig
    | OAuth1Config
)
TOKEN_SCHEMES = (OAuth2Config, TokenLoginConfig, CustomGrantConfig)  # the schemes that obtain tokens


@dataclass(frozen=True)
class AuthConfig:
    """A scheme plus the common options: everything needed to build an authenticated client."""

    scheme: SchemeConfig
    common: CommonConfig = field(default_factory=CommonConfig)

    @property
    def derived(self) -> DerivedValues:
        """The values the scheme learns after the consent (`auth/derived.py`); none but for OAuth 2.0."""
        return self.scheme.derived if isinstance(self.scheme, OAuth2Config) else NO_DERIVED

    def fingerprint(self) -> str:
        """A digest of what the token depends on; a changed credential gives a new fingerprint.

        The initial refresh token is left out: after the first exchange the stored one is newer. So is where
        tokens are revoked: it changes no token.
        """
        left_out = (
            *("refresh_token", "revocation_url", "placement", "default_lifetime", "max_lifetime", "leeway"),
            "grant",  # an object: its class's path, `grant_class`, counts
        )
        parts = {
            f.name: getattr(self.scheme, f.name)
            for f in fields(self.scheme)  # type: ignore[arg-type]
            if f.name not in left_out and not (f.name in ADDED_SINCE_STORED and _at_default(self.scheme, f))
        }
        parts["__type__"] = type(self.scheme).__name__
        if isinstance(self.scheme, CustomGrantConfig):  # its credentials are among the connection's settings
            parts["__settings__"] = self.common.settings
        blob = json.dumps(parts, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:32]


# -- Values sent as they are in a header, a cookie or a query parameter -------------------------------------------

FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")


def one_line(field_name: str, value: str, part: str = "") -> str:
    """`value` without surrounding whitespace (a token or key pasted with its trailing newline); a line break left
    inside is refused, naming the field (and `part` of it) but never the value: a request cannot carry it."""
    trimmed = value.strip()
    if any(char in trimmed for char in FORBIDDEN_IN_HEADERS):
        where = f"{part} holds" if part else "holds"
        raise ConfigError(
            field_name, f"{where} a line break (or a NUL) that a request cannot carry: paste it on one line"
        )
    return trimmed


def _one_line_values(field_name: str, headers: dict[str, str]) -> dict[str, str]:
    """Header names and values trimmed; a line break inside one is refused, naming the header (not its value)."""
    return {
        one_line(field_name, name, "a header name"): one_line(field_name, value, f"header {name.strip()!r}")
        for name, value in headers.items()
    }


# -- Origins: where credentials may go ---------------------------------------------------------------------------


DEFAULT_PORTS = {"http": 80, "https": 443}
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")  # `{name}` in a URL or header a derived value fills


def url_head(url: str) -> str:
    """The scheme, host and port of a URL as written, placeholders and all: the text before its path, query or
    fragment (`{api_domain}` of `{api_domain}/crm`)."""
    scheme, separator, rest = url.partition("://")
    if separator:
        return f"{scheme}://{re.split(r'[/?#]', rest, maxsplit=1)[0]}"
    return re.split(r"[/?#]", url, maxsplit=1)[0]


def origin_templated(url: str) -> bool:
    """Whether a placeholder stands in a URL's scheme, host or port (`{api_domain}/crm`, `https://{site}.x.com`)."""
    return bool(PLACEHOLDER.search(url_head(url)))


def origin(url: str | httpx.URL) -> str:
    """`scheme://host[:port]` of a URL, the default port left out (`https://api.example.com:443` is
    `https://api.example.com`), host in lower case."""
    parsed = httpx.URL(url)
    scheme = parsed.scheme.lower()
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = f":{parsed.port}" if parsed.port not in (None, DEFAULT_PORTS.get(scheme)) else ""
    return f"{scheme}://{host}{port}"


def _listed_origin(url: str) -> str:
    """One entry of `allowed_origins`: an absolute http(s) URL with no path beyond `/`, as its origin."""
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError("allowed_origins", f"{url!r} is not an origin such as https://files.example.com")
    if parsed.path not in ("", "/") or parsed.query or parsed.userinfo:
        raise ConfigError("allowed_origins", f"{url!r} is more than an origin: give scheme, host and port only")
    return origin(parsed)


def _check_choice(field_name: str, value: str, choices: Any) -> None:
    """`value` must be one of the `Literal` type `choices`."""
    allowed = get_args(choices)
    if value not in allowed:
        raise ConfigError(field_name, f"must be one of {', '.join(allowed)} (got {value!r})")


def config_secrets(config: AuthConfig | SchemeConfig) -> list[str]:
    """Every secret a config (or just its scheme) holds: to mask in task logs and scrub from error messages."""
    scheme = config.scheme if isinstance(config, AuthConfig) else config
    values: list[str | None] = []
    if isinstance(config, AuthConfig):
        common = config.common
        values += [common.tls.client_key_pem, common.signature.secret if common.signature else None]
        values += [common.proxy.password, *common.proxy.given_secrets]
        settings = common.settings
        values += [settings[name] for name in common.secret_settings or () if isinstance(settings.get(name), str)]
        sent = [*common.headers.items(), *common.params.items()]
        values += [value for name, value in sent if SENSITIVE_NAME.search(name)]  # `X-Api-Key`, `?api_key=`
    if isinstance(scheme, OAuth2Config):
        values += [scheme.client_secret, scheme.password, scheme.refresh_token, scheme.assertion_private_key]
        values.append(scheme.dpop_private_key)
        values.append(scheme.service_account_json)
    elif isinstance(scheme, TokenLoginConfig | BasicAuthConfig):
        values.append(scheme.password)
    elif isinstance(scheme, BearerAuthConfig):
        values.append(scheme.token)
    elif isinstance(scheme, ApiKeyConfig):
        values.append(scheme.key)
    elif isinstance(scheme, OAuth1Config):
        values += [scheme.consumer_secret, scheme.token_id, scheme.token_secret]
    return [value for value in values if value]


# -- Classes of the user's own: a grant, an httpx.Auth ------------------------------------------------------------

# Names of settings (connection extras of the user's own) whose values are secret: Airflow's masker's words.
SECRET_SETTING_NAME = re.compile(
    r"passw|secret|token|api_?key|access_key|private_key|service_key|passphrase|authorization|auth_header|bearer"
    r"|credential|session|cookie|signature|password",
    re.IGNORECASE,
)


def class_path(value: Any) -> str:
    """`package.module.ClassName` of a class, or of an instance's class."""
    cls = value if isinstance(value, type) else type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*|\.[A-Za-z_]\w*)")


def import_object(field_name: str, ref: str) -> Any:
    """The object at an import path, `package.module.name` or `package.module:qualified.name`: the one way a
    connection field or a deferred task names code of the user's (grant and signing classes, response-rule
    predicates, filters, checks, paginators). It must be importable where it is used, on the workers and the
    triggerer; a module already loaded (a DAG file under `dag.test()`) is reused. A `ConfigError` naming
    `field_name` says what failed: the path's shape, the module not found or failing to import, the name missing;
    never more than the path and the import error."""
    path = ref.strip() if isinstance(ref, str) else ref
    if not isinstance(path, str) or not _IMPORT_PATH.fullmatch(path):
        raise ConfigError(field_name, f"{ref!r} is not an import path such as package.module.name")
    module_name, _, qualname = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        target: Any = sys.modules.get(module_name) or importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(f"{exc.name}.")):
            fix = "install it on the workers and the triggerer, or correct the path"
            raise ConfigError(field_name, f"module {module_name!r} of {path} was not found: {fix}") from None
        raise ConfigError(field_name, f"importing module {module_name!r} of {path} failed: {exc}") from None
    except Exception as exc:
        problem = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise ConfigError(field_name, f"importing module {module_name!r} of {path} failed: {problem}") from None
    for name in qualname.split("."):
        if not hasattr(target, name):
            raise ConfigError(field_name, f"module {module_name!r} has no {qualname!r}")
        target = getattr(target, name)
    return target


def own_class(field_name: str, value: Any, base: type) -> Any:
    """A subclass of `base` or an instance of one, given as such or by its import path (`import_object`). A
    `ConfigError` naming `field_name` says what failed, never a secret."""
    package = base.__module__.rpartition(".")[0] or base.__module__  # as exported: httpx.Auth, ...auth.CustomGrant
    wanted = f"{package}.{base.__qualname__}"
    if isinstance(value, str):
        found = import_object(field_name, value)
        if not (isinstance(found, type) and issubclass(found, base)):
            raise ConfigError(field_name, f"{value.strip()} is not a subclass of {wanted}")
        return found
    if (isinstance(value, type) and issubclass(value, base)) or isinstance(value, base):
        return value
    raise ConfigError(field_name, f"must be a subclass of {wanted}, an instance of one, or its dotted path "
                      f"(got {type(value).__name__})")  # fmt: skip


# Fields added after tokens were first stored under a fingerprint: left out of it while at their default, so that
# an upgrade keeps every stored token (and every consent) of a connection that does not use them.
ADDED_SINCE_STORED = frozenset(
    {
        "http_scheme",
        "revocation_url",
        "assertion_private_key",
        "assertion_algorithm",
        "assertion_issuer",
        "assertion_subject",
        "assertion_audience",
        "assertion_lifetime",
        "assertion_scope_claim",
        "assertion_claims",
        "assertion_kid",
        "assertion_cert_pem",
        "service_account_json",
        "credential_source",
        "credential_name",
        "carry_cookies",
        "lifetime_unit",
        "installation_id",
        "installation_permissions",
        "installation_repositories",
        "dpop",
        "dpop_private_key",
        "dpop_algorithm",
        "derived",
    }
)


def _at_default(config: Any, spec: Any) -> bool:
    default = spec.default_factory() if spec.default_factory is not MISSING else spec.default
    return getattr(config, spec.name) == default
