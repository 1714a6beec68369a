"""Pending consents in Variables: single use, expiry, user binding, no state in a Variable name, sweeping."""

from __future__ import annotations

import time

import pytest

from airflow_provider_authapi.consent import (
    PENDING_PREFIX,
    USED_PREFIX,
    ConsentError,
    ConsentStates,
    PendingConsent,
)


def pending(state: str, **overrides) -> PendingConsent:
    values = dict(conn_id="qb", redirect_uri="http://x/cb", code_verifier="verifier-" + "v" * 40, user="alice")
    values["expires_at"] = time.time() + 600
    return PendingConsent(state=state, **{**values, **overrides})


def variable_keys() -> list[str]:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        return [row.key for row in session.query(Variable).all()]


def test_a_state_is_taken_once_by_its_user(airflow_db):
    states = ConsentStates()
    states.put(pending("state-one-" + "a" * 30))
    keys = variable_keys()
    assert any(k.startswith(PENDING_PREFIX) for k in keys)
    assert not any("state-one" in k for k in keys), "the state must not appear in a Variable name"

    taken = states.take("state-one-" + "a" * 30, user="alice")
    assert taken.conn_id == "qb" and taken.code_verifier.startswith("verifier-")
    with pytest.raises(ConsentError) as again:
        states.take("state-one-" + "a" * 30, user="alice")
    assert again.value.kind == "replayed"

    states.put(pending("state-two-" + "b" * 30))
    with pytest.raises(ConsentError) as other_user:
        states.take("state-two-" + "b" * 30, user="mallory")
    assert other_user.value.kind == "state"
    assert "verifier" not in repr(taken)

    for state, kind in ((None, "state"), ("", "state"), ("never-issued", "state")):
        with pytest.raises(ConsentError) as caught:
            states.take(state, user="alice")
        assert caught.value.kind == kind


def test_expired_states_are_refused_and_swept(airflow_db):
    states = ConsentStates()
    states.put(pending("state-old-" + "c" * 30, expires_at=time.time() - 1))
    with pytest.raises(ConsentError) as caught:
        states.take("state-old-" + "c" * 30, user="alice")
    assert caught.value.kind == "expired"

    states.put(pending("state-stale-" + "d" * 30, expires_at=time.time() - 1))
    states.put(pending("state-live-" + "e" * 30))  # starting a consent sweeps the stale one away
    assert states.sweep() == 0
    pending_keys = [k for k in variable_keys() if k.startswith(PENDING_PREFIX)]
    assert len(pending_keys) == 1
    assert states.take("state-live-" + "e" * 30, user="alice").conn_id == "qb"
    assert any(k.startswith(USED_PREFIX) for k in variable_keys())
