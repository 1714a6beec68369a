"""The proxy fields read from a connection: validated with errors naming the field and no secret; credentials in
the URL moved out of it and kept as secrets; the httpx arguments every client is built with."""

from __future__ import annotations

import json
from types import SimpleNamespace

import httpx
import pytest

from airflow_provider_authapi.auth.client import client_kwargs
from airflow_provider_authapi.auth.config import config_secrets
from airflow_provider_authapi.auth.errors import ConfigError
from airflow_provider_authapi.connections.fields import auth_config_from_connection

PASSWORD = "proxy-pass-s3cr3t-0123"


def read(**extra):
    conn = SimpleNamespace(
        conn_id="proxied",
        conn_type="authapi_bearer",
        host="https://api.example.com",
        login=None,
        password="bearer-token-0123456789",
        extra=json.dumps(extra),
    )
    return auth_config_from_connection(conn)


def test_no_proxy_fields_no_proxy_and_the_environment_as_before():
    config = read()
    assert not config.common.proxy and config.common.proxy.url == ""
    kwargs = client_kwargs(config.common)
    assert "proxy" not in kwargs and "mounts" not in kwargs and "trust_env" not in kwargs  # httpx's default: True


def test_the_fields_become_one_proxy_with_credentials_and_bypass_mounts():
    config = read(
        egress_url="http://proxy.corp.example:3128",
        egress_username="svc-airflow",
        egress_password=PASSWORD,
        egress_bypass="internal.example, .corp.example 10.1.2.3, localhost:8080,[::1]",
    )
    proxy = config.common.proxy
    assert proxy.url == "http://proxy.corp.example:3128" and proxy.auth == ("svc-airflow", PASSWORD)
    assert PASSWORD in config_secrets(config) and PASSWORD not in repr(config)
    kwargs = client_kwargs(config.common)
    assert kwargs["trust_env"] is False
    assert kwargs["proxy"].url == httpx.URL("http://proxy.corp.example:3128")
    assert kwargs["proxy"].raw_auth == (b"svc-airflow", PASSWORD.encode())
    assert kwargs["mounts"] == {
        "all://*internal.example": None,
        "all://*corp.example": None,
        "all://10.1.2.3": None,
        "all://localhost:8080": None,
        "all://[::1]": None,
    }
    with httpx.Client(**kwargs) as client:  # httpx takes them as they are
        assert client.base_url == httpx.URL("https://api.example.com")


def test_credentials_in_the_url_are_moved_out_and_the_url_is_a_secret():
    url = f"https://svc:{PASSWORD}@proxy.corp.example:8443/"
    config = read(egress_url=url)
    proxy = config.common.proxy
    assert proxy.url == "https://proxy.corp.example:8443" and proxy.auth == ("svc", PASSWORD)
    assert {url, PASSWORD} <= set(config_secrets(config))
    assert PASSWORD not in repr(config)


@pytest.mark.parametrize(
    ("extra", "field", "problem"),
    [
        ({"egress_url": "socks5://proxy:1080"}, "egress_url", "must start with http:// or https://"),
        ({"egress_url": "proxy.corp.example:3128"}, "egress_url", "must start with http:// or https://"),
        ({"egress_url": "http://:3128"}, "egress_url", "names no host"),
        ({"egress_url": "http://proxy:65536"}, "egress_url", "port out of range"),
        ({"egress_url": "http://proxy:0"}, "egress_url", "port out of range"),
        ({"egress_url": "http://proxy:3128/path"}, "egress_url", "more than a proxy's address"),
        ({"egress_username": "svc"}, "egress_username", "egress_url is empty"),
        ({"egress_password": PASSWORD}, "egress_password", "egress_url is empty"),
        ({"egress_bypass": "example.com"}, "egress_bypass", "egress_url is empty"),
        ({"egress_url": "http://p:1", "egress_password": PASSWORD}, "egress_username", "required with a proxy"),
        (
            {"egress_url": f"http://svc:{PASSWORD}@p:1", "egress_username": "svc"},
            "egress_username",
            "both in egress_url",
        ),
        ({"egress_url": "http://p:1", "egress_bypass": "10.0.0.0/8"}, "egress_bypass", "CIDR ranges"),
        ({"egress_url": "http://p:1", "egress_bypass": "example.com:99999"}, "egress_bypass", "port out of range"),
        ({"egress_url": "http://p:1", "egress_bypass": "https://example.com"}, "egress_bypass", "no scheme"),
        ({"egress_url": "http://p:1", "egress_bypass": "exa$mple.com"}, "egress_bypass", "not a host"),
    ],
)
def test_errors_name_the_field_and_never_a_secret(extra, field, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        read(**extra)
    assert caught.value.field == field and f"field {field!r}" in str(caught.value)
    assert caught.value.conn_id == "proxied"
    assert PASSWORD not in str(caught.value)


def test_a_bad_url_with_credentials_is_not_quoted():
    for url in (f"ftp://svc:{PASSWORD}@proxy:21", f"http://svc:{PASSWORD}@proxy:3128/x", f"http://svc:{PASSWORD}@:1"):
        with pytest.raises(ConfigError) as caught:
            read(egress_url=url)
        assert PASSWORD not in str(caught.value)
