"""The token cache under `[core] multi_team` (issue 22 item 3), at the unit and metadata-DB level: whose record a
process reads and writes, how a team's record is named and owned, what is refused and why. The real deployment
(two teams, their bundles and triggerers, tasks run by the scheduler) is tests/deployment/test_teams_and_budget.py."""

from __future__ import annotations

import pytest

from airflow_provider_authapi import compat
from airflow_provider_authapi.compat import AIRFLOW_V_3_2_PLUS, AIRFLOW_V_3_3_PLUS, NeedsNewerAirflow
from airflow_provider_authapi.store.variables import (
    VariableTokenStore,
    conn_id_of,
    queue_variable_prefix,
    record_team,
    token_variable_name,
)
from tests.airflow.test_token_store import _token

needs_teams = pytest.mark.skipif(not AIRFLOW_V_3_2_PLUS, reason="multi-team is Airflow 3.2's preview")


def test_a_teams_record_is_named_apart_and_no_prefix_of_another_connection_covers_it() -> None:
    assert token_variable_name("api") == "authapi_cache_api"
    assert token_variable_name("api", "team_a") == "authapi_cache_api@team_a"
    assert conn_id_of("api@team_a") == "api" and conn_id_of("api") == "api"
    team_queue = queue_variable_prefix("api", "team_a")
    assert team_queue == "authapi_refresh_queue:api@team_a:"
    # the bakery lists tickets by prefix: no connection's prefix, global or another team's, starts another's
    for other in (queue_variable_prefix("api"), queue_variable_prefix("team_a"), queue_variable_prefix("api", "t"),
                  queue_variable_prefix("ap"), queue_variable_prefix("api@team_a")):  # fmt: skip
        assert other == team_queue or not (team_queue.startswith(other) or other.startswith(team_queue)), other
    long = "x" * 200
    assert len(queue_variable_prefix(long, "team_a")) < 150 and queue_variable_prefix(long, "team_b") != (
        queue_variable_prefix(long, "team_a")
    )


def test_without_multi_team_every_process_uses_the_global_record(airflow_db, monkeypatch) -> None:
    monkeypatch.setattr(compat, "in_task_process", lambda: True)
    monkeypatch.setenv(compat.TEAM_ENV, "team_a")  # a team's name in the env counts only under multi_team
    assert record_team("api") is None
    assert VariableTokenStore("api", "fp").key == "authapi_cache_api"


@needs_teams
def test_a_task_of_a_team_keeps_its_own_record_on_3_3_and_is_refused_before(airflow_db, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__MULTI_TEAM", "True")
    monkeypatch.setattr(compat, "in_task_process", lambda: True)
    monkeypatch.setenv(compat.TEAM_ENV, "team_a")
    if AIRFLOW_V_3_3_PLUS:
        assert record_team("api") == "team_a"
        store = VariableTokenStore("api", "fp")
        assert (store.key, store.team, store.legacy_key) == ("authapi_cache_api@team_a", "team_a", None)
        monkeypatch.delenv(compat.TEAM_ENV)
        assert VariableTokenStore("api", "fp").key == "authapi_cache_api"  # a task of no team: the global one
    else:
        with pytest.raises(NeedsNewerAirflow, match=r"multi_team.*3\.3.*cannot tell its team"):
            record_team("api")


@needs_teams
def test_the_triggerer_uses_the_global_record(airflow_db, monkeypatch) -> None:
    from airflow.sdk.execution_time import task_runner

    class TriggerCommsDecoder:  # the triggerer's supervisor comms, by name as compat tells them apart
        pass

    monkeypatch.setenv("AIRFLOW__CORE__MULTI_TEAM", "True")
    monkeypatch.setenv(compat.TEAM_ENV, "team_a")
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", TriggerCommsDecoder(), raising=False)
    assert not compat.in_task_process()
    assert record_team("api") is None


@needs_teams
def test_servers_act_on_the_record_of_the_connections_team_owned_by_that_team(airflow_db, monkeypatch) -> None:
    """The token page, the CLI and consent (metadata DB) write a team's connection's record as a Variable of that
    team, so no other team's task can read it; a global connection's stays global."""
    from airflow.models.connection import Connection
    from airflow.models.team import Team
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    monkeypatch.setenv("AIRFLOW__CORE__MULTI_TEAM", "True")
    with create_session() as session:
        if session.scalar(select(Team).where(Team.name == "mt_team")) is None:
            session.add(Team(name="mt_team"))
            session.flush()  # the team before the connection that refers to it
        session.execute(delete(Connection).where(Connection.conn_id.in_(["mt_team_conn", "mt_global_conn"])))
        session.add(Connection(conn_id="mt_team_conn", conn_type="authapi_bearer", team_name="mt_team"))
        session.add(Connection(conn_id="mt_global_conn", conn_type="authapi_bearer"))
    try:
        team_store, global_store = VariableTokenStore("mt_team_conn", "fp"), VariableTokenStore("mt_global_conn", "fp")
        assert (team_store.key, global_store.key) == (
            "authapi_cache_mt_team_conn@mt_team",
            "authapi_cache_mt_global_conn",
        )
        team_store.save(_token())
        global_store.save(_token())
        with create_session() as session:
            owners = dict(session.execute(select(Variable.key, Variable.team_name).where(
                Variable.key.in_([team_store.key, global_store.key]))).all())  # fmt: skip
        assert owners == {team_store.key: "mt_team", global_store.key: None}
        assert team_store.load() is not None and team_store.status()["stored"]
        from airflow_provider_authapi.maintenance import stored_conn_ids

        assert {"mt_team_conn", "mt_global_conn"} <= set(stored_conn_ids())  # the team dropped from the name
        team_store.clear()  # deletes the team's Variable (a delete without the team would leave it)
        global_store.clear()
        assert team_store.load() is None and Variable.get(team_store.key, default_var=None) is None
    finally:
        with create_session() as session:
            session.execute(delete(Variable).where(Variable.key.like("authapi_%mt_%")))
            session.execute(delete(Connection).where(Connection.conn_id.in_(["mt_team_conn", "mt_global_conn"])))


def test_a_connection_the_triggerer_cannot_read_under_multi_team_says_why(monkeypatch) -> None:
    from airflow.exceptions import AirflowNotFoundException

    from airflow_provider_authapi.triggers.authapi import _explained

    missing = AirflowNotFoundException("The conn_id `team_a_cc` isn't defined")
    monkeypatch.setattr(compat, "multi_team", lambda: True)
    assert "triggerer reads global connections and Variables only" in _explained(missing)
    assert "deferrable=False" in _explained(missing)
    monkeypatch.setattr(compat, "multi_team", lambda: False)
    assert _explained(missing) == str(missing)
