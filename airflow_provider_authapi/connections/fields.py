"""The connection form: every connection type's custom fields, written once.

`get_provider_info` turns these into `conn-fields` and `ui-field-behaviour`; `connections.mapping` reads
connection extras with the same specs (type, choices, defaults), so the form and the validation cannot drift apart.
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

from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Literal, get_args, get_origin, get_type_hints

from airflow_provider_authapi.auth import config

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
        offers a literal "null" (the dropdown can be cleared instead). An empty default ("", ()) is not shown."""
        if self.kind == "choice":
            labels = dict(self.choice_labels)
            schema: dict[str, Any] = {"type": ["string", "null"], "enum": list(self.choices)}
            schema["values_display"] = {value: labels[value] for value in self.choices}
        elif self.kind in ("secret", "multiline"):
            schema = {"type": ["string", "null"], "format": "password" if self.secret else "multiline"}
        else:
            schema = {"type": [self.kind, "null"]}
        if self.default not in (None, "", ()):
            schema["default"] = _whole(self.default)
        if self.section:
            schema["section"] = self.section
        return schema

    def conn_field(self) -> dict[str, Any]:
        return {"label": self.label, "description": self.description, "schema": self.schema()}


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
    """One connection type of the provider: its name, standard-field labels and custom fields."""

    conn_type: str
    hook_class: str  # class name in HOOKS_MODULE
    hook_name: str
    relabel: dict[str, str]
    fields: tuple[FieldSpec, ...]
    placeholders: dict[str, str] = field(default_factory=dict)

    def provider_info(self) -> dict[str, Any]:
        shown = {"host", *self.relabel}
        return {
            "connection-type": self.conn_type,
            "hook-class-name": f"{HOOKS_MODULE}.{self.hook_class}",
            "hook-name": self.hook_name,
            "ui-field-behaviour": {
                "hidden-fields": [name for name in STANDARD_FIELDS if name not in shown and name != "description"],
                "relabeling": {"host": "API base URL", **self.relabel},
                "placeholders": {"host": "https://api.example.com", **self.placeholders},
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
           "Used when the login response gives no expiry and the token is not a JWT with an expiry.",
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
        _f("test_endpoint", "Test endpoint", "string",
           "Path of a cheap GET request that the connection Test calls, e.g. /v1/me.", default="/"),
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
        "Request signature",
        _f("signature_header", "Signature header", "string",
           "Name of a header that carries a fresh HS256 JWT, signed with the signature secret, on every request.",
           "SignatureConfig.header"),
        _f("signature_secret", "Signature secret", "secret", "At least 32 characters. Hidden like a password.",
           "SignatureConfig.secret"),
    ),
    PROFILE,  # last here; types with profiles show it first (see _with_profile_first)
)  # fmt: skip

GRANTS = {
    "client_credentials": "Client credentials",
    "authorization_code": "Authorization code (consent in a browser)",
    "password": "Password (resource owner)",
    "refresh_token": "Refresh token",
    "jwt_bearer": "JWT bearer (signed assertion)",
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

NO_AUTH = ConnectionType("authapi_none", "AuthApiNoAuthHook", "Unauthenticated API", {}, COMMON_FIELDS)

CONNECTION_TYPES: dict[str, ConnectionType] = {
    t.conn_type: t for t in (OAUTH2, TOKEN_LOGIN, API_KEY, BASIC, BEARER, NO_AUTH)
}

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
