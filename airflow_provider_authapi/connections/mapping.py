"""An Airflow connection of one of our types -> a validated `AuthConfig`.

Every problem raises one `ConfigError` naming the connection id and the field; a secret's value is never
part of the message. A profile's defaults sit beneath the connection's own values.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urljoin

from airflow_provider_authapi.auth.config import (
    ApiKeyConfig,
    AuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    CommonConfig,
    NoAuthConfig,
    OAuth2Config,
    SchemeConfig,
    SignatureConfig,
    TLSConfig,
    TokenLoginConfig,
    TokenPlacement,
)
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.connections.fields import CONNECTION_TYPES, RENAMED, ConnectionType, FieldSpec

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
}
TENANT = "{tenant}"  # in a URL field: the `tenant_id` field's value
PEM_BLOCK = re.compile(r"(-----BEGIN [A-Z0-9 ]+-----)(.*?)(-----END [A-Z0-9 ]+-----)", re.DOTALL)


class ConnectionFields:
    """Typed access to one connection's extras (and profile defaults), checked against the field specs."""

    def __init__(self, conn: Any, conn_type: ConnectionType) -> None:
        self.conn_id = getattr(conn, "conn_id", None) or "<unnamed>"
        self.specs: dict[str, FieldSpec] = {spec.name: spec for spec in conn_type.fields}
        self.renamed: dict[str, str] = {}  # new name -> the earlier name the connection used
        self.extra = self._read_extra(conn, conn_type.conn_type)
        self._refuse_masked_values()
        self.profile_fields: dict[str, Any] = {}
        self.profile_host = ""
        if self.extra.get("profile"):
            self._apply_profile(str(self.extra["profile"]), conn_type.conn_type)
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
            if not _unset(value) and not (name in self.profile_fields and spec and _is_default(spec, value)):
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
        if "://" in value:
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
        from airflow_provider_authapi.profiles import PROFILES

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


def auth_config_from_connection(conn: Any) -> AuthConfig:
    """The validated auth config of an Airflow connection of any `authapi_*` type."""
    conn_id = getattr(conn, "conn_id", None)
    conn_type = getattr(conn, "conn_type", None)
    if conn_type not in CONNECTION_TYPES:
        known = ", ".join(CONNECTION_TYPES)
        raise ConfigError("conn_type", f"{conn_type!r} is not one of this provider's types ({known})", conn_id)
    fields = ConnectionFields(conn, CONNECTION_TYPES[conn_type])
    _warn_renamed_keys(fields)
    _warn_unknown_keys(fields, conn_type)
    try:
        return AuthConfig(SCHEMES[conn_type](conn, fields), _common(fields))
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


def _common(f: ConnectionFields) -> CommonConfig:
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
    if f.host and "://" not in f.host:
        raise f.error("host", f"must be a URL with a scheme, such as https://{f.host}")
    return CommonConfig(f.host, headers, params, tls, f.number("timeout"), signature)


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
    )


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


SCHEMES: dict[str, Callable[[Any, ConnectionFields], SchemeConfig]] = {
    "authapi_oauth2": _oauth2,
    "authapi_token": _token_login,
    "authapi_apikey": _api_key,
    "authapi_basic": _basic,
    "authapi_bearer": _bearer,
    "authapi_none": lambda conn, f: NoAuthConfig(),
}
