"""Values a connection learns only after its consent, and the `{name}` placeholders they fill.

Some APIs say where the next requests go only once the user has consented:

- the consent callback's parameters (Zoho: `accounts-server`, the user's data centre, whose token endpoint takes
  the code and every refresh);
- the token answer (Zoho: `api_domain`, the API host of that data centre; Salesforce's `instance_url` is the one
  built in, `grants.token_from_answer`);
- a discovery request sent with the first token (Jira Cloud: the site's `cloudid` from `accessible-resources`;
  Xero: the organisation's `tenantId` from `/connections`).

`config.DerivedValues` names them; `OAuth2Grant` and `TokenEndpoint` (grants.py) take them in, and they are kept in
the token's `extra[DERIVED]`: public (shown with the token's state, never a secret), surviving every refresh (an
answer without a value keeps the one stored). They fill `{name}` in the token, revocation and discovery URLs, the
API base URL, the extra headers and query parameters (`resolve`) and, through the hook, endpoints.

Where credentials go stays the connection's to say: a value that makes a URL's origin (`{api_domain}/crm/v8`,
`{accounts_server}/oauth/v2/token`) is trusted only because the connection's own consent or token endpoint gave
it, and only as an https URL within `allowed_origins` when the connection lists them; anything else is a
`ConfigError` naming the field that holds the placeholder. Elsewhere in a URL a value is percent-encoded, so it
cannot move the request to another host or path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from airflow_provider_authapi.auth.config import (
    NO_DERIVED,
    PLACEHOLDER,
    AuthConfig,
    DerivedValues,
    OAuth2Config,
    origin,
    origin_templated,
    url_head,
)
from airflow_provider_authapi.auth.errors import ConfigError, TokenEndpointError
from airflow_provider_authapi.auth.json_path import find_path
from airflow_provider_authapi.auth.tokens import DERIVED, Token

log = logging.getLogger(__name__)

MAX_VALUE_CHARS = 2048
MAX_SHOWN = 10  # entries named in an error about the discovery's pick


def spec_of(config: AuthConfig | Any) -> DerivedValues:
    """The derived values a config (or its scheme) declares; none for schemes other than OAuth 2.0."""
    scheme = config.scheme if isinstance(config, AuthConfig) else config
    return scheme.derived if isinstance(scheme, OAuth2Config) else NO_DERIVED


# -- kept with the token --------------------------------------------------------------------------------------------


def values_of(token: Token | None) -> dict[str, str]:
    """The values a token carries (`extra[DERIVED]`); {} for none."""
    kept = token.extra.get(DERIVED) if token is not None else None
    return {str(name): str(value) for name, value in kept.items()} if isinstance(kept, Mapping) else {}


def with_values(token: Token, values: Mapping[str, str]) -> Token:
    """`token` with `values` kept over the ones it carries."""
    if not values:
        return token
    return replace(token, extra={**token.extra, DERIVED: {**values_of(token), **values}})


def clean(raw: Any) -> str | None:
    """A value as kept: text (a number as its digits), trimmed, on one line and short; None for anything else."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    value = str(raw).strip()
    if not value or len(value) > MAX_VALUE_CHARS or any(char in value for char in "\r\n\0"):
        return None
    return value


def from_callback(spec: DerivedValues, params: Mapping[str, Any]) -> dict[str, str]:
    """The consent callback's values (`consent_values`: name -> parameter), those it carries."""
    found = {name: clean(params.get(param)) for name, param in spec.consent_values.items()}
    return {name: value for name, value in found.items() if value is not None}


def from_answer(spec: DerivedValues, body: Mapping[str, Any], token: Token, source: str) -> Token:
    """`token` with the token answer's values (`answer_values`: name -> path). One the answer lacks keeps the value
    stored before (a refresh answer names no `api_domain` at some APIs); one that is not a short text, or is the
    token itself, is left out with a warning: the answer is the server's, refusing it would lose its tokens."""
    found: dict[str, str] = {}
    for name, path in spec.answer_values.items():
        raw = find_path(body, path)
        if raw is None:
            continue
        value = clean(raw)
        if value is None or value in (token.access_token, token.refresh_token):
            log.warning("%s: %s at %r is no value to keep as {%s}; left out", source, type(raw).__name__, path, name)
            continue
        found[name] = value
    return with_values(token, found)


# -- the discovery request ------------------------------------------------------------------------------------------


