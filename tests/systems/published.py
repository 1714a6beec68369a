"""What a DAG run leaves for anyone with UI access to read: every XCom value and every rendered template field."""

from __future__ import annotations

import json
from typing import Any


def published_text(result: Any) -> str:
    """The run's XComs and rendered template fields as one JSON text, to search for secrets."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rendered
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    where = {"dag_id": result.dag_id, "run_id": result.run_id}
    with create_session() as session:
        xcoms = session.execute(select(XComModel.task_id, XComModel.value).filter_by(**where)).all()
        rendered = session.execute(select(Rendered.task_id, Rendered.rendered_fields).filter_by(**where)).all()
    assert xcoms and rendered, "the run published nothing: the search below would prove nothing"
    return json.dumps([[task, value] for task, value in [*xcoms, *rendered]], default=str)
