"""Each real system's docs page (docs/systems/) gives a connection that the provider accepts as written."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from airflow_provider_authapi.connections import auth_config_from_connection
from tests import manual
from tests.emulators.jwt_oauth2 import certificate_pem, new_key
from tests.emulators.systems import SYSTEMS

CONN_VARIABLE = re.compile(r"AIRFLOW_CONN_(\w+)='(.*?)'", re.DOTALL)
API_BASE_FROM_TOKEN = {"salesforce"}  # no base URL: the token response's instance_url fills {instance_url}
API_BASE_AFTER_CONSENT = {"zoho": "{api_domain}"}  # the base URL is a value the token answer names


def key_placeholders() -> dict[str, str]:
    """Placeholders that must be real key material to pass validation, as JSON string contents."""
    key = new_key("RS256")
    key_file = {"type": "service_account", "private_key": key.pem, "private_key_id": "0123abcd"}
    key_file |= {
        "client_email": "reader@demo.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    values = {"private key PEM": key.pem, "certificate PEM": certificate_pem(key), "service account JSON key": key_file}
    return {
        f"<{name}>": json.dumps(value if isinstance(value, str) else json.dumps(value))[1:-1]
        for name, value in values.items()
    }


def system_block(name: str) -> str:
    return manual.block(f"system:{name}")


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_system_section_has_ui_fields_and_a_working_airflow_conn(system):
    block = system_block(system)
    assert "| Connection Type |" in block and "dags_examples/" in block
    found = CONN_VARIABLE.findall(block)
    assert found, f"no AIRFLOW_CONN_... example in the {system} section"
    for conn_id, text in found:
        for placeholder, value in key_placeholders().items():
            text = text.replace(placeholder, value)
        fields = json.loads(re.sub(r"<[^<>]+>", "placeholder-value-0123456789abcdef0123456789", text))
        extra = fields.pop("extra", None)
        conn = SimpleNamespace(
            conn_id=conn_id.lower(),
            host=fields.get("host"),
            login=fields.get("login"),
            password=fields.get("password"),
            port=None,
            schema=None,
            conn_type=fields["conn_type"],
            extra=json.dumps(extra) if isinstance(extra, dict) else extra,
        )
        config = auth_config_from_connection(conn)
        if system in API_BASE_AFTER_CONSENT:
            assert config.common.base_url == API_BASE_AFTER_CONSENT[system], system
            continue
        if system in API_BASE_FROM_TOKEN:
            assert config.common.base_url == "" and "{instance_url}" in block, system
            continue
        assert config.common.base_url.startswith("https://"), f"{system}: no base URL (from the profile or host)"