def needs_discovery(spec: DerivedValues, token: Token) -> bool:
    """Whether `token` lacks a value of the discovery (the first token: consent, login, a seeded refresh token)."""
    kept = values_of(token)
    return bool(spec.discovery_url) and any(name not in kept for name in spec.discovery_values)


def discovery_entries(spec: DerivedValues, body: Any, url: str) -> list[Any]:
    """The entries of a discovery answer: the list at `discovery_list` (or the answer itself; one object is one
    entry)."""
    listed = find_path(body, spec.discovery_list) if spec.discovery_list else body
    if isinstance(listed, Mapping):
        return [listed]
    if not isinstance(listed, list):
        where = f"at {spec.discovery_list!r}" if spec.discovery_list else "as its answer"
        raise TokenEndpointError(f"discovery {url} gave {type(listed).__name__} {where}, not a list of entries "
                                 "(check discovery_list)", url=url)  # fmt: skip
    return listed


def entry_values(spec: DerivedValues, entry: Any, *, required: bool = True) -> dict[str, str]:
    """One entry's values (`discovery_values`: name -> path in the entry); a missing one is an error when
    `required` (the entry picked), else left out (a listing for the DAG)."""
    values: dict[str, str] = {}
    for name, path in spec.discovery_values.items():
        value = clean(find_path(entry, path))
        if value is not None:
            values[name] = value
        elif required:
            keys = ", ".join(sorted(map(str, entry))[:20]) if isinstance(entry, Mapping) else type(entry).__name__
            raise ConfigError("discovery_values", f"{name!r}: the entry picked has no text at {path!r} (keys: {keys})")
    return values


def picked(spec: DerivedValues, entries: list[Any], url: str) -> Any:
    """The entry `discovery_match` names (every path at its value; URLs alike with or without a trailing /, any
    case), or the first entry without one."""
    if not entries:
        raise TokenEndpointError(f"discovery {url} listed no entries: the consent gave access to none (authorize "
                                 "again and pick a site or organisation)", url=url)  # fmt: skip
    if not spec.discovery_match:
        return entries[0]
    for entry in entries:
        if all(_alike(find_path(entry, path), wanted) for path, wanted in spec.discovery_match.items()):
            return entry
    shown = [
        ", ".join(f"{path}={clean(find_path(entry, path))!r}" for path in spec.discovery_match)
        for entry in entries[:MAX_SHOWN]
    ]
    more = f" and {len(entries) - MAX_SHOWN} more" if len(entries) > MAX_SHOWN else ""
    raise ConfigError("discovery_match", f"matches none of the {len(entries)} entries {url} listed: "
                      f"{'; '.join(shown)}{more}")  # fmt: skip


def _alike(found: Any, wanted: str) -> bool:
    value = clean(found)
    return value is not None and value.rstrip("/").casefold() == wanted.strip().rstrip("/").casefold()


def discovered(spec: DerivedValues, body: Any, url: str) -> dict[str, str]:
    """The values of the entry a discovery answer's `body` gives, as `discovery_match` picks it."""
    return entry_values(spec, picked(spec, discovery_entries(spec, body, url), url))


# -- filling placeholders -------------------------------------------------------------------------------------------


def placeholders(spec: DerivedValues, text: str) -> list[str]:
    """The declared names `text` holds as `{name}` (any other brace is left as it is)."""
    return [m.group(1) for m in PLACEHOLDER.finditer(text or "") if m.group(1) in spec.names]


def source(spec: DerivedValues, name: str) -> str:
    """Where a value comes from, for a message."""
    if name in spec.consent_values:
        return f"the consent callback's {spec.consent_values[name]!r} parameter (consent_values)"
    if name in spec.answer_values:
        return f"the token answer's {spec.answer_values[name]!r} (answer_values)"
    return f"the discovery request {spec.discovery_url} ({spec.discovery_values[name]!r}, discovery_values)"


def _require(field: str, text: str, spec: DerivedValues, values: Mapping[str, str]) -> None:
    for name in placeholders(spec, text):
        if not values.get(name):
            then = "authorize the connection (Admin > API tokens, or airflow authapi authorize)"
            if name not in spec.consent_values:
                then += ", or obtain a new token (Refresh there)"
            raise ConfigError(field, f"holds {{{name}}}, which {source(spec, name)} gives, and the stored token has "
                              f"no such value: {then}")  # fmt: skip


