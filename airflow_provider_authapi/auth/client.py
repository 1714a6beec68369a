"""httpx client settings from a `CommonConfig`: base URL, headers, timeout and TLS."""

from __future__ import annotations

import functools
import os
import ssl
import tempfile
from typing import Any

from airflow_provider_authapi.auth.config import CommonConfig, TLSConfig
from airflow_provider_authapi.auth.errors import ConfigError


def client_kwargs(common: CommonConfig) -> dict[str, Any]:
    """Keyword arguments for `httpx.Client` / `httpx.AsyncClient`.

    The extra query parameters are not among them: `build_auth` adds them to each request (see
    `ExtraQueryParams`), so that an endpoint's own query string survives.
    """
    return {
        "base_url": common.base_url,
        "headers": dict(common.headers),
        "verify": ssl_verify(common.tls),
        "timeout": common.timeout,
    }


def ssl_verify(tls: TLSConfig) -> ssl.SSLContext | bool:
    """`False` when verification is off, else an SSLContext trusting the system CAs plus `ca_pem`."""
    if not tls.verify and not tls.client_cert_pem:
        return False
    return _context(tls.verify, tls.ca_pem, tls.client_cert_pem, tls.client_key_pem)


@functools.lru_cache(maxsize=32)
def _context(verify: bool, ca_pem: str | None, cert_pem: str | None, key_pem: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if ca_pem:
        try:
            context.load_verify_locations(cadata=ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError("ca_cert_pem", f"is not a PEM certificate the TLS library accepts ({exc})") from None
    if cert_pem:
        _load_client_cert(context, cert_pem, key_pem)
    return context


def _load_client_cert(context: ssl.SSLContext, cert_pem: str, key_pem: str | None) -> None:
    """`load_cert_chain` reads files only: write the PEMs to a private temporary folder, load, delete."""
    with tempfile.TemporaryDirectory(prefix="authapi-tls-") as folder:
        os.chmod(folder, 0o700)
        cert_file = os.path.join(folder, "cert.pem")
        key_file = os.path.join(folder, "key.pem") if key_pem else None
        with open(cert_file, "w") as handle:
            handle.write(cert_pem)
        if key_file:
            with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
                handle.write(key_pem or "")
        try:
            context.load_cert_chain(cert_file, key_file)
        except (ssl.SSLError, ValueError) as exc:
            field = "client_private_key_pem" if "key" in str(exc).lower() else "client_cert_pem"
            problem = f"could not be loaded as a PEM client certificate and key ({exc.args[-1]})"
            raise ConfigError(field, problem) from None
