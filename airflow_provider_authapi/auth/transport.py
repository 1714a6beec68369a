"""How a connection's requests reach the network: the one place that turns its TLS verification and its proxy
(`ProxyConfig`) into httpx client arguments, for every client the provider builds (the API clients, sync and
async, of the hook, operator, sensor and trigger; the token, consent and revocation requests of the grants).

Without a proxy of the connection's own, httpx's environment convention applies as it always did
(`trust_env=True`: `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY` of the process). With one, the
environment's proxy variables are ignored for that connection (`trust_env=False`): its proxy and its bypass list
are the whole story, wherever the task runs. `trust_env` changes nothing else here: verification is always an
`SSLContext` or `False` (never httpx's `SSL_CERT_FILE` lookup), and httpx 0.28+ reads no `.netrc` by itself.

An HTTPS target is reached through an HTTP proxy by CONNECT: the TLS session (the connection's `verify_tls`,
`ca_cert_pem` and client certificate) is with the target, end to end; the proxy sees the host and port only. A
plain-http target is forwarded: the proxy sees the whole request, credentials included, as any forward proxy
must. An `https://` proxy is verified with the same context as the target.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from airflow_provider_authapi.auth.config import ProxyConfig
from airflow_provider_authapi.auth.errors import ProxyAuthenticationError, safe_url

PROXY_AUTHENTICATION_REQUIRED = 407


def transport_kwargs(verify: ssl.SSLContext | bool, proxy: ProxyConfig | None) -> dict[str, Any]:
    """`verify`, and with a proxy `proxy`, `mounts` (the bypassed hosts on the direct transport) and
    `trust_env=False`, for `httpx.Client` and `httpx.AsyncClient` alike."""
    if not proxy:
        return {"verify": verify}
    return {
        "verify": verify,
        "trust_env": False,
        "proxy": httpx.Proxy(proxy.url, auth=proxy.auth, ssl_context=_proxy_context(proxy, verify)),
        # None: the client's own transport, direct, built with the same `verify`
        "mounts": dict.fromkeys(proxy.bypass),
    }


def _proxy_context(proxy: ProxyConfig, verify: ssl.SSLContext | bool) -> ssl.SSLContext | None:
    if not proxy.url.startswith("https://"):
        return None
    if isinstance(verify, ssl.SSLContext):
        return verify
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def proxy_refusal(
    proxy: ProxyConfig | None,
    request: httpx.Request,
    response: httpx.Response | None = None,
    exc: Exception | None = None,
) -> ProxyAuthenticationError | None:
    """The typed error for a 407 of the connection's proxy: an answer to a forwarded plain-http request
    (`response`), or httpx's `ProxyError` for a refused CONNECT (`exc`); None for anything else."""
    if not proxy:
        return None
    refused = (response is not None and response.status_code == PROXY_AUTHENTICATION_REQUIRED) or (
        isinstance(exc, httpx.ProxyError) and str(PROXY_AUTHENTICATION_REQUIRED) in str(exc)
    )
    if not refused:
        return None
    what = f"{request.method} {safe_url(request.url)}"
    return ProxyAuthenticationError(proxy.url, what, sent_credentials=proxy.auth is not None)
