"""The package as users install it: sdist and wheel built from the checkout, the wheel installed (not editable)
into a clean venv beside the same Airflow, and used from outside the checkout.

One venv for the module (building it takes about a minute, most of it the install from uv's cache): the provider
is registered with its six connection types, the plugin's token page answers a signed-in user, and an example
DAG runs against its emulator. The clean venv gets the exact dependency versions of the test venv (its freeze as
constraints), so on each Airflow of the matrix the wheel is tried with that Airflow's dependencies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from airflow_provider_authapi import __version__
from airflow_provider_authapi.connections.fields import CONNECTION_TYPES
from tests.browser.harness import free_port
from tests.conftest import ROOT
from tests.emulators.systems import start

pytestmark = pytest.mark.slow

USER, PASSWORD = "wheel-admin", "wheel-admin-password"


LAST_RUN = """
import json, sys
from airflow.models.dagrun import DagRun
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

with create_session() as session:
    run = session.query(DagRun).filter_by(dag_id=sys.argv[1]).order_by(DagRun.id.desc()).first()
    rows = session.query(XComModel).filter_by(dag_id=sys.argv[1], run_id=run.run_id, key="return_value")
    print(json.dumps({"state": run.state, "xcom": {r.task_id: XComModel.deserialize_value(r) for r in rows}}))
"""


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"{args[:3]} exited {result.returncode}:\n{output}"
    return result


def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        pytest.fail("uv is missing: scripts/setup-env.sh installs it")
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """sdist and wheel from `uv build` (the wheel is built from the sdist, so the sdist is complete)."""
    dist = tmp_path_factory.mktemp("dist")
    run([uv(), "build", "--quiet", "--out-dir", str(dist), str(ROOT)])
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="module")
def venv(built, tmp_path_factory) -> dict[str, str]:
    """A clean venv with Airflow and the wheel, pinned to this venv's versions; an env to run it outside ROOT."""
    where = tmp_path_factory.mktemp("wheel-venv")
    freeze = run([uv(), "pip", "freeze", "--python", sys.executable]).stdout.splitlines()
    pins = [line for line in freeze if line and not line.startswith(("-e", "airflow-provider-authapi"))]
    constraints = where / "constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    run([uv(), "venv", "--quiet", "--python", sys.executable, str(where / "venv")])
    python = str(where / "venv" / "bin" / "python")
    airflow_version = next(line.split("==")[1] for line in pins if line.startswith("apache-airflow=="))
    run(
        [
            *(uv(), "pip", "install", "--quiet", "--python", python, "-c", str(constraints)),
            *(f"apache-airflow=={airflow_version}", str(built["wheel"])),
        ]
    )
    home = where / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV", "PYTEST")) and key != "PYTHONPATH"
    }
    env |= {
        "PATH": f"{where / 'venv' / 'bin'}:{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags_examples"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": "wOIpbmkuTQ0u52H9G9bLXzZ6ln-RUhP5E8IDxT7Ng_E=",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
    }
    (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    run(["airflow", "db", "migrate"], env=env, cwd=where)
    return {"python": python, "cwd": str(where), **{"env": env}}  # type: ignore[dict-item]


def test_the_sdist_and_wheel_carry_the_package_and_its_type_marker(built):
    names = zipfile.ZipFile(built["wheel"]).namelist()
    assert "airflow_provider_authapi/py.typed" in names
    assert "airflow_provider_authapi/plugins/app.py" in names
    assert not any(name.startswith(("tests/", "dags_examples/", "bench/")) for name in names)
    assert built["wheel"].name.startswith(f"airflow_provider_authapi-{__version__}-")
    with tarfile.open(built["sdist"]) as sdist:
        members = sdist.getnames()
    assert f"airflow_provider_authapi-{__version__}/airflow_provider_authapi/py.typed" in members
    metadata = (
        zipfile.ZipFile(built["wheel"]).read(f"airflow_provider_authapi-{__version__}.dist-info/METADATA").decode()
    )
    assert f"Version: {__version__}" in metadata
    assert "Requires-Dist: apache-airflow>=" in metadata


def test_the_installed_wheel_is_what_runs_and_registers_every_connection_type(venv):
    where = run(
        [venv["python"], "-c", "import airflow_provider_authapi as p; print(p.__file__, p.__version__)"],
        env=venv["env"],
        cwd=venv["cwd"],
    ).stdout.split()
    assert "site-packages" in where[0] and not where[0].startswith(str(ROOT)), where
    assert where[1] == __version__
    assert Path(where[0]).with_name("py.typed").exists()

    provider = json.loads(
        run(
            ["airflow", "providers", "get", "airflow-provider-authapi", "-o", "json"], env=venv["env"], cwd=venv["cwd"]
        ).stdout
    )
    assert provider[0]["Version"] == __version__, provider
    hooks = json.loads(run(["airflow", "providers", "hooks", "-o", "json"], env=venv["env"], cwd=venv["cwd"]).stdout)
    ours = {row["connection_type"]: row for row in hooks if row["package_name"] == "airflow-provider-authapi"}
    assert set(ours) == set(CONNECTION_TYPES), sorted(ours)
    plugins = json.loads(run(["airflow", "plugins", "-o", "json"], env=venv["env"], cwd=venv["cwd"]).stdout)
    assert any(p["name"] == "authapi" for p in plugins), plugins


def test_the_installed_plugin_serves_the_token_page_to_a_signed_in_user(venv, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "api-server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "-w", "1"],
            env=venv["env"],
            cwd=venv["cwd"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        anonymous = httpx.get(f"{url}/oauth-consent/", timeout=30)  # no session: sent to Airflow's login page
        assert anonymous.status_code == 303 and "login" in anonymous.headers["location"], anonymous.headers
        token = httpx.post(f"{url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=30)
        assert token.status_code in (200, 201), token.text
        page = httpx.get(
            f"{url}/oauth-consent/",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=30,
        )
        assert page.status_code == 200, page.text[:500]
        assert "<h1>API tokens" in page.text
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


def test_an_example_dag_runs_on_the_installed_wheel_against_its_emulator(venv):
    emulator = start("dastra")
    try:
        env = {**venv["env"], "AIRFLOW_CONN_DASTRA": json.dumps(emulator.airflow_connection())}
        result = run(["airflow", "dags", "test", "dastra_workspaces"], env=env, cwd=venv["cwd"])
        outcome = json.loads(
            run([venv["python"], "-c", LAST_RUN, "dastra_workspaces"], env=env, cwd=venv["cwd"]).stdout.splitlines()[-1]
        )
        assert outcome["state"] == "success", (outcome, result.stdout[-3000:])
        assert outcome["xcom"]["summarize"]["workspaces"] >= 1, outcome
        assert emulator.token_requests == 1, emulator.token_requests  # one token for every task of the run
        assert emulator.count("GET", "/v1/workspaces") >= 1
    finally:
        emulator.stop()
