"""Each real system's README section gives a connection that the provider accepts as written."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from airflow_provider_authapi.connections import auth_config_from_connection
from tests.conftest import ROOT
from tests.emulators.systems import SYSTEMS

README = (ROOT / "README.md").read_text()
CONN_VARIABLE = re.compile(r"AIRFLOW_CONN_(\w+)='(.*?)'", re.DOTALL)


def system_block(name: str) -> str:
    start, end = f"<!-- BEGIN system:{name} -->", f"<!-- END system:{name} -->"
    return README[README.index(start) + len(start) : README.index(end)]


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_system_section_has_ui_fields_and_a_working_airflow_conn(system):
    block = system_block(system)
    assert "| Connection Type |" in block and "dags_examples/" in block
    found = CONN_VARIABLE.findall(block)
    assert found, f"no AIRFLOW_CONN_... example in the {system} section"
    for conn_id, text in found:
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
        assert config.common.base_url.startswith("https://"), f"{system}: no base URL (from the profile or host)"
