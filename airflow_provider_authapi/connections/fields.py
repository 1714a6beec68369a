"""The connection fields: every connection type's custom fields, written once, and a connection read through them.

`get_provider_info` turns the specs into `conn-fields` and `ui-field-behaviour`; `auth_config_from_connection`
(below) reads a connection's extras with the same specs (type, choices, defaults) into a validated `AuthConfig`,
so the form and the validation cannot drift apart. Every problem raises one `ConfigError` naming the connection id
and the field; a secret's value is never part of the message. A profile's defaults sit beneath the connection's
own values.
Each spec names the `auth.config` attribute it fills, and takes that attribute's default and choices: the config
dataclasses hold the only copy of both.

Field names matter: Airflow's secrets masker hides the value of every extra key whose name contains a word such as
`token`, `password`, `secret`, `api_key` or `authorization`. A non-secret field named like that shows and saves
`***` in the UI and gets its value masked in every task log, so non-secret fields avoid those words and secret
fields keep them (tests/connections/test_masking.py checks both against the installed Airflow).

The Airflow 3 form groups fields by `schema.section` into collapsible parts (fields without one go under
"Extra Fields"); the order of the fields below is the order a person fills them in. Its JSON editor reformats the
text whenever it parses, which garbles JSON typed key by key: the help of JSON fields says to paste it.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Literal, get_args, get_origin, get_type_hints
from urllib.parse import quote, urljoin

from airflow_provider_authapi.auth import config
from airflow_provider_authapi.auth.config import (
    ApiKeyConfig,
    AuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    BudgetConfig,
    CommonConfig,
    CustomGrantConfig,
    DerivedValues,
    NoAuthConfig,
    OAuth1Config,
    OAuth2Config,
    ProxyConfig,
    SchemeConfig,
    SignatureConfig,
    TLSConfig,
    TokenLoginConfig,
    TokenPlacement,
)
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.profiles import PROFILES, Profile

HOOKS_MODULE = "airflow_provider_authapi.hooks.connection_types"  # one AuthApiHook subclass per type
STANDARD_FIELDS = ("schema", "port", "login", "password", "description")


@dataclass(frozen=True)
class FieldSpec:
    """One custom field, stored as a top-level key of the connection's `extra` JSON.

    `fills` names the `auth.config` attribute the field sets ("Class.attribute"); its default and, for a dropdown,
    its choices (the attribute's `Literal` type) are read from there, so the form, the mapping and the config
    share one copy. Only a field that fills no config attribute (`test_endpoint`) carries its own default."""

    name: str
    label: str
    kind: str  # string | secret | multiline | integer | number | boolean | object | choice
    description: str
    fills: str = ""
    choice_labels: tuple[tuple[str, str], ...] = ()  # (stored value, what the dropdown shows)
    section: str = ""  # a collapsible part of the form; "" = Airflow's "Extra Fields"
    own_default: Any = None  # only for a field that fills no config attribute
    shown_default: Any = None  # what the form starts at instead of `default`: a system type's profile value
    default: Any = field(init=False)
    choices: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        default, choices = self.own_default, ()
        if self.fills:
            if self.own_default is not None:
                raise ValueError(f"field {self.name!r}: its default is the one of {self.fills}")
            default, choices = config_default(self.fills), config_choices(self.fills)
        if self.kind == "choice" and (not choices or {value for value, _ in self.choice_labels} != set(choices)):
            raise ValueError(f"field {self.name!r}: label every choice of {self.fills or 'a Literal attribute'}")
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "choices", choices)

    @property
    def secret(self) -> bool:
        return self.kind == "secret"

    def schema(self) -> dict[str, Any]:
        """The JSON Schema the Airflow 3 UI renders (enum: dropdown; format: masked or multi-line input).

        Every type includes "null", else the form marks the field required; an enum never does, else the dropdown
        offers a literal "null" (the dropdown can be cleared instead). An empty default ("", ()) is not shown, nor
        one the form would save as a value the secrets masker finds too short (`/`, `json`): every read of the
        connection would then log "Skipping masking for a secret as it's too short". A dropdown labels that
        default choice "(default)" instead; the mapping applies the default to an unset field all the same."""
        shown = self.default if self.shown_default is None else self.shown_default
        default = None if too_short_to_mask(shown) else shown
        if self.kind == "choice":
            labels = dict(self.choice_labels)
            schema: dict[str, Any] = {"type": ["string", "null"], "enum": list(self.choices)}
            schema["values_display"] = {
                value: f"{labels[value]} (default)" if value == shown and default is None else labels[value]
                for value in self.choices
            }
        elif self.kind in ("secret", "multiline"):
            schema = {"type": ["string", "null"], "format": "password" if self.secret else "multiline"}
        else:
            schema = {"type": [self.kind, "null"]}
        if default not in (None, "", ()):
            schema["default"] = _whole(default)
        if self.section:
            schema["section"] = self.section
        return schema

    def conn_field(self) -> dict[str, Any]:
        return {"label": self.label, "description": self.description, "schema": self.schema()}


# Airflow's secrets masker skips (and warns about) a string shorter than this (`[logging] min_length_masked_secret`).
MASKER_MIN_LENGTH = 5


def too_short_to_mask(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) < MASKER_MIN_LENGTH


def config_attribute(fills: str) -> tuple[type, str]:
    """The `auth.config` class and attribute named by "Class.attribute"; a typo fails at import."""
    class_name, _, attribute = fills.partition(".")
    cls = getattr(config, class_name, None)
    if cls is None or attribute not in {f.name for f in fields(cls)}:
        raise ValueError(f"{fills!r} is not an attribute of a config class in {config.__name__}")
    return cls, attribute


def config_default(fills: str) -> Any:
    """The attribute's default; None for a required one or one built by a factory (`{}`)."""
    cls, attribute = config_attribute(fills)
    default = next(f.default for f in fields(cls) if f.name == attribute)
    return None if default is MISSING else default


def config_choices(fills: str) -> tuple[str, ...]:
    """The values of the attribute's `Literal` type; () for any other type."""
    cls, attribute = config_attribute(fills)
    hint = get_type_hints(cls)[attribute]
    return get_args(hint) if get_origin(hint) is Literal else ()


def _whole(value: Any) -> Any:
    """3600.0 as 3600: the form shows the number as a person writes it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


@dataclass(frozen=True)
class ConnectionType:
    """One connection type of the provider: its name, standard-field labels and custom fields (the form's).

    A system type (`base` and `profile` set, see `system_type`) reads as its base type with that profile: its
    connections accept every field of the base type, and the form shows only `fields`."""

    conn_type: str
    hook_class: str  # class name in HOOKS_MODULE
    hook_name: str
    relabel: dict[str, str]  # login / password: shown with these labels; absent: hidden
    fields: tuple[FieldSpec, ...]
    placeholders: dict[str, str] = field(default_factory=dict)
    host_label: str | None = "API base URL"  # None: the host is hidden
    base: str = ""  # a system type's generic type
    profile: str = ""  # a system type's profile (profiles.PROFILES)
    base_fields: tuple[FieldSpec, ...] = ()

    @property
    def scheme_type(self) -> str:
        """The generic type whose mapping reads this type's connections: itself, or a system type's base."""
        return self.base or self.conn_type

    @property
    def all_fields(self) -> tuple[FieldSpec, ...]:
        """Every field a connection of this type may hold: the form's, and a system type's hidden base fields."""
        shown = {spec.name: spec for spec in self.fields}
        return tuple(shown.pop(spec.name, spec) for spec in self.base_fields) + tuple(shown.values())

    def provider_info(self) -> dict[str, Any]:
        shown = {"host", *self.relabel} if self.host_label else set(self.relabel)
        hidden = [name for name in ("host", *STANDARD_FIELDS) if name not in shown and name != "description"]
        return {
            "connection-type": self.conn_type,
            "hook-class-name": f"{HOOKS_MODULE}.{self.hook_class}",
            "hook-name": self.hook_name,
            "ui-field-behaviour": {
                "hidden-fields": hidden,
                "relabeling": {"host": self.host_label, **self.relabel} if self.host_label else dict(self.relabel),
                "placeholders": {"host": "https://api.example.com", **self.placeholders} if self.host_label else {},
            },
            "conn-fields": {spec.name: spec.conn_field() for spec in self.fields},
        }


def _f(name: str, label: str, kind: str, description: str, fills: str = "", *, default: Any = None) -> FieldSpec:
    return FieldSpec(name, label, kind, description, fills, own_default=default)


def _choice(name: str, label: str, description: str, fills: str, labels: dict[str, str]) -> FieldSpec:
    """A dropdown of the `Literal` values of `fills`; `labels` maps each to what the form shows."""
    return FieldSpec(name, label, "choice", description, fills, tuple(labels.items()))


def _section(title: str, *specs: FieldSpec) -> tuple[FieldSpec, ...]:
    return tuple(replace(spec, section=title) for spec in specs)


LOCATIONS = {"header": "Header", "query": "Query parameter"}

PROFILE = _f(
    "profile",
    "Profile",
    "string",
    "A known system: its URLs and settings apply to every field you leave empty or at its default.",
)


def _header(owner: str) -> tuple[FieldSpec, FieldSpec]:
    """The header that carries a token and its prefix, filling `owner`'s `header_name` and `prefix`."""
    return (
        _f("header_name", "Header name", "string", "The header that carries the token.", f"{owner}.header_name"),
        _f("header_prefix", "Header value prefix", "string",
           "Written before the token, e.g. Bearer or Token. Clear the field to send the token alone.",
           f"{owner}.prefix"),
    )  # fmt: skip


SENDING = _section(
    "Sending the token",
    _choice("auth_location", "Send the token in", "A request header, a query parameter or a cookie.",
            "TokenPlacement.location", {**LOCATIONS, "cookie": "Cookie"}),
    *_header("TokenPlacement"),
    _f("query_param_name", "Query parameter name", "string", "The query parameter that carries the token, when "
       "sent in the query.", "TokenPlacement.query_param"),
    _f("cookie_name", "Cookie name", "string", "The cookie that carries the token, when sent in a cookie, e.g. "
       "B1SESSION.", "TokenPlacement.cookie_name"),
)  # fmt: skip


def _lifetime(owner: str) -> tuple[FieldSpec, ...]:
    """The token lifetime settings of `owner`, a config class of a scheme that obtains tokens."""
    return _section(
        "Token lifetime",
        _f("default_lifetime", "Default lifetime (seconds)", "number",
           "Used when the token response gives no expiry and the token is not a JWT with an expiry.",
           f"{owner}.default_lifetime"),
        _f("max_lifetime", "Maximum lifetime (seconds)", "number",
           "Renew sooner than the API says: the shorter of the two wins. Empty: no maximum.", f"{owner}.max_lifetime"),
        _f("leeway", "Renew early by (seconds)", "number",
           "A token counts as expired this many seconds early (at most 5% of its lifetime).", f"{owner}.leeway"),
    )  # fmt: skip


COMMON_FIELDS = (
    *_section(
        "Requests",
        _f("extra_headers", "Extra headers", "object",
           'Headers sent with every request. Paste a JSON object, e.g. {"X-Tenant": "acme"}.', "CommonConfig.headers"),
        _f("extra_query_params", "Extra query parameters", "object",
           'Query parameters sent with every request. Paste a JSON object, e.g. {"minorversion": "75"}.',
           "CommonConfig.params"),
        _f("timeout", "Timeout (seconds)", "number", "How long to wait for each HTTP request.", "CommonConfig.timeout"),
        _f("allowed_origins", "Other origins for the credentials", "string",
           "Origins besides the API base URL's that may receive this connection's credentials, e.g. "
           "https://files.example.com. Separated by spaces or commas. Any other origin is refused.",
           "CommonConfig.allowed_origins"),
        _f("test_endpoint", "Test endpoint", "string",
           "Path of a cheap GET request that the connection Test and airflow authapi test call, e.g. /v1/me. "
           "Empty: a connection that obtains tokens stops at the token; any other GETs /.", default="/"),
        _f("budget_requests", "API budget (requests)", "number",
           "At most this many requests per budget period for the whole deployment: every task on every worker "
           "and the triggerer share it, e.g. 60 for an API allowing 60 a minute. Empty: no shared budget.",
           "BudgetConfig.requests"),
        _f("budget_period", "API budget period (seconds)", "number",
           "The period of the API budget, e.g. 60 for a limit per minute.", "BudgetConfig.period"),
    ),
    *_section(
        "TLS certificates",
        _f("verify_tls", "Verify TLS", "boolean", "Check the server's certificate. Turn off only for a test server.",
           "TLSConfig.verify"),
        _f("ca_cert_pem", "CA certificate (PEM)", "multiline",
           "Trust this certificate authority, e.g. the certificate of a server that signs its own.",
           "TLSConfig.ca_pem"),
        _f("client_cert_pem", "Client certificate (PEM)", "multiline",
           "A TLS client certificate, for APIs that ask for one.", "TLSConfig.client_cert_pem"),
        _f("client_private_key_pem", "Client private key (PEM)", "secret",
           "The client certificate's private key, unencrypted. Hidden like a password.", "TLSConfig.client_key_pem"),
    ),
    *_section(
        "Proxy",
        _f("egress_url", "Proxy URL", "string",
           "An HTTP(S) proxy for every request of this connection, token requests included, e.g. "
           "http://proxy.example.com:3128. Empty: the HTTPS_PROXY / HTTP_PROXY environment variables, if set.",
           "ProxyConfig.url"),
        _f("egress_username", "Proxy user name", "string", "For a proxy that asks for credentials (Basic).",
           "ProxyConfig.username"),
        _f("egress_password", "Proxy password", "secret", "The proxy user's password. Hidden like a password.",
           "ProxyConfig.password"),
        _f("egress_bypass", "No proxy for", "string",
           "Hosts reached directly, as in NO_PROXY: example.com (and its subdomains), an IP address or host:port, "
           "separated by commas or spaces.", "ProxyConfig.bypass"),
    ),
    *_section(
        "Request signature",
        _f("signature_header", "Signature header", "string",
           "Name of a header that carries a fresh HS256 JWT, signed with the signature secret, on every request.",
           "SignatureConfig.header"),
        _f("signature_secret", "Signature secret", "secret", "At least 32 characters. Hidden like a password.",
           "SignatureConfig.secret"),
        _f("auth_class", "Signing class", "string",
           "Dotted path of an httpx.Auth subclass of your own, e.g. mycompany.signing.VendorSigner, importable on the "
           "workers and the triggerer: built with this connection's settings, it signs every request after the "
           "connection's own credentials, on the connection's origins only.", "CommonConfig.auth_class"),
    ),
    PROFILE,  # last here; types with profiles show it first (see _with_profile_first)
)  # fmt: skip

# A grant of the user's own (auth.grants.CustomGrant) in place of the type's built-in token requests.
CUSTOM_GRANT = _section(
    "Custom grant",
    _f("grant_class", "Grant class", "string",
       "Dotted path of a CustomGrant subclass of your own, e.g. mycompany.auth.VendorLogin, importable on the workers "
       "and the triggerer. Set: it obtains the tokens with this connection's settings instead of the token request "
       "settings above; sending the token, its lifetime and the rest still apply."),
)  # fmt: skip

GRANTS = {
    "client_credentials": "Client credentials",
    "authorization_code": "Authorization code (consent in a browser)",
    "password": "Password (resource owner)",
    "refresh_token": "Refresh token",
    "jwt_bearer": "JWT bearer (signed assertion)",
    "github_app": "GitHub App installation (signed app JWT)",
}
CLIENT_AUTHS = {
    "basic": "Basic header",
    "body": "Request body",
    "private_key_jwt": "Signed JWT, private key",
    "client_secret_jwt": "Signed JWT, client secret",
}

OAUTH2 = ConnectionType(
    "authapi_oauth2",
    "AuthApiOAuth2Hook",
    "OAuth 2.0 API",
    {"login": "Client ID", "password": "Client secret"},
    (
        _choice("grant_type", "Grant type", "How Airflow gets tokens. Each grant's own settings are in its part of "
                "the form below.", "OAuth2Config.grant_type", GRANTS),
        _f("login_url", "Token URL", "string", "The token endpoint, absolute or relative to the API base URL, "
           "e.g. /oauth/token.", "OAuth2Config.token_url"),
        _f("scopes", "Scopes", "string", "Separated by spaces or commas. Empty: the API's default scopes.",
           "OAuth2Config.scopes"),
        _choice("client_auth", "Send client ID and secret", "In a Basic authorization header, in the request "
                "body, or as a JWT signed with the assertion private key or with the client secret.",
                "OAuth2Config.client_auth", CLIENT_AUTHS),
        *_section(
            "Authorization code grant",
            _f("consent_url", "Authorization URL", "string", "The provider's consent page, absolute or relative to "
               "the API base URL.", "OAuth2Config.authorization_url"),
            _f("redirect_uri", "Redirect URI", "string", "The callback registered with the provider: this Airflow's "
               "consent callback URL.", "OAuth2Config.redirect_uri"),
            _f("use_pkce", "Use PKCE", "boolean", "Send a PKCE (S256) challenge with the consent request.",
               "OAuth2Config.use_pkce"),
            _f("realm_id", "Realm / company ID", "string", "QuickBooks company ID; usable as {realm_id} in endpoints."),
        ),
        *_section(
            "Values learned after the consent",
            _f("consent_values", "Values from the consent callback", "object", "Names for parameters the consent "
               "callback carries, kept with the token and usable as {name} in the token URL, API base URL, headers "
               'and endpoints. Paste a JSON object, e.g. {"accounts_server": "accounts-server"} (Zoho).',
               "DerivedValues.consent_values"),
            _f("answer_values", "Values from the token answer", "object", "Names for values the token answer "
               "carries, by path; a refresh answer without one keeps the value. Paste a JSON object, e.g. "
               '{"api_domain": "api_domain"} (Zoho). A value that starts the API base URL must be an https URL '
               "within the other origins, when listed.", "DerivedValues.answer_values"),
            _f("discovery_url", "Discovery URL", "string", "A GET sent with the first token (after the consent) "
               "whose answer names more values, e.g. https://api.xero.com/connections. Absolute or relative to the "
               "API base URL.", "DerivedValues.discovery_url"),
            _f("discovery_list", "Entries in the discovery answer", "string", "Dotted path of the list of entries "
               "in that answer. Empty: the answer itself is the list (or the one entry).",
               "DerivedValues.discovery_list"),
            _f("discovery_values", "Values from the discovery entry", "object", "Names for values of the entry "
               'picked, by path in the entry. Paste a JSON object, e.g. {"cloudid": "id"} (Jira Cloud) or '
               '{"tenant_id": "tenantId"} (Xero).', "DerivedValues.discovery_values"),
            _f("discovery_match", "Discovery entry to pick", "object", "Paths in an entry and the values that pick "
               'it, e.g. {"url": "https://acme.atlassian.net"}. Empty: the first entry.',
               "DerivedValues.discovery_match"),
        ),
        *_section(
            "Refresh token grant",
            _f("refresh_token", "Initial refresh token", "secret", "Used once, when no token is stored yet; after "
               "that the stored, rotated one is used. Hidden like a password.", "OAuth2Config.refresh_token"),
        ),
        *_section(
            "Password grant",
            _f("username", "User name", "string", "The resource owner's user name.", "OAuth2Config.username"),
            _f("user_password", "User password", "secret", "The resource owner's password. Hidden like a password.",
               "OAuth2Config.password"),
        ),
        *_section(
            "JWT assertion",
            _f("assertion_private_key", "Assertion private key (PEM)", "secret", "An unencrypted RSA or P-256 "
               "private key that signs the JWT bearer grant and private key JWT client assertions. Hidden like a "
               "password.", "OAuth2Config.assertion_private_key"),
            _choice("assertion_algorithm", "Signing algorithm", "RS256 for an RSA key, ES256 for a P-256 key.",
                    "OAuth2Config.assertion_algorithm", {"RS256": "RS256 (RSA key)", "ES256": "ES256 (P-256 key)"}),
            _f("assertion_issuer", "Issuer (iss)", "string", "Who issues the JWT bearer assertion, e.g. a service "
               "account e-mail or a consumer key. Empty: the client ID.", "OAuth2Config.assertion_issuer"),
            _f("assertion_subject", "Subject (sub)", "string", "Whom the token is for, e.g. a user name. Empty: "
               "the issuer.", "OAuth2Config.assertion_subject"),
            _f("assertion_audience", "Audience (aud)", "string", "Who the assertions are for, e.g. "
               "https://login.salesforce.com. Empty: the token URL.", "OAuth2Config.assertion_audience"),
            _f("assertion_lifetime", "Assertion lifetime (seconds)", "number", "How long each signed assertion is "
               "valid, at most 3600.", "OAuth2Config.assertion_lifetime"),
            _f("assertion_scope_claim", "Scopes in the assertion", "boolean", "Send the scopes as the assertion's "
               "scope claim instead of a token request parameter (Google service accounts).",
               "OAuth2Config.assertion_scope_claim"),
            _f("assertion_claims", "Other assertion claims", "object", "Added to the JWT bearer assertion. Paste a "
               'JSON object, e.g. {"tenant": "acme"}.', "OAuth2Config.assertion_claims"),
            _f("assertion_kid", "Key ID (kid)", "string", "Sent as the kid header of each assertion, when the "
               "server asks for one.", "OAuth2Config.assertion_kid"),
            _f("assertion_cert_pem", "Assertion certificate (PEM)", "multiline", "The private key's certificate: "
               "its SHA-256 thumbprint goes in the x5t#S256 header (Microsoft Entra ID).",
               "OAuth2Config.assertion_cert_pem"),
            _f("service_account_json", "Service account key (JSON)", "secret", "A Google service account's JSON "
               "key file, pasted whole: its client_email, private_key, private_key_id and token_uri fill the issuer, "
               "private key, key ID, audience and token URL left empty. Hidden like a password.",
               "OAuth2Config.service_account_json"),
        ),
        *_section(
            "GitHub App",
            _f("installation_id", "Installation ID", "string", "The GitHub App installation a github_app grant's "
               "token is for: the number at the end of its settings URL. Fills {installation_id} in the token URL.",
               "OAuth2Config.installation_id"),
            _f("installation_permissions", "Token permissions", "object", "Narrow the installation token to fewer "
               'permissions than the installation has. Paste a JSON object, e.g. {"contents": "read"}. Empty: all '
               "of them.", "OAuth2Config.installation_permissions"),
            _f("installation_repositories", "Token repositories", "string", "Narrow the installation token to these "
               "repositories of the installation: names without the owner, separated by spaces or commas. Empty: "
               "all of them.", "OAuth2Config.installation_repositories"),
        ),
        *_section(
            "Token request options",
            _f("audience", "Audience", "string", "Sent as the audience parameter of token requests.",
               "OAuth2Config.audience"),
            _f("resource", "Resource", "string", "Sent as the resource parameter of token requests (RFC 8707).",
               "OAuth2Config.resource"),
            _f("tenant_id", "Directory (tenant) ID", "string", "Fills {tenant} in the token and authorization "
               "URLs, e.g. a Microsoft Entra ID tenant's ID or domain."),
            _f("login_params", "Other token request parameters", "object",
               'Added to every token request. Paste a JSON object, e.g. {"tenant": "acme"}.',
               "OAuth2Config.extra_token_params"),
            _f("revocation_url", "Revocation URL", "string", "The token revocation endpoint (RFC 7009), absolute or "
               "relative to the API base URL. Clearing the stored token revokes it there first.",
               "OAuth2Config.revocation_url"),
        ),
        *_section(
            "DPoP",
            _f("dpop", "Bind tokens to a key (DPoP)", "boolean", "Sign a DPoP proof (RFC 9449) with the DPoP private "
               "key for every token request and API request: the server binds the tokens to that key, and they go "
               "in the Authorization header as DPoP tokens. For servers that require it, e.g. Okta apps with DPoP "
               "required.", "OAuth2Config.dpop"),
            _f("dpop_private_key", "DPoP private key (PEM)", "secret", "An unencrypted P-256, RSA (2048 bits or "
               "more) or Ed25519 private key of this connection's own: its public key travels in each proof, the "
               "server needs no copy. Hidden like a password.", "OAuth2Config.dpop_private_key"),
            _choice("dpop_algorithm", "DPoP signing algorithm", "ES256 for a P-256 key, RS256 or PS256 for an RSA "
                    "key, EdDSA for an Ed25519 key.", "OAuth2Config.dpop_algorithm",
                    {"ES256": "ES256 (P-256 key)", "RS256": "RS256 (RSA key)", "PS256": "PS256 (RSA key)",
                     "EdDSA": "EdDSA (Ed25519 key)"}),
        ),
        *CUSTOM_GRANT,
        *SENDING,
        *_lifetime("OAuth2Config"),
        *COMMON_FIELDS,
    ),
    {"extra__authapi_oauth2__login_url": "/oauth/token"},
)  # fmt: skip

TOKEN_LOGIN = ConnectionType(
    "authapi_token",
    "AuthApiTokenHook",
    "Token login API",
    {"login": "User name / client ID", "password": "Password / secret"},
    (
        _f("login_url", "Login URL", "string", "The login endpoint, absolute or relative to the API base URL, "
           "e.g. /api/login.", "TokenLoginConfig.token_url"),
        _choice("request_format", "Login request body", "How the login is posted.", "TokenLoginConfig.request_format",
                {"json": "JSON", "form": "Form (URL-encoded)"}),
        _f("username_field", "User name field", "string", "Login body field for the user name or client ID.",
           "TokenLoginConfig.username_field"),
        _f("pass_field", "Password field", "string", "Login body field for the password or secret.",
           "TokenLoginConfig.password_field"),
        _f("extra_body", "Extra login body fields", "object",
           'Added to the login body. Paste a JSON object, e.g. {"rememberMe": true}.', "TokenLoginConfig.extra_body"),
        _f("access_path", "Token location in the response", "string", "Dotted path of the token in the login "
           "response, e.g. data.accessToken.", "TokenLoginConfig.token_path"),
        _f("expires_in_path", "Lifetime location in the response", "string", "Dotted path of a lifetime in "
           "seconds (or the lifetime unit), if the response has one.", "TokenLoginConfig.expires_in_path"),
        _choice("lifetime_unit", "Lifetime unit", "What the lifetime in the response counts, e.g. minutes for a "
                "session timeout.", "TokenLoginConfig.lifetime_unit",
                {"seconds": "Seconds", "minutes": "Minutes", "hours": "Hours"}),
        _f("expires_at_path", "Expiry location in the response", "string", "Dotted path of an absolute expiry "
           "time, if the response has one.", "TokenLoginConfig.expires_at_path"),
        *_section(
            "Session login",
            _choice("credential_source", "Read the token from", "The login response's body (at the token location), "
                    "or one of its headers or cookies, as session logins answer.",
                    "TokenLoginConfig.credential_source",
                    {"body": "Response body", "header": "Response header", "cookie": "Response cookie"}),
            _f("credential_name", "Token header or cookie name", "string", "The response header or cookie that "
               "holds the token, when not read from the body, e.g. B1SESSION.", "TokenLoginConfig.credential_name"),
            _f("carry_cookies", "Cookies to send back", "string", "Other cookies of the login response that go "
               "back with every request, e.g. ROUTEID. Separated by spaces or commas.",
               "TokenLoginConfig.carry_cookies"),
        ),
        *_section(
            "Refresh",
            _f("refresh_url", "Refresh URL", "string", "The refresh endpoint. Empty: a new login when the token "
               "expires.", "TokenLoginConfig.refresh_url"),
            _f("refresh_path", "Refresh token location in the response", "string", "Dotted path of the refresh "
               "token in the login response, e.g. RefreshToken.", "TokenLoginConfig.refresh_token_path"),
            _f("refresh_field", "Refresh token field", "string", "Refresh body field for the refresh token.",
               "TokenLoginConfig.refresh_token_field"),
            _f("refresh_body", "Extra refresh body fields", "object",
               'Added to the refresh body. Paste a JSON object, e.g. {"grant": "refresh"}.',
               "TokenLoginConfig.refresh_body"),
        ),
        *CUSTOM_GRANT,
        *SENDING,
        *_lifetime("TokenLoginConfig"),
        *COMMON_FIELDS,
    ),
    {"extra__authapi_token__login_url": "/api/login"},
)  # fmt: skip

API_KEY = ConnectionType(
    "authapi_apikey",
    "AuthApiApiKeyHook",
    "API key API",
    {"password": "API key"},
    (
        _choice("key_location", "Send the key in", "A request header or a query parameter.", "ApiKeyConfig.location",
                LOCATIONS),
        _f("key_name", "Header or parameter name", "string", "The header or query parameter that carries the key.",
           "ApiKeyConfig.name"),
        _f("key_prefix", "Key prefix", "string", "Written before the key in the header, e.g. Api-Key. Empty: the "
           "key alone.", "ApiKeyConfig.prefix"),
        *COMMON_FIELDS,
    ),
)  # fmt: skip

BASIC = ConnectionType(
    "authapi_basic", "AuthApiBasicHook", "Basic auth API", {"login": "User name", "password": "Password"},
    (
        _choice("basic_scheme", "Authentication scheme", "Basic sends the user name and password with every "
                "request; Digest answers the server's challenge with a hash of them (MD5 or SHA-256).",
                "BasicAuthConfig.http_scheme", {"basic": "Basic", "digest": "Digest (RFC 7616)"}),
        *COMMON_FIELDS,
    ),
)  # fmt: skip

BEARER = ConnectionType(
    "authapi_bearer", "AuthApiBearerHook", "Bearer token API", {"password": "Token"},
    (*_header("BearerAuthConfig"), *COMMON_FIELDS),
)  # fmt: skip

OAUTH1_SIGNATURES = {"HMAC-SHA256": "HMAC-SHA256", "HMAC-SHA1": "HMAC-SHA1 (legacy: NetSuite refuses it)"}

OAUTH1 = ConnectionType(
    "authapi_oauth1",
    "AuthApiOAuth1Hook",
    "OAuth 1.0a API",
    {"login": "Consumer key", "password": "Consumer secret"},
    (
        _f("token_id", "Token ID", "secret", "The access token's ID, sent as oauth_token in every request's "
           "signed Authorization header. Hidden like a password.", "OAuth1Config.token_id"),
        _f("token_secret", "Token secret", "secret", "The access token's secret: with the consumer secret it keys "
           "every request's signature. Hidden like a password.", "OAuth1Config.token_secret"),
        _f("realm", "Realm", "string", "Sent as the realm of every Authorization header, e.g. a NetSuite account ID "
           "such as 1234567_SB1. Fills {account} in the API base URL, in lower case with - for _.",
           "OAuth1Config.realm"),
        _choice("signature_method", "Signature method", "How each request is signed: HMAC-SHA256, or HMAC-SHA1 for "
                "a server that knows no other.", "OAuth1Config.signature_method", OAUTH1_SIGNATURES),
        *COMMON_FIELDS,
    ),
)  # fmt: skip

NO_AUTH = ConnectionType("authapi_none", "AuthApiNoAuthHook", "Unauthenticated API", {}, COMMON_FIELDS)

GENERIC_TYPES: dict[str, ConnectionType] = {
    t.conn_type: t for t in (OAUTH2, TOKEN_LOGIN, API_KEY, BASIC, BEARER, OAUTH1, NO_AUTH)
}

# -- a connection type per known system, generated from its profile and its base type's fields ----------------------

ADVANCED = "Advanced"  # a system type's part for the profile's values a person may change


def system_type(profile: Profile) -> ConnectionType:
    """`authapi_<profile>`: the base type's fields the system needs, in its words, at the profile's values."""
    base = GENERIC_TYPES[profile.conn_type]
    specs = {spec.name: spec for spec in base.fields}
    unknown = [name for name in (*profile.form, *profile.advanced, *profile.labels, *profile.help)
               if name not in specs and name not in ("host", "login", "password")]  # fmt: skip
    if unknown:
        raise ValueError(f"profile {profile.name!r} names no field of {base.conn_type}: {', '.join(unknown)}")

    def shown(name: str, section: str) -> FieldSpec:
        spec = specs[name]
        label, description = profile.labels.get(name, spec.label), profile.help.get(name, spec.description)
        return replace(
            spec, label=label, description=description, section=section, shown_default=profile.fields.get(name)
        )

    return ConnectionType(
        conn_type=f"authapi_{profile.name}",
        hook_class="AuthApi" + "".join(part.capitalize() for part in profile.name.split("_")) + "Hook",
        hook_name=profile.label,
        relabel={name: profile.labels[name] for name in ("login", "password") if name in profile.labels},
        fields=(*(shown(name, "") for name in profile.form), *(shown(name, ADVANCED) for name in profile.advanced)),
        placeholders={"host": profile.host} if profile.host else {},
        host_label=profile.labels.get("host"),
        base=base.conn_type,
        profile=profile.name,
        base_fields=base.fields,
    )


SYSTEM_TYPES: dict[str, ConnectionType] = {t.conn_type: t for t in map(system_type, PROFILES.values())}
CONNECTION_TYPES: dict[str, ConnectionType] = {**GENERIC_TYPES, **SYSTEM_TYPES}

# Earlier field names, still read (with a warning naming the new one). Airflow masked all but the last by name:
# the form showed and re-saved `***`, and task logs hid their values (`/oauth2/token`, `header`, `3600`) everywhere.
# `client_key_pem` had the opposite fault: a private key that no sensitive word matched.
RENAMED = {
    "token_url": "login_url",
    "authorization_url": "consent_url",
    "token_request_params": "login_params",
    "token_placement": "auth_location",
    "token_header_name": "header_name",
    "token_prefix": "header_prefix",
    "token_query_param": "query_param_name",
    "default_token_lifetime": "default_lifetime",
    "max_token_lifetime": "max_lifetime",
    "password_field": "pass_field",
    "token_path": "access_path",
    "refresh_token_path": "refresh_path",
    "refresh_token_field": "refresh_field",
    "api_key_name": "key_name",
    "api_key_location": "key_location",
    "api_key_prefix": "key_prefix",
    "client_key_pem": "client_private_key_pem",
}


# -- a connection read through the table: extras -> validated config, profile beneath -----------------------------

log = logging.getLogger(__name__)

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off", ""}
# "" (or null, which the form saves for a cleared field) means "no prefix" here, not "use the default".
EMPTY_ALLOWED = {"header_prefix", "key_prefix"}
MASK = "***"  # what Airflow's UI shows, and saves back, for a value it hides
# The core names a few fields after its config attributes; the connection field of each, for error messages.
CONFIG_FIELD_NAMES = {
    "token_url": "login_url",
    "authorization_url": "consent_url",
    "token_path": "access_path",
    "http_scheme": "basic_scheme",
    "api_key_name": "key_name",
    "token_placement": "auth_location",
    "client_id": "login",
    "client_secret": "password",
    "token": "password",
    "api_key": "password",
    "api_key_prefix": "key_prefix",
    "consumer_key": "login",
    "consumer_secret": "password",
}
TENANT = "{tenant}"  # in a URL field: the `tenant_id` field's value
ACCOUNT = "{account}"  # in an OAuth 1.0a API base URL: the realm (a NetSuite account ID) as a host name
ACCOUNT_ID = re.compile(r"[A-Za-z0-9]+(_[A-Za-z0-9]+)*")
PEM_BLOCK = re.compile(r"(-----BEGIN [A-Z0-9 ]+-----)(.*?)(-----END [A-Z0-9 ]+-----)", re.DOTALL)


class ConnectionFields:
    """Typed access to one connection's extras (and profile defaults), checked against the field specs."""

    def __init__(self, conn: Any, conn_type: ConnectionType) -> None:
        self.conn_id = getattr(conn, "conn_id", None) or "<unnamed>"
        self.specs: dict[str, FieldSpec] = {spec.name: spec for spec in conn_type.all_fields}
        self.renamed: dict[str, str] = {}  # new name -> the earlier name the connection used
        self.extra = self._read_extra(conn, conn_type.conn_type)
        self._refuse_masked_values()
        self.profile_fields: dict[str, Any] = {}
        self.profile_host = ""
        # A system type's form starts at its profile's values, so whatever it saved was chosen; a generic type's
        # form saves the base defaults, which must not hide the profile's values (see `raw`).
        self.saved_over_profile = bool(conn_type.profile)
        named = self.extra.get("profile")
        if conn_type.profile and named and named != conn_type.profile:
            raise self.error("profile", f"a {conn_type.conn_type} connection uses the profile {conn_type.profile!r}; "
                             f"remove the profile field (got {named!r})")  # fmt: skip
        if conn_type.profile or named:
            self._apply_profile(str(conn_type.profile or named), conn_type.scheme_type)
        self.host = (getattr(conn, "host", None) or self.profile_host or "").strip()

    def error(self, field: str, problem: str) -> ConfigError:
        return ConfigError(field, problem, conn_id=self.conn_id)

    def got(self, name: str, value: Any) -> str:
        """` (got 'x')` for a message, or nothing when the field holds a secret."""
        spec = self.specs.get(name)
        return "" if spec is None or spec.secret else f" (got {value!r})"

    def raw(self, name: str) -> Any:
        """The connection's value, else the profile's, else the field's default.

        The UI form saves every field, its defaults included: with a profile, a value equal to the field's
        default counts as not set, so that the profile's value (e.g. Aspire's `ClientId` user name field)
        is not overridden by a default nobody chose."""
        spec = self.specs.get(name)
        if name in self.extra:
            value = self.extra[name]
            if name in EMPTY_ALLOWED and value in ("", None):
                return ""
            overridden = (
                not self.saved_over_profile and name in self.profile_fields and spec and _is_default(spec, value)
            )
            if not _unset(value) and not overridden:
                return value
        value = self.profile_fields.get(name)
        if not _unset(value):
            return value
        return spec.default if spec else None

    def text(self, name: str) -> str | None:
        """A text or dropdown field; None only for a field whose config attribute has no default."""
        value = self.raw(name)
        if value is None:
            return None
        if self.specs[name].kind == "choice":
            choices = self.specs[name].choices
            if str(value) not in choices:
                raise self.error(name, f"must be one of {', '.join(choices)}{self.got(name, str(value))}")
        return str(value)

    def number(self, name: str, *, zero: bool = False) -> float | None:
        """A positive number of seconds (or 0 too, with `zero`)."""
        value = self.raw(name)
        if value is None:
            return None
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise self.error(name, f"must be a number of seconds{self.got(name, value)}")
        if number < 0 or (number == 0 and not zero):
            raise self.error(name, f"must be {'0 or more' if zero else 'greater than 0'}{self.got(name, value)}")
        return number

    def flag(self, name: str) -> bool:
        value = self.raw(name)
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in TRUE_WORDS:
            return True
        if str(value).strip().lower() in FALSE_WORDS or value is None:
            return False
        raise self.error(name, f"must be true or false{self.got(name, value)}")

    def mapping(self, name: str) -> dict[str, Any]:
        """A JSON object field; the profile's keys sit beneath the connection's (so a profile's
        `Accept` header survives a connection that adds its own `X-Tenant`)."""
        value = self.raw(name)
        if value is None:
            return {}
        profile_value = self.profile_fields.get(name)
        if isinstance(profile_value, dict) and value is not profile_value:
            return {**profile_value, **self._object(name, value)}
        return self._object(name, value)

    def _object(self, name: str, value: Any) -> dict[str, Any]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise self.error(name, f"is not valid JSON ({exc.msg} at position {exc.pos})") from None
        if not isinstance(value, dict):
            raise self.error(name, f"must be a JSON object, not {type(value).__name__}")
        return value

    def words(self, name: str) -> tuple[str, ...]:
        """A list field given as a JSON list, or as one string separated by spaces or commas."""
        value = self.raw(name)
        if value is None:
            return ()
        if isinstance(value, list | tuple):
            return tuple(str(item) for item in value if str(item).strip())
        return tuple(str(value).replace(",", " ").split())

    def pem(self, name: str) -> str | None:
        """A PEM field of one or more blocks; line breaks lost in a one-line input (the masked field) restored."""
        value = self.text(name)
        if not value:
            return None
        blocks = [_rewrap(block) for block in PEM_BLOCK.finditer(value.replace("\\n", "\n"))]
        if not blocks:
            raise self.error(name, "is not PEM text (no -----BEGIN ...----- and -----END ...----- lines)")
        return "\n".join(blocks) + "\n"

    def url(self, name: str) -> str | None:
        """A URL field, joined to the host when relative."""
        value = self.text(name)
        if not value:
            return None
        if "://" in value or value.startswith("{"):  # `{accounts_server}/oauth/v2/token`: filled after the consent
            return value
        if not self.host:
            raise self.error(name, f"is relative{self.got(name, value)} but the connection has no host to join it to")
        return urljoin(self.host.rstrip("/") + "/", value.lstrip("/"))

    def _read_extra(self, conn: Any, conn_type: str) -> dict[str, Any]:
        raw = getattr(conn, "extra", None)
        if not raw:
            return {}
        if isinstance(raw, dict):
            extra = dict(raw)
        else:
            try:
                extra = json.loads(raw)
            except ValueError as exc:
                raise self.error("extra", f"is not valid JSON ({exc.msg} at position {exc.pos})") from None
        if not isinstance(extra, dict):
            raise self.error("extra", "must be a JSON object")
        prefix = f"extra__{conn_type}__"  # the form's older, prefixed field names
        extra = {key.removeprefix(prefix): value for key, value in extra.items()}
        for old, new in RENAMED.items():
            if old in extra:
                value = extra.pop(old)
                if _unset(extra.get(new)):
                    extra[new] = value
                self.renamed[new] = old
        return extra

    def _refuse_masked_values(self) -> None:
        """`***` in a non-secret field is Airflow's mask saved back by the form, not a value: say so."""
        for name, value in self.extra.items():
            spec = self.specs.get(name)
            if spec is None or spec.secret or value != MASK:
                continue
            old = self.renamed.get(name)
            why = f"Airflow hides fields named like {old!r}, so its form showed and saved the mask; " if old else ""
            raise self.error(
                name, f"holds Airflow's mask {MASK} instead of a value ({why}type the real value in {name!r})"
            )

    def _apply_profile(self, name: str, conn_type: str) -> None:
        profile = PROFILES.get(name)
        if profile is None:
            known = ", ".join(sorted(PROFILES)) or "none"
            raise self.error("profile", f"unknown profile {name!r} (known: {known})")
        if profile.conn_type != conn_type:
            raise self.error("profile", f"profile {name!r} is for connection type {profile.conn_type}, not {conn_type}")
        self.profile_fields, self.profile_host = dict(profile.fields), profile.host


def _rewrap(block: re.Match[str]) -> str:
    """One PEM block with its base64 body on 64-character lines; bodies with headers are left alone."""
    begin, body, end = block.groups()
    if ":" in body:
        return block.group(0)
    body = "".join(body.split())
    return "\n".join([begin, *(body[i : i + 64] for i in range(0, len(body), 64)), end])


def auth_config_from_connection(conn: Any, *, grant: Any = None, auth: Any = None) -> AuthConfig:
    """The validated auth config of an Airflow connection of any `authapi_*` type.

    `grant` (a `CustomGrant` subclass or instance) and `auth` (an `httpx.Auth` subclass or instance) win over the
    connection's `grant_class` and `auth_class` fields. With either, the config carries the connection's settings
    for them (`own_settings`) and extras the field table does not know are the user's own, not typos."""
    conn_id = getattr(conn, "conn_id", None)
    conn_type = getattr(conn, "conn_type", None)
    if conn_type not in CONNECTION_TYPES:
        known = ", ".join(CONNECTION_TYPES)
        raise ConfigError("conn_type", f"{conn_type!r} is not one of this provider's types ({known})", conn_id)
    fields = ConnectionFields(conn, CONNECTION_TYPES[conn_type])
    grant = grant if grant is not None else (fields.text("grant_class") if "grant_class" in fields.specs else None)
    own = bool(grant or auth is not None or fields.raw("auth_class"))
    _warn_renamed_keys(fields)
    if not own:
        _warn_unknown_keys(fields, conn_type)
    scheme_type = CONNECTION_TYPES[conn_type].scheme_type
    try:
        if grant and scheme_type not in CUSTOM_GRANT_TYPES:
            raise ConfigError("grant_class", f"a grant of your own needs an OAuth 2.0 or token login connection, not "
                              f"{conn_type}")  # fmt: skip
        scheme = _custom_grant(fields, grant) if grant else SCHEMES[scheme_type](conn, fields)
        return AuthConfig(scheme, _common(fields, auth, own_settings(conn, fields) if own else None))
    except ConfigError as exc:
        if exc.conn_id:
            raise
        problem = str(exc).removeprefix(f"field {exc.field!r}: ")
        field = CONFIG_FIELD_NAMES.get(exc.field, exc.field)
        raise ConfigError(field, problem, conn_id=fields.conn_id) from None


def connection_value(conn: Any, name: str) -> Any:
    """One field of a connection as the mapping sees it: the connection's value (prefixed or renamed names
    included), else its profile's, else the field's default. For fields outside `AuthConfig`, such as
    `test_endpoint` and `realm_id`."""
    conn_type = getattr(conn, "conn_type", None)
    if conn_type not in CONNECTION_TYPES:
        raise ConfigError(
            "conn_type", f"{conn_type!r} is not one of this provider's types", getattr(conn, "conn_id", None)
        )
    return ConnectionFields(conn, CONNECTION_TYPES[conn_type]).raw(name)


def _warn_renamed_keys(fields: ConnectionFields) -> None:
    """An earlier field name still works; name the one to use instead (never the value)."""
    for new, old in sorted(fields.renamed.items()):
        log.warning(
            "Connection %r: extra key %r has been renamed to %r; rename it in the connection (the old name is still "
            "read)",
            fields.conn_id,
            old,
            new,
        )


def _unset(value: Any) -> bool:
    return value is None or value == ""


def _is_default(spec: FieldSpec, value: Any) -> bool:
    """Whether `value` is the field's default as the form saves it (3600 == "3600", True == "true")."""
    default = spec.default
    if default is None:
        return False
    if default == ():  # no scopes: an empty JSON list is that default too
        return value in ((), [])
    if isinstance(default, bool):
        return str(value).strip().lower() == str(default).lower()
    if isinstance(default, int | float):
        try:
            return not isinstance(value, bool) and float(value) == float(default)
        except (TypeError, ValueError):
            return False
    return str(value) == str(default)


def _warn_unknown_keys(fields: ConnectionFields, conn_type: str) -> None:
    """A misspelt field would silently do nothing: name it (never its value), with the closest real field."""
    for key in sorted(set(fields.extra) - set(fields.specs)):
        close = difflib.get_close_matches(key, fields.specs, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        log.warning(
            "Connection %r: extra key %r is not a field of %s and is ignored%s", fields.conn_id, key, conn_type, hint
        )


CUSTOM_GRANT_TYPES = ("authapi_oauth2", "authapi_token")  # the types whose form has `grant_class`
OWN_CLASS_FIELDS = ("grant_class", "auth_class")  # not settings: the classes that read them


def own_settings(conn: Any, f: ConnectionFields) -> tuple[dict[str, Any], tuple[str, ...]]:
    """What a class of the user's own reads of the connection (`CommonConfig.settings`): its extras as stored
    (earlier names under their new ones), then `host`, `login` and `password`; fields left empty are absent. And
    which are secret: the password, the form's secret fields, and extras of the user's own named like a secret
    (`SECRET_SETTING_NAME`, Airflow's masker's words: `vendor_token`, `signing_secret`)."""
    values = {name: value for name, value in f.extra.items() if name not in OWN_CLASS_FIELDS and not _unset(value)}
    for name, value in (("host", f.host), ("login", getattr(conn, "login", None)),
                        ("password", getattr(conn, "password", None))):  # fmt: skip
        if not _unset(value):
            values[name] = value
    secret = [
        name
        for name in values
        if name == "password"
        or (f.specs[name].secret if name in f.specs else bool(config.SECRET_SETTING_NAME.search(name)))
    ]
    return values, tuple(secret)


def _custom_grant(f: ConnectionFields, grant: Any) -> CustomGrantConfig:
    """A grant of the user's own: it obtains the tokens; the form's placement and lifetime fields still apply."""
    return CustomGrantConfig(
        grant=grant,
        placement=_placement(f),
        default_lifetime=f.number("default_lifetime"),
        max_lifetime=f.number("max_lifetime"),
        leeway=f.number("leeway", zero=True),
    )


def _common(
    f: ConnectionFields, auth: Any = None, settings: tuple[dict[str, Any], tuple[str, ...]] | None = None
) -> CommonConfig:
    signature = None
    if f.raw("signature_header") or f.raw("signature_secret"):
        signature = SignatureConfig(f.text("signature_header") or "", f.text("signature_secret") or "")
    headers = {str(k): str(v) for k, v in f.mapping("extra_headers").items()}
    params = {str(k): str(v) for k, v in f.mapping("extra_query_params").items()}
    tls = TLSConfig(
        verify=f.flag("verify_tls"),
        ca_pem=f.pem("ca_cert_pem"),
        client_cert_pem=f.pem("client_cert_pem"),
        client_key_pem=f.pem("client_private_key_pem"),
    )
    if tls.client_key_pem and not tls.client_cert_pem:
        raise f.error("client_cert_pem", "is required when a client key is given")
    if f.host and "://" not in f.host and not f.host.startswith("{"):  # `{api_domain}`: learned after the consent
        raise f.error("host", f"must be a URL with a scheme, such as https://{f.host}")
    origins = f.words("allowed_origins")
    proxy = _proxy(f)
    values, secret = settings or ({}, ())
    return CommonConfig(
        f.host, headers, params, tls, f.number("timeout"), signature, allowed_origins=origins, proxy=proxy,
        auth_class=f.text("auth_class") or "", auth=auth, settings=values, secret_settings=secret,
        budget=_budget(f),
    )  # fmt: skip


def _budget(f: ConnectionFields) -> BudgetConfig:
    """The deployment-wide API budget (none without `budget_requests`)."""
    requests, period = f.number("budget_requests"), f.number("budget_period")
    if requests is not None and requests != int(requests):
        raise f.error("budget_requests", f"must be a whole number of requests{f.got('budget_requests', requests)}")
    return BudgetConfig(int(requests) if requests is not None else None, period or BudgetConfig.period)


def _proxy(f: ConnectionFields) -> ProxyConfig:
    """The connection's proxy; without `egress_url` none, and the process environment's proxy variables apply
    (httpx's `trust_env`). Credentials written into the URL are read too, and the URL is then a secret."""
    return ProxyConfig(f.text("egress_url") or "", f.text("egress_username"), f.text("egress_password"),
                       f.words("egress_bypass"))  # fmt: skip


def _placement(f: ConnectionFields) -> TokenPlacement:
    return TokenPlacement(
        location=f.text("auth_location"),  # type: ignore[arg-type]
        header_name=f.text("header_name"),
        prefix=f.text("header_prefix"),
        query_param=f.text("query_param_name"),
        cookie_name=f.text("cookie_name"),
    )


def _required_password(conn: Any, f: ConnectionFields, what: str) -> str:
    password = getattr(conn, "password", None)
    if not password:
        raise f.error("password", f"the {what} is required")
    return password


def _oauth2(conn: Any, f: ConnectionFields) -> OAuth2Config:
    grant_type = f.text("grant_type")
    if grant_type == "client_credentials" and not getattr(conn, "login", None):
        raise f.error("login", "the client id is required for the client_credentials grant")
    return OAuth2Config(
        token_url=_tenant_url(f, "login_url") or "",
        grant_type=grant_type,  # type: ignore[arg-type]
        client_id=getattr(conn, "login", None) or "",
        client_secret=getattr(conn, "password", None) or None,
        client_auth=f.text("client_auth"),  # type: ignore[arg-type]
        scopes=f.words("scopes"),
        audience=f.text("audience"),
        resource=f.text("resource"),
        extra_token_params={str(k): str(v) for k, v in f.mapping("login_params").items()},
        authorization_url=_tenant_url(f, "consent_url"),
        redirect_uri=f.text("redirect_uri"),
        use_pkce=f.flag("use_pkce"),
        username=f.text("username"),
        password=f.text("user_password"),
        refresh_token=f.text("refresh_token"),
        revocation_url=f.url("revocation_url"),
        placement=_placement(f),
        default_lifetime=f.number("default_lifetime"),
        max_lifetime=f.number("max_lifetime"),
        leeway=f.number("leeway", zero=True),
        assertion_private_key=f.pem("assertion_private_key"),
        assertion_algorithm=f.text("assertion_algorithm"),  # type: ignore[arg-type]
        assertion_issuer=f.text("assertion_issuer"),
        assertion_subject=f.text("assertion_subject"),
        assertion_audience=f.text("assertion_audience"),
        assertion_lifetime=f.number("assertion_lifetime"),
        assertion_scope_claim=f.flag("assertion_scope_claim"),
        assertion_claims=f.mapping("assertion_claims"),
        assertion_kid=f.text("assertion_kid"),
        assertion_cert_pem=f.pem("assertion_cert_pem"),
        service_account_json=_key_file(f, "service_account_json"),
        installation_id=f.text("installation_id"),
        installation_permissions={str(k): str(v) for k, v in f.mapping("installation_permissions").items()},
        installation_repositories=f.words("installation_repositories"),
        dpop=f.flag("dpop"),
        dpop_private_key=f.pem("dpop_private_key"),
        dpop_algorithm=f.text("dpop_algorithm"),  # type: ignore[arg-type]
        derived=_derived(f),
    )


def _derived(f: ConnectionFields) -> DerivedValues:
    """The values the connection learns after its consent (`auth/derived.py`)."""
    return DerivedValues(
        consent_values=_names(f, "consent_values"),
        answer_values=_names(f, "answer_values"),
        discovery_url=f.url("discovery_url") or "",
        discovery_list=f.text("discovery_list") or "",
        discovery_values=_names(f, "discovery_values"),
        discovery_match=_names(f, "discovery_match"),
    )


def _names(f: ConnectionFields, name: str) -> dict[str, str]:
    """A JSON object field of names and texts (parameters, paths, values)."""
    mapping = f.mapping(name)
    for key, value in mapping.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise f.error(name, f"{str(key)[:40]!r} must be text, not {type(value).__name__}")
    return {str(key): str(value) for key, value in mapping.items()}


def _key_file(f: ConnectionFields, name: str) -> str | None:
    """A JSON key file pasted as text, or given as an object in the connection's extra JSON."""
    value = f.raw(name)
    return json.dumps(value) if isinstance(value, dict) else f.text(name)


def _tenant_url(f: ConnectionFields, name: str) -> str | None:
    """A URL field with `{tenant}` (Microsoft Entra ID's token and authorization URLs) filled from `tenant_id`."""
    url = f.url(name)
    if not url or TENANT not in url:
        return url
    tenant = (f.text("tenant_id") or "").strip()
    if not tenant:
        raise f.error("tenant_id", f"is required: {name} holds {TENANT}")
    return url.replace(TENANT, quote(tenant, safe=""))


def _token_login(conn: Any, f: ConnectionFields) -> TokenLoginConfig:
    return TokenLoginConfig(
        token_url=f.url("login_url") or "",
        username=getattr(conn, "login", None) or "",
        password=_required_password(conn, f, "password or secret"),
        request_format=f.text("request_format"),  # type: ignore[arg-type]
        username_field=f.text("username_field"),
        password_field=f.text("pass_field"),
        extra_body=f.mapping("extra_body"),
        token_path=f.text("access_path"),
        refresh_token_path=f.text("refresh_path"),
        expires_in_path=f.text("expires_in_path"),
        expires_at_path=f.text("expires_at_path"),
        default_lifetime=f.number("default_lifetime"),
        max_lifetime=f.number("max_lifetime"),
        leeway=f.number("leeway", zero=True),
        refresh_url=f.url("refresh_url"),
        refresh_token_field=f.text("refresh_field"),
        refresh_body=f.mapping("refresh_body"),
        placement=_placement(f),
        credential_source=f.text("credential_source"),  # type: ignore[arg-type]
        credential_name=f.text("credential_name"),
        carry_cookies=f.words("carry_cookies"),
        lifetime_unit=f.text("lifetime_unit"),  # type: ignore[arg-type]
    )


def _api_key(conn: Any, f: ConnectionFields) -> ApiKeyConfig:
    return ApiKeyConfig(
        key=_required_password(conn, f, "API key"),
        name=f.text("key_name"),
        location=f.text("key_location"),  # type: ignore[arg-type]
        prefix=f.text("key_prefix"),
    )


def _basic(conn: Any, f: ConnectionFields) -> BasicAuthConfig:
    if not getattr(conn, "login", None):
        raise f.error("login", "the user name is required")
    scheme = f.text("basic_scheme")
    return BasicAuthConfig(conn.login, _required_password(conn, f, "password"), scheme)  # type: ignore[arg-type]


def _bearer(conn: Any, f: ConnectionFields) -> BearerAuthConfig:
    return BearerAuthConfig(
        token=_required_password(conn, f, "token"),
        header_name=f.text("header_name"),
        prefix=f.text("header_prefix"),
    )


def _oauth1(conn: Any, f: ConnectionFields) -> OAuth1Config:
    scheme = OAuth1Config(
        consumer_key=getattr(conn, "login", None) or "",
        consumer_secret=getattr(conn, "password", None) or "",
        token_id=f.text("token_id") or "",
        token_secret=f.text("token_secret") or "",
        realm=f.text("realm") or "",
        signature_method=f.text("signature_method"),  # type: ignore[arg-type]
    )
    if ACCOUNT in f.host:  # NetSuite's https://{account}.suitetalk.api.netsuite.com
        if not ACCOUNT_ID.fullmatch(scheme.realm):
            got = f" (got {scheme.realm!r})" if scheme.realm else ""
            raise f.error("realm", f"must be the account ID, e.g. 1234567_SB1: the API base URL holds {ACCOUNT}{got}")
        f.host = f.host.replace(ACCOUNT, scheme.realm.lower().replace("_", "-"))
    return scheme


SCHEMES: dict[str, Callable[[Any, ConnectionFields], SchemeConfig]] = {
    "authapi_oauth2": _oauth2,
    "authapi_token": _token_login,
    "authapi_apikey": _api_key,
    "authapi_basic": _basic,
    "authapi_bearer": _bearer,
    "authapi_oauth1": _oauth1,
    "authapi_none": lambda conn, f: NoAuthConfig(),
}
