"""The connection form: every connection type's custom fields, written once.

`get_provider_info` turns these into `conn-fields` and `ui-field-behaviour`; `connections.mapping` reads
connection extras with the same specs (type, choices), so the form and the validation cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HOOKS_MODULE = "airflow_provider_authapi.hooks.connection_types"  # one AuthApiHook subclass per type
STANDARD_FIELDS = ("schema", "port", "login", "password", "description")


@dataclass(frozen=True)
class FieldSpec:
    """One custom field, stored as a top-level key of the connection's `extra` JSON."""

    name: str
    label: str
    kind: str  # string | secret | multiline | integer | number | boolean | object | choice
    description: str
    choices: tuple[str, ...] = ()
    default: Any = None

    def schema(self) -> dict[str, Any]:
        """The JSON Schema the Airflow 3 UI renders (enum: dropdown; format: masked or multi-line input)."""
        if self.kind == "choice":
            schema: dict[str, Any] = {"type": ["string", "null"], "enum": [*self.choices, None]}
        elif self.kind in ("secret", "multiline"):
            schema = {"type": ["string", "null"], "format": "password" if self.kind == "secret" else "multiline"}
        else:
            schema = {"type": [self.kind, "null"]}
        if self.default is not None:
            schema["default"] = self.default
        return schema

    def conn_field(self) -> dict[str, Any]:
        return {"label": self.label, "description": self.description, "schema": self.schema()}


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


def _f(name: str, label: str, kind: str, description: str, *choices: str, default: Any = None) -> FieldSpec:
    return FieldSpec(name, label, kind, description, tuple(choices), default)


PLACEMENT_FIELDS = (
    _f("token_placement", "Token placement", "choice", "Send the token in a header or a query parameter.",
       "header", "query", default="header"),
    _f("token_header_name", "Token header name", "string", "Header carrying the token.", default="Authorization"),
    _f("token_prefix", "Token header prefix", "string", "Prefix before the token in the header; empty for none.",
       default="Bearer"),
    _f("token_query_param", "Token query parameter", "string", "Query parameter carrying the token.",
       default="access_token"),
)  # fmt: skip

LIFETIME_FIELDS = (
    _f("default_token_lifetime", "Default token lifetime (s)", "number",
       "Used when the token response gives no expiry and the token is not a JWT with `exp`.", default=3600),
    _f("max_token_lifetime", "Maximum token lifetime (s)", "number",
       "Caps the declared lifetime: the shorter of declared and configured wins."),
    _f("leeway", "Leeway (s)", "number",
       "A token counts as expired this many seconds early (at most a tenth of its lifetime).", default=60),
)  # fmt: skip

COMMON_FIELDS = (
    _f("profile", "Profile", "string", "A preset for a known system (see README); fields set here win over it."),
    _f("extra_headers", "Extra headers", "object", 'Headers on every request, e.g. {"X-Tenant": "acme"}.'),
    _f("extra_query_params", "Extra query parameters", "object", 'Query parameters on every request.'),
    _f("verify_tls", "Verify TLS", "boolean", "Verify the server's certificate.", default=True),
    _f("ca_cert_pem", "CA certificate (PEM)", "multiline", "Trust this CA, e.g. a self-signed server's certificate."),
    _f("client_cert_pem", "Client certificate (PEM)", "multiline", "A TLS client certificate."),
    _f("client_private_key_pem", "Client private key (PEM)", "secret",
       "The client certificate's private key (unencrypted PEM). Airflow hides it like a password."),
    _f("timeout", "Timeout (s)", "number", "Timeout of each HTTP request.", default=30),
    _f("signature_header", "Signature header", "string",
       "Name of a header carrying a fresh HS256 JWT signed with the signature secret on every request."),
    _f("signature_secret", "Signature secret", "secret", "At least 32 characters."),
    _f("test_endpoint", "Test endpoint", "string", "Path the Test button calls (static schemes).", default="/"),
)  # fmt: skip