def fill_text(field: str, text: str, spec: DerivedValues, values: Mapping[str, str]) -> str:
    """`text` (a header or query parameter value) with each declared `{name}` replaced by its value."""
    if not placeholders(spec, text):
        return text
    _require(field, text, spec, values)
    return PLACEHOLDER.sub(lambda m: values[m.group(1)] if m.group(1) in spec.names else m.group(0), text)


def fill_url(
    field: str, template: str, spec: DerivedValues, values: Mapping[str, str], allowed_origins: Sequence[str] = ()
) -> str:
    """`template` with each declared `{name}` filled: one that starts the URL as the value itself, an https URL
    (`{api_domain}/crm/v8`), any other percent-encoded. When a value makes the URL's origin, that origin must be
    https and, where the connection lists `allowed_origins`, one of them: else a `ConfigError` naming `field`."""
    names = placeholders(spec, template)
    if not names:
        return template
    _require(field, template, spec, values)

    def put(match: Any) -> str:
        name = match.group(1)
        if name not in spec.names:
            return match.group(0)
        if match.start() == 0:
            return _base(field, name, values[name], spec)
        return quote(values[name], safe="")

    filled = PLACEHOLDER.sub(put, template)
    if origin_templated(template):
        _check_origin(field, filled, [n for n in names if f"{{{n}}}" in url_head(template)], spec, allowed_origins)
    return filled


def _base(field: str, name: str, value: str, spec: DerivedValues) -> str:
    """A value that starts a URL: an absolute https URL without credentials, query or fragment."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme != "https" or not url.host or url.userinfo or url.query or url.fragment:
        raise ConfigError(field, f"holds {{{name}}}, which {source(spec, name)} gave as {value[:100]!r}: a value "
                          "that starts a URL must be an https URL such as https://api.example.com")  # fmt: skip
    return value.rstrip("/")


def _check_origin(field: str, url: str, names: list[str], spec: DerivedValues, allowed_origins: Sequence[str]) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    given = ", ".join(f"{{{name}}} from {source(spec, name)}" for name in names)
    if parsed is None or parsed.scheme != "https" or not parsed.host or parsed.userinfo:
        raise ConfigError(field, f"filled with {given} is {url[:100]!r}, not an https URL: credentials go only to "
                          "https origins the connection's consent or token endpoint names")  # fmt: skip
    if allowed_origins and origin(parsed) not in allowed_origins:
        raise ConfigError(field, f"filled with {given} goes to {origin(parsed)}, which is not in allowed_origins "
                          f"({', '.join(allowed_origins)}): add it there if it is the API's")  # fmt: skip


# -- a whole config -------------------------------------------------------------------------------------------------

COMMON_FIELDS = (("host", "base_url"), ("extra_headers", "headers"), ("extra_query_params", "params"))


def needs_values(config: AuthConfig) -> bool:
    """Whether the config's API base URL, extra headers or query parameters hold a declared `{name}`."""
    spec, common = spec_of(config), config.common
    if not spec:
        return False
    texts = [common.base_url, *common.headers.values(), *common.params.values()]
    return any(placeholders(spec, text) for text in texts)


def resolve(config: AuthConfig, values: Mapping[str, str]) -> AuthConfig:
    """`config` with its API base URL, extra headers and query parameters filled from `values` (a token's
    `values_of`): what a client is built from (`client.build_client` refuses a config that still needs them)."""
    if not needs_values(config):
        return config
    spec, common = spec_of(config), config.common
    base = fill_url("host", common.base_url, spec, values, common.allowed_origins)
    headers = {name: fill_text("extra_headers", value, spec, values) for name, value in common.headers.items()}
    params = {name: fill_text("extra_query_params", value, spec, values) for name, value in common.params.items()}
    return replace(config, common=replace(common, base_url=base, headers=headers, params=params))


def refuse_unresolved(config: AuthConfig) -> None:
    """A `ConfigError` naming the first field that still holds a declared `{name}`."""
    if not needs_values(config):
        return
    spec, common = spec_of(config), config.common
    for field, attribute in COMMON_FIELDS:
        value = getattr(common, attribute)
        for text in value.values() if isinstance(value, dict) else (value,):
            if names := placeholders(spec, text):
                raise ConfigError(field, f"holds {{{names[0]}}}: fill it from the token first (derived.resolve(config, "
                                  "derived.values_of(token)); AuthApiHook does)")  # fmt: skip
