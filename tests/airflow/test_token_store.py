"""The Variable-backed token store: records, fingerprints, errors, and the refresh queue across OS processes."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pendulum
import pytest

from airflow_provider_authapi.auth.errors import TokenStoreError
from airflow_provider_authapi.auth.tokens import Token
from airflow_provider_authapi.compat import CLI_NAME, TASKS_LIST_VARIABLES
from airflow_provider_authapi.maintenance import stored_conn_ids
from airflow_provider_authapi.store import (
    MetadataVariables,
    VariableTokenStore,
    queue_variable_prefix,
    token_variable_name,
)
from airflow_provider_authapi.store.variables import legacy_token_variable_name
from tests.conftest import ROOT

SECRET_ACCESS = "at-very-secret-0001"
SECRET_REFRESH = "rt-very-secret-0001"


def _token(**kwargs) -> Token:
    return Token(
        access_token=SECRET_ACCESS,
        refresh_token=SECRET_REFRESH,
        expires_at=pendulum.now("UTC").add(hours=1),
        extra={"realm_id": "4620816365"},
        **kwargs,
    )


def test_save_load_roundtrip_and_fingerprint(airflow_db):
    store = VariableTokenStore("store_roundtrip", "fingerprint-a")
    store.clear()
    assert store.load() is None
    store.save(_token())
    loaded = store.load()
    assert loaded is not None
    assert (loaded.access_token, loaded.refresh_token) == (SECRET_ACCESS, SECRET_REFRESH)
    assert loaded.extra == {"realm_id": "4620816365"}
    # Changed credentials: the old token is not theirs.
    assert VariableTokenStore("store_roundtrip", "fingerprint-b").load() is None
    raw_text = MetadataVariables().get(token_variable_name("store_roundtrip"))
    raw = json.loads(raw_text)
    assert raw["fingerprint"] == "fingerprint-a" and raw["conn_id"] == "store_roundtrip"
    # The secrets are sealed with Airflow's Fernet key: neither token is readable in the record.
    assert "sealed" in raw and SECRET_ACCESS not in raw_text and SECRET_REFRESH not in raw_text


def test_no_name_in_the_record_is_one_the_masker_hides(airflow_db):
    """The Variables page shows (and a Save writes back) the record as it is: the Variable's name and every key
    of the record pass the installed masker, so nothing in it is replaced by `***`."""
    from airflow.sdk.log import redact

    from airflow_provider_authapi.auth.tokens import RECORD_KEYS

    VariableTokenStore("store_names", "fp").save(_token(scope="api1"))
    raw = MetadataVariables().get(token_variable_name("store_names"))
    assert set(json.loads(raw)) == set(RECORD_KEYS)
    assert redact(json.loads(raw), token_variable_name("store_names")) == json.loads(raw)


def test_status_shows_state_never_secrets(airflow_db):
    store = VariableTokenStore("store_status", "fp")
    store.save(_token(scope="api1"))
    status = store.status()
    text = json.dumps(status)
    assert status["stored"] and status["has_refresh_token"] and not status["expired"]
    assert status["extra"] == {"realm_id": "4620816365"}
    assert SECRET_ACCESS not in text and SECRET_REFRESH not in text
    store.clear()
    assert store.status() == {"conn_id": "store_status", "stored": False}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("not json at all", "it is not JSON"),
        ('{"version": 2, "conn_id": "store_corrupt", "fingerprint": "fp", "sealed": "gAAAAAB-edited"}', "decrypt"),
        ('{"version": 1, "token": {"access_token": "***", "refresh_token": "***"}}', "replaced by ***"),
    ],
)
def test_a_damaged_record_is_reported_with_its_fix_and_clear_works(airflow_db, raw, problem):
    from airflow_provider_authapi.auth.errors import DamagedRecordError

    MetadataVariables().set(token_variable_name("store_corrupt"), raw)
    store = VariableTokenStore("store_corrupt", "fp")
    with pytest.raises(DamagedRecordError) as excinfo:
        store.load()
    message = str(excinfo.value)
    assert "authapi_cache_store_corrupt" in message and problem in message
    assert f"{CLI_NAME} token clear store_corrupt" in message and "Clear" in message
    status = store.status()
    assert status["stored"] and status["damaged"] and status["error"] == message
    store.clear()
    assert store.load() is None and store.status()["stored"] is False


def test_a_version_1_record_migrates_without_losing_its_refresh_token(airflow_db):
    """Today's record under `authapi_token_<conn>` is read as it is; the next save writes the sealed record
    under the new name and deletes the old one."""
    old = {
        "version": 1,
        "conn_id": "store_v1",
        "fingerprint": "fp",
        "saved_at": 1.0,
        "token": _token().to_dict(),
    }
    variables = MetadataVariables()
    variables.delete(token_variable_name("store_v1"))
    variables.set(legacy_token_variable_name("store_v1"), json.dumps(old))
    store = VariableTokenStore("store_v1", "fp")
    loaded = store.load()
    assert loaded is not None and (loaded.access_token, loaded.refresh_token) == (SECRET_ACCESS, SECRET_REFRESH)
    assert store.status()["has_refresh_token"] and "store_v1" in stored_conn_ids()
    store.save(loaded)
    assert variables.get(legacy_token_variable_name("store_v1")) is None
    assert VariableTokenStore("store_v1", "fp").load().refresh_token == SECRET_REFRESH
    # A damaged version 1 record (the page's `***`) is detected, and clear removes it too.
    variables.set(legacy_token_variable_name("store_v1"), json.dumps({**old, "token": {"access_token": "***"}}))
    store.clear()
    assert variables.get(legacy_token_variable_name("store_v1")) is None and store.load() is None


class _BrokenVariables(MetadataVariables):
    def set(self, key, value):
        raise RuntimeError(f"db down while writing {value}")


def test_failed_save_raises_without_the_secret(airflow_db):
    store = VariableTokenStore("store_broken", "fp", variables=_BrokenVariables())
    with pytest.raises(TokenStoreError) as excinfo:
        store.save(_token())
    message = str(excinfo.value)
    assert "store_broken" in message and "RuntimeError" in message
    assert SECRET_ACCESS not in message and SECRET_REFRESH not in message


@pytest.mark.skipif(
    not TASKS_LIST_VARIABLES,
    reason="before 3.3 every process's refresh queue is the lease: test_lease_processes runs this very race on it",
)
def test_refresh_queue_excludes_across_8_processes(airflow_db, tmp_path):
    """8 OS processes take their turn 4 times each around a racy counter: no overlap, no lost update (the bakery;
    the lease's own run of it is tests/airflow/test_lease_processes.py)."""
    VariableTokenStore("lease_procs", "fp").clear()
    counter = tmp_path / "counter"
    counter.write_text("0")
    procs, outs = [], []
    for i in range(8):
        out = tmp_path / f"spans-{i}.json"
        outs.append(out)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.airflow.lease_worker", "lease_procs", "4", str(out), str(counter)],
                cwd=ROOT,
                env=dict(os.environ),
            )
        )
    for proc in procs:
        assert proc.wait(timeout=600) == 0
    assert counter.read_text() == "32"
    spans = sorted(span for out in outs for span in json.loads(out.read_text()))
    assert len(spans) == 32
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert end <= next_start, "two processes had their turn at once"
    left = MetadataVariables().keys(queue_variable_prefix("lease_procs"))
    assert [key for key in left if not key.endswith(":turn")] == []  # the lease (before 3.3) keeps its `turn`


def test_queue_variables_never_collide_with_a_token_variable(airflow_db):
    """`lease_x` used to share a Variable with the lease of `x`; ':' can be in no conn_id."""
    names = {token_variable_name(c) for c in ("x", "lease_x", "refresh_queue_x")}
    prefixes = [queue_variable_prefix(c) for c in ("x", "x_y", "lease_x")]
    assert not any(name.startswith(prefix) for name in names for prefix in prefixes)
    assert not any(a != b and a.startswith(b) for a in prefixes for b in prefixes)
