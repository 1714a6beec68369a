"""The token record (`SharedTokenStore`, no Airflow): its secrets sealed under names Airflow's masker leaves alone,
damage of every kind detected and reported with its fix (never read as a token), and the version 1 record read
and moved. The Airflow side (Fernet key, Variables, the masker itself): tests/airflow/test_token_store.py."""

from __future__ import annotations

import json

import pendulum
import pytest
from cryptography.fernet import Fernet, InvalidToken

from airflow_provider_authapi.auth import AuthConfig, OAuth2Config, build_token_manager
from airflow_provider_authapi.auth.errors import DamagedRecordError
from airflow_provider_authapi.auth.tokens import RECORD_KEYS, MemoryRegisters, SharedTokenStore, Token
from tests.core.conftest import FAST

ACCESS, REFRESH = "at-record-secret-0001", "rt-record-secret-0001"


class FernetSealer:
    """What the Airflow layer does with Airflow's key, here with a key of the test's own."""

    def __init__(self, key: bytes | None = None) -> None:
        self.fernet = Fernet(key or Fernet.generate_key())

    def seal(self, data: bytes) -> str:
        return self.fernet.encrypt(data).decode()

    def unseal(self, text: str) -> bytes:
        try:
            return self.fernet.decrypt(text.encode())
        except InvalidToken:
            raise ValueError("edited, or sealed with another Fernet key") from None


def store(registers: MemoryRegisters, conn_id: str = "crm", sealer=None, fingerprint: str = "fp") -> SharedTokenStore:
    return SharedTokenStore(registers, name=conn_id, fingerprint=fingerprint, token_key=f"cache_{conn_id}",
                            queue_prefix=f"queue:{conn_id}:", sealer=sealer, legacy_key=f"old_{conn_id}")  # fmt: skip


def token(**kwargs) -> Token:
    return Token(access_token=ACCESS, refresh_token=REFRESH, expires_at=pendulum.now("UTC").add(hours=1),
                 scope="read", extra={"realm_id": "9130", "refresh_token_expires_at": "2030-01-01T00:00:00Z"},
                 **kwargs)  # fmt: skip


def test_a_sealed_record_reads_back_and_shows_no_secret():
    registers, sealer = MemoryRegisters(), FernetSealer()
    saved = token()
    store(registers, sealer=sealer).save(saved)
    raw = registers.get("cache_crm")
    assert ACCESS not in raw and REFRESH not in raw and "realm_id" not in raw
    assert set(json.loads(raw)) == set(RECORD_KEYS)
    assert store(registers, sealer=sealer).load() == saved
    assert store(registers, sealer=sealer, fingerprint="other").load() is None  # other credentials: absent


def test_without_a_sealer_the_secrets_sit_under_a_masked_name():
    registers = MemoryRegisters()
    store(registers).save(token())
    raw = json.loads(registers.get("cache_crm"))
    assert "sealed" not in raw and raw["secrets"]["access_token"] == ACCESS
    assert store(registers).load() == store(registers).load() is not None


def test_a_hand_edit_of_the_plain_expiry_is_honoured():
    registers, sealer = MemoryRegisters(), FernetSealer()
    store(registers, sealer=sealer).save(token())
    raw = json.loads(registers.get("cache_crm"))
    raw["expires_at"] = pendulum.now("UTC").subtract(seconds=5).isoformat()
    registers.set("cache_crm", json.dumps(raw))
    assert store(registers, sealer=sealer).load().is_expired(leeway=0)


def _redacted(value):
    """What Airflow's masker makes of a hidden JSON value: every string `***`."""
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return "***" if isinstance(value, str) else value


def _edit(raw: dict, how: str, other: dict) -> object:
    if how == "sealed edited":
        return {**raw, "sealed": raw["sealed"][:-8] + "AAAAAAA="}
    if how == "another connection's sealed part":
        return {**raw, "sealed": other["sealed"]}
    if how == "plain fingerprint edited":
        return {**raw, "fingerprint": "fp2"}
    if how == "expiry not a time":
        return {**raw, "expires_at": "tomorrow-ish"}
    if how == "unknown version":
        return {**raw, "version": 7}
    if how == "a list":
        return [raw]
    if how == "redacted":
        return _redacted(raw)
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("sealed edited", "does not decrypt"),
        ("another connection's sealed part", "another connection"),
        ("plain fingerprint edited", "another connection or credentials"),
        ("expiry not a time", "do not read back"),
        ("unknown version", "version is not 2"),
        ("a list", "not a JSON object"),
        ("redacted", "replaced by ***"),
    ],
)
def test_a_damaged_record_is_never_read_as_a_token(how, problem):
    registers, sealer = MemoryRegisters(), FernetSealer()
    store(registers, sealer=sealer).save(token())
    store(registers, "erp", sealer=sealer).save(token())
    raw, other = json.loads(registers.get("cache_crm")), json.loads(registers.get("cache_erp"))
    registers.set("cache_crm", json.dumps(_edit(raw, how, other)))
    damaged = store(registers, sealer=sealer)
    with pytest.raises(DamagedRecordError) as caught:
        damaged.load()
    message = str(caught.value)
    assert problem in message and "'cache_crm'" in message and "airflow authapi token clear crm" in message
    assert ACCESS not in message and REFRESH not in message
    assert damaged.status() == {"conn_id": "crm", "stored": True, "damaged": True, "error": message}
    damaged.clear()
    assert damaged.load() is None and damaged.read_record() is None


def test_a_record_sealed_elsewhere_needs_that_key():
    registers = MemoryRegisters()
    store(registers, sealer=FernetSealer()).save(token())
    for reader, problem in ((FernetSealer(), "another Fernet key"), (None, "this process has none")):
        with pytest.raises(DamagedRecordError, match=problem):
            store(registers, sealer=reader).load()


def test_a_version_1_record_is_read_then_moved_by_the_next_save():
    registers, sealer = MemoryRegisters(), FernetSealer()
    old = {"version": 1, "conn_id": "crm", "fingerprint": "fp", "saved_at": 1.0, "token": token().to_dict()}
    registers.set("old_crm", json.dumps(old))
    migrating = store(registers, sealer=sealer)
    assert migrating.load() == token().__class__.from_dict(old["token"])
    assert migrating.read_record().key == "old_crm"
    migrating.save(migrating.load())
    assert registers.get("old_crm") is None and store(registers, sealer=sealer).load().refresh_token == REFRESH
    # The page's `***` in a version 1 record (its Variable name contains `token`): damaged, not a token of ***.
    registers.delete("cache_crm")
    registers.set("old_crm", json.dumps(_redacted(old)))
    with pytest.raises(DamagedRecordError, match=r"'old_crm'.*replaced by \*\*\*"):
        store(registers, sealer=sealer).load()


def test_a_manager_on_a_damaged_record_fails_with_the_fix_and_asks_for_no_token(oauth):
    registers, sealer = MemoryRegisters(), FernetSealer()
    registers.set("cache_crm", json.dumps({"version": 2, "sealed": "***"}))
    config = AuthConfig(OAuth2Config(token_url=f"{oauth.url}/token", client_id=oauth.client_id,
                                     client_secret=oauth.client_secret))  # fmt: skip
    manager = build_token_manager(config, store(registers, sealer=sealer), retry=FAST)
    with pytest.raises(DamagedRecordError, match="Clear it"):
        manager.get_token()
    assert oauth.token_requests == 0