OAUTH2 = ConnectionType(
    "authapi_oauth2",
    "AuthApiOAuth2Hook",
    "OAuth 2.0 API",
    {"login": "Client ID", "password": "Client secret"},
    (
        _f("grant_type", "Grant type", "choice", "OAuth 2.0 grant.",
           "client_credentials", "authorization_code", "password", "refresh_token", default="client_credentials"),
        _f("token_url", "Token URL", "string", "Absolute, or relative to the API base URL."),
        _f("authorization_url", "Authorization URL", "string", "Consent page (authorization code grant)."),
        _f("redirect_uri", "Redirect URI", "string", "Callback registered with the provider."),
        _f("scopes", "Scopes", "string", "Space or comma separated."),
        _f("audience", "Audience", "string", "`audience` parameter of the token request."),
        _f("resource", "Resource", "string", "`resource` parameter of the token request (RFC 8707)."),
        _f("client_auth", "Client authentication", "choice", "Send the client id and secret in a Basic header "
           "or in the request body.", "basic", "body", default="basic"),
        _f("token_request_params", "Custom token request parameters", "object", "Added to every token request."),
        _f("refresh_token", "Initial refresh token", "secret", "Seeds an empty token store; after that the stored, "
           "rotated one wins."),
        _f("use_pkce", "Use PKCE", "boolean", "PKCE (S256) in the authorization code grant.", default=False),
        _f("username", "User name", "string", "Resource owner (password grant)."),
        _f("user_password", "User password", "secret", "Resource owner's password (password grant)."),
        _f("realm_id", "Realm / company id", "string", "QuickBooks company id; usable as {realm_id} in endpoints."),
        *PLACEMENT_FIELDS,
        *LIFETIME_FIELDS,
        *COMMON_FIELDS,
    ),
    {"extra__authapi_oauth2__token_url": "/oauth2/token"},
)  # fmt: skip

TOKEN_LOGIN = ConnectionType(
    "authapi_token",
    "AuthApiTokenHook",
    "Token login API",
    {"login": "User name / client id", "password": "Password / secret"},
    (
        _f("token_url", "Token URL", "string", "Login endpoint; absolute, or relative to the API base URL."),
        _f("request_format", "Request format", "choice", "Body of the login request.", "json", "form",
           default="json"),
        _f("username_field", "User name field", "string", "Body field for the login.", default="username"),
        _f("password_field", "Password field", "string", "Body field for the password.", default="password"),
        _f("extra_body", "Extra body fields", "object", "Added to the login body."),
        _f("token_path", "Token path", "string", "Dotted path to the token in the response.",
           default="access_token"),
        _f("refresh_token_path", "Refresh token path", "string", "Dotted path to the refresh token, if any."),
        _f("expires_in_path", "Expires-in path", "string", "Dotted path to a lifetime in seconds, if any."),
        _f("expires_at_path", "Expires-at path", "string", "Dotted path to an absolute expiry, if any."),
        _f("refresh_url", "Refresh URL", "string", "Refresh endpoint; without it, expiry means a new login."),
        _f("refresh_token_field", "Refresh token field", "string", "Body field for the refresh token.",
           default="RefreshToken"),
        _f("refresh_body", "Extra refresh body fields", "object", "Added to the refresh body."),
        *PLACEMENT_FIELDS,
        *LIFETIME_FIELDS,
        *COMMON_FIELDS,
    ),
)  # fmt: skip

API_KEY = ConnectionType(
    "authapi_apikey",
    "AuthApiApiKeyHook",
    "API key API",
    {"password": "API key"},
    (
        _f("api_key_name", "Key name", "string", "Header or query parameter name.", default="X-API-Key"),
        _f("api_key_location", "Key location", "choice", "Header or query parameter.", "header", "query",
           default="header"),
        _f("api_key_prefix", "Key prefix", "string", "Sent before the key, e.g. `Api-Key`; empty for none."),
        *COMMON_FIELDS,
    ),
)  # fmt: skip

BASIC = ConnectionType(
    "authapi_basic", "AuthApiBasicHook", "Basic auth API", {"login": "User name", "password": "Password"}, COMMON_FIELDS
)

BEARER = ConnectionType(
    "authapi_bearer",
    "AuthApiBearerHook",
    "Bearer token API",
    {"password": "Token"},
    (
        _f("token_header_name", "Token header name", "string", "Header carrying the token.", default="Authorization"),
        _f("token_prefix", "Token header prefix", "string", "Prefix before the token; empty for none.",
           default="Bearer"),
        *COMMON_FIELDS,
    ),
)  # fmt: skip

NO_AUTH = ConnectionType("authapi_none", "AuthApiNoAuthHook", "Unauthenticated API", {}, COMMON_FIELDS)

CONNECTION_TYPES: dict[str, ConnectionType] = {
    t.conn_type: t for t in (OAUTH2, TOKEN_LOGIN, API_KEY, BASIC, BEARER, NO_AUTH)
}
