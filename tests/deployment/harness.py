"""A real Airflow deployment on 127.0.0.1 for tests and benchmarks: PostgreSQL, api-server, scheduler,
dag-processor and triggerer as separate processes, each stopped by its process id. The scheduler runs tasks with
the LocalExecutor, or with `executor="CeleryExecutor"` (`AUTHAPI_DEPLOYMENT_EXECUTOR=celery`): Redis as the
broker, PostgreSQL as the result backend, and `workers` Celery workers (`airflow celery worker`, 2 of
concurrency 8 by default), each its own process with its own Celery hostname and task-instance hostname, as on
separate machines.

    with Deployment(connections={"my_api": {"conn_type": "authapi_oauth2", "host": url, ...}}) as d:
        d.trigger("shared_cache_load", "run_1", {"conn_id": "my_api", ...})
        d.wait_for_runs("shared_cache_load", ["run_1"], timeout=600)
        d.task_instances("shared_cache_load", "run_1")      # states, start and end dates
        d.xcom("shared_cache_load", "run_1", "call_api", map_index=0)
        print(d.failure_report("shared_cache_load", "run_1"))  # failed tasks with the tail of their logs

PostgreSQL and Redis come from Debian's packages (installed with apt-get when missing); PostgreSQL runs as a
private cluster in a temporary folder as the `postgres` user, Redis on a free port of 127.0.0.1 without
persistence. Airflow runs from this interpreter's environment, or from the venv whose bin directory
`airflow_bin` (`AUTHAPI_DEPLOYMENT_AIRFLOW_BIN`) names, e.g. `/work/venvs/af-3.2.2/bin`; the provider it loads is
whatever is installed there (editable: the working tree). One deployment runs on a machine at a time: a second
waits for the first to stop (a file lock), so pytest-xdist never starts two at once. Connections are
`AIRFLOW_CONN_*` JSON environment variables, seen by every process. Nothing outside the temporary folders (and the
lock file) is touched; `keep=True` (or `AUTHAPI_DEPLOYMENT_KEEP=1`) leaves them for inspection.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT_DAGS = Path(__file__).resolve().parent / "dags"
FERNET_KEY = "hUnLhVNQtXQXT8w0W3aXJ3ELmnzJ5y8JzA4Yg7wXy1E="
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
LOCK_FILE = Path(tempfile.gettempdir()) / "authapi-deployment.lock"
APT_LOCK_FILE = Path(tempfile.gettempdir()) / "authapi-apt.lock"
FINISHED_RUN_STATES = ("success", "failed")


class DeploymentError(RuntimeError):
    """The deployment could not start or a step failed; the message says where the logs are."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a text file ('' if missing)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The `fraction` quantile (0.5, 0.99) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def executor_name(name: str) -> str:
    """`LocalExecutor` or `CeleryExecutor` from either spelling (`celery`, `CeleryExecutor`)."""
    found = EXECUTORS.get(name.lower().removesuffix("executor"))
    if found is None:
        raise DeploymentError(f"unknown executor {name!r}: one of {sorted(EXECUTORS.values())}")
    return found


def apt_install(package: str) -> None:
    """Install one of Debian's packages (as root; the harness needs its servers, not the system's services)."""
    if os.geteuid() != 0:
        raise DeploymentError(f"{package} is not installed: run `apt-get install -y {package}` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    wait = ["-o", "DPkg::Lock::Timeout=600"]  # another apt-get of the machine's: wait for it, as people do
    # Two pytest-xdist workers may each install a package (PostgreSQL, Redis) at once: one apt-get at a time.
    with machine_lock(APT_LOCK_FILE, what="apt-get"):
        for command in (
            ["apt-get", *wait, "update"],
            ["apt-get", *wait, "install", "-y", "--no-install-recommends", package],
        ):
            done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if done.returncode != 0:
                raise DeploymentError(
                    f"{' '.join(command)} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}"
                )


@contextlib.contextmanager
def machine_lock(path: Path = LOCK_FILE, what: str = "deployment") -> Iterator[None]:
    """Hold a machine-wide lock (an exclusive `flock`; the deployment's by default); says so while waiting."""
    import fcntl

    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[deployment] waiting for the {what} already running on this machine ({path})", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- PostgreSQL -----------------------------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """The newest `/usr/lib/postgresql/<version>/bin`; installs Debian's `postgresql` package when none is there."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        apt_install("postgresql")
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
        if not found:
            raise DeploymentError("apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb exists")
    return Path(found[-1]).parent


class Postgres:
    """A private PostgreSQL cluster on 127.0.0.1:`port` in `directory`, run as `postgres` when we are root."""

    def __init__(self, directory: Path, *, user: str = "airflow", password: str = "airflow-pw-0123456789") -> None:
        self.directory, self.user, self.password, self.database = directory, user, password, "airflow"
        self.data, self.socket_dir, self.log = directory / "data", directory / "socket", directory / "postgres.log"
        self.port = free_port()
        self.bin = postgres_bin_dir()
        self._run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.started = False

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self._run_as, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            raise DeploymentError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr[-2000:]}")
        return result

    def start(self) -> Postgres:
        self.socket_dir.mkdir(parents=True)
        if self._run_as:
            shutil.chown(self.directory, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8")  # fmt: skip
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c max_connections=400"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        self.started = True
        self.psql(f"CREATE USER {self.user} PASSWORD '{self.password}'")
        self.psql(f"CREATE DATABASE {self.database} OWNER {self.user}")
        return self

    def psql(self, sql: str) -> str:
        """Run `sql` as the superuser over the private socket."""
        args = ("-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1")
        return self._run(str(self.bin / "psql"), *args, "-d", "postgres", "-Atc", sql).stdout

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(DeploymentError, subprocess.TimeoutExpired):
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)
            self.started = False

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg2://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def connect(self) -> Any:
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname=self.database
        )
        connection.autocommit = True
        return connection


# -- Redis (the Celery broker) ---------------------------------------------------------------------------------------


def redis_server_path() -> str:
    """`redis-server`; installs Debian's `redis-server` package when missing (its own service is not used)."""
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
    if not found:
        apt_install("redis-server")
        found = shutil.which("redis-server", path="/usr/bin:/usr/sbin")
        if not found:
            raise DeploymentError("apt-get installed redis-server but no redis-server executable exists")
    return found


class Redis:
    """A private `redis-server` on 127.0.0.1:`port`, no persistence, working folder `directory`; stopped by PID."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.log = directory, directory / "redis.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30) -> Redis:
        self.directory.mkdir(parents=True)
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", str(self.log)]  # fmt: skip
        self.process = subprocess.Popen([redis_server_path(), *args], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise DeploymentError(f"redis-server did not answer on port {self.port}; log {self.log}:\n"
                                      f"{tail(self.log)}")  # fmt: skip
            time.sleep(0.2)
        return self

    def ping(self) -> bool:
        """Whether the server answers PING with PONG."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, grace: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def export_provider(revision: str, into: Path) -> Path:
    """Write the `airflow_provider_authapi` package of git `revision` into `into`; a path entry that shadows the
    installed (editable) provider, whose import finder comes after the path."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "airflow_provider_authapi"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


# -- Airflow processes --------------------------------------------------------------------------------------------


@dataclass
class Service:
    """One long-running Airflow command in its own process group, output to `log`."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class TaskInstanceRow:
    task_id: str
    map_index: int
    state: str | None
    try_number: int
    start_date: datetime | None
    end_date: datetime | None
    hostname: str | None = None  # where it ran ([core] hostname_callable of its worker)

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


@dataclass
class AccessLogEntry:
    """One `request finished` line of the api-server's access log."""

    at: datetime | None
    method: str
    path: str
    status: int
    duration_ms: float


@dataclass
class Deployment:
    """Start with `with Deployment(...) as d:` (or `start()`/`stop()`); see the module docstring."""

    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    parallelism: int = 64
    dag_files: Iterable[Path] = ()
    dag_ids: Sequence[str] = ("shared_cache_load",)
    extra_env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 300
    stop_grace: float = 20
    keep: bool | None = None  # None: keep only if AUTHAPI_DEPLOYMENT_KEEP is set
    # A git revision of the provider to run instead of the installed one (compare designs); default
    # AUTHAPI_DEPLOYMENT_PROVIDER_REV. Exported with `git archive` and put first on the Airflow processes' path.
    provider_revision: str | None = None
    # `LocalExecutor` or `CeleryExecutor` (`local`/`celery` too); default AUTHAPI_DEPLOYMENT_EXECUTOR, else local.
    executor: str | None = None
    workers: Sequence[str] = ("worker-1", "worker-2")  # Celery only: one `airflow celery worker` per hostname
    worker_concurrency: int = 8
    # The bin directory of the venv whose Airflow runs the deployment; default AUTHAPI_DEPLOYMENT_AIRFLOW_BIN, else
    # this interpreter's. Every Airflow process is `<bin>/python -m airflow ...`.
    airflow_bin: str | None = None
    # Multi-team (`[core] multi_team`, Airflow 3.2+): team name -> its DAG files, each team's its own bundle (a
    # folder of `<home>/<team>`; `dag_files` stay the global bundle's). The teams are created before any service
    # starts, and on 3.3 each gets its own `triggerer --team-name` (a team's deferred tasks run in no other).
    teams: dict[str, Iterable[Path]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.keep is None:
            self.keep = bool(os.environ.get("AUTHAPI_DEPLOYMENT_KEEP"))
        self.provider_revision = self.provider_revision or os.environ.get("AUTHAPI_DEPLOYMENT_PROVIDER_REV") or None
        self.executor = executor_name(self.executor or os.environ.get("AUTHAPI_DEPLOYMENT_EXECUTOR") or "local")
        self.airflow_bin = self.airflow_bin or os.environ.get("AUTHAPI_DEPLOYMENT_AIRFLOW_BIN") or None
        python = Path(self.airflow_bin) / "python" if self.airflow_bin else Path(sys.executable)
        if not python.exists():
            raise DeploymentError(f"no Python at {python} (AUTHAPI_DEPLOYMENT_AIRFLOW_BIN names a venv's bin)")
        self.airflow_command = [str(python), "-m", "airflow"]
        self.dag_files = list(self.dag_files) or sorted(DEPLOYMENT_DAGS.glob("*.py"))
        self.workdir = Path(tempfile.mkdtemp(prefix="authapi-deployment-"))
        self.workdir.chmod(0o755)  # postgres (another user) must reach its cluster folder inside
        self.home = self.workdir / "airflow-home"
        self.dags_folder = self.home / "dags"
        self.logs = self.home / "logs"
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.log_server_ports = (free_port(), free_port())  # the scheduler's and the triggerer's log servers
        self.postgres: Postgres | None = None
        self.redis: Redis | None = None
        self._lock: contextlib.ExitStack | None = None
        self.services: dict[str, Service] = {}
        self._db: Any = None

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def __enter__(self) -> Deployment:
        try:
            self.start()
        except BaseException:
            self.stop(failed=True)
            raise
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop(failed=exc_type is not None)

    @property
    def celery(self) -> bool:
        return self.executor == "CeleryExecutor"

    @property
    def _team_triggerers(self) -> bool:
        """Whether this Airflow's triggerer serves one team (`--team-name`, 3.3); 3.2's serves every trigger."""
        return "--team-name" in self.airflow("triggerer", "--help")

    def start(self) -> Deployment:
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(machine_lock())
        started = time.monotonic()
        self.postgres = Postgres(self.workdir / "postgres").start()
        if self.celery:
            self.redis = Redis(self.workdir / "redis").start()
        self.dags_folder.mkdir(parents=True)
        if self.provider_revision:
            export_provider(self.provider_revision, self.workdir / "provider")
            print(f"[deployment] provider from git revision {self.provider_revision}", flush=True)
        for path in self.dag_files:
            (self.dags_folder / path.name).symlink_to(path)
        for team, paths in self.teams.items():
            (self.home / team).mkdir()
            for path in paths:
                (self.home / team / path.name).symlink_to(path)
        self.airflow("db", "migrate", timeout=600)
        for team in self.teams:
            self.airflow("teams", "create", team)
        for name in SERVICES:
            self._start_service(name, [name])
        for team in self.teams if self._team_triggerers else ():
            env = {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
            self._start_service(f"triggerer-{team}", ["triggerer", "--team-name", team], env)
        for hostname in self.workers if self.celery else ():
            self._start_worker(hostname)
        self.wait_until_healthy()
        self.wait_for_workers()
        self.wait_for_dags(self.dag_ids)
        workers = f", {len(self.workers)} Celery workers" if self.celery else ""
        print(f"[deployment] {self.executor}{workers} up in {time.monotonic() - started:.0f} s: {self.api_url}, "
              f"home {self.home}", flush=True)  # fmt: skip
        return self

    def stop(self, failed: bool = False) -> None:
        """Stop every service (SIGTERM to its process group, SIGKILL after `stop_grace`), then PostgreSQL."""
        if failed:
            print(f"[deployment] something failed: logs are in {self.home} ({self.describe_logs()})", flush=True)
        self._stop_services()
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.close()
            self._db = None
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if self.keep:
            print(f"[deployment] kept {self.workdir}", flush=True)
        elif failed:  # the logs stay for whoever reads the failure; the database goes
            shutil.rmtree(self.workdir / "postgres", ignore_errors=True)
            print(f"[deployment] kept the logs in {self.home}", flush=True)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def describe_logs(self) -> str:
        return ", ".join(f"{s.name}: {s.log}" for s in self.services.values()) or "no service started"

    @property
    def env(self) -> dict[str, str]:
        """The environment of every Airflow process: this one's without `AIRFLOW*`, plus the deployment's."""
        assert self.postgres is not None
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
        options = {
            "core": {
                "dags_folder": str(self.dags_folder),
                "executor": self.executor,
                "parallelism": str(self.parallelism),
                "max_active_tasks_per_dag": str(self.parallelism),
                "load_examples": "False",
                "dags_are_paused_at_creation": "False",
                "fernet_key": FERNET_KEY,
                "execution_api_server_url": f"{self.api_url}/execution/",
                "simple_auth_manager_all_admins": "True",
                # 48 task processes parsing the DAG file at once on 2 cores took 20-35 s (0.3 s alone): the 30 s
                # default failed tasks before they ran.
                "dagbag_import_timeout": "180",
            },
            "database": {"sql_alchemy_conn": self.postgres.sqlalchemy_url},
            "api": {
                "host": "127.0.0.1",
                "port": str(self.api_port),
                "base_url": self.api_url,
                "secret_key": "deployment-api-secret-key-0123456789",
            },
            "api_auth": {"jwt_secret": "deployment-jwt-secret-0123456789abcdef"},
            "secrets": {"use_cache": "False"},
            **({"celery": self.celery_options} if self.celery else {}),
            # The folder is listed every 5 s, so the DAG is parsed within seconds of start; it never changes, so
            # re-parsing it often would only take CPU from the tasks on a small machine.
            "dag_processor": {"refresh_interval": "5", "min_file_process_interval": "120", "parsing_processes": "1"},
            "logging": {
                "base_log_folder": str(self.logs),
                "worker_log_server_port": str(self.log_server_ports[0]),
                "trigger_log_server_port": str(self.log_server_ports[1]),
            },
        }
        if self.teams:
            local = "airflow.dag_processing.bundles.local.LocalDagBundle"
            bundles = [{"name": "dags-folder", "classpath": local, "kwargs": {"path": str(self.dags_folder)}}]
            bundles += [{"name": f"{team}-dags", "classpath": local, "kwargs": {"path": str(self.home / team)},
                         "team_name": team} for team in self.teams]  # fmt: skip
            options["core"]["multi_team"] = "True"
            options["dag_processor"]["dag_bundle_config_list"] = json.dumps(bundles)
        env = {**base, "AIRFLOW_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        if self.airflow_bin:
            env["PATH"] = os.pathsep.join(filter(None, [self.airflow_bin, env.get("PATH")]))
        if self.provider_revision:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.workdir / "provider"), env.get("PYTHONPATH")]))
        for section, values in options.items():
            for key, value in values.items():
                env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = value
        for conn_id, conn in self.connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
        env.update(self.extra_env)
        return env

    @property
    def celery_options(self) -> dict[str, str]:
        """`[celery]`: Redis as the broker, the metadata DB as the result backend, the workers' concurrency."""
        assert self.postgres is not None and self.redis is not None
        return {
            "broker_url": self.redis.url,
            "result_backend": f"db+{self.postgres.sqlalchemy_url}",
            "worker_concurrency": str(self.worker_concurrency),
        }

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run an `airflow` CLI command in the deployment's environment; its stdout, or DeploymentError."""
        log = self.home / "cli.log"
        started = time.monotonic()
        result = subprocess.run(
            [*self.airflow_command, *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        with log.open("a") as out:
            out.write(f"$ airflow {' '.join(args)}  # rc={result.returncode} {time.monotonic() - started:.1f} s\n")
            out.write(result.stdout[-5000:] + result.stderr[-5000:] + "\n")
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            raise DeploymentError(f"`airflow {' '.join(args)}` failed ({result.returncode}); see {log}:\n{output}")
        return result.stdout

    def _start_service(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        """Run `airflow <args>` as the service `name`, logging to `<home>/<name>.log`; `env` adds to the env."""
        log = self.home / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*self.airflow_command, *args],
                env={**self.env, **(env or {})},
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own session and process group: stopped as a group
            )
        self.services[name] = Service(name, process, log)

    def _start_worker(self, hostname: str) -> None:
        """`airflow celery worker` as if on a machine named `hostname`: its Celery hostname `celery@<hostname>`,
        the task instances it runs record `hostname` (`[core] hostname_callable`), its own log server port."""
        path = self.workdir / "worker-path"
        if not path.exists():
            path.mkdir()
            (path / "authapi_deployment_hostname.py").symlink_to(Path(__file__).resolve().parent / "worker_hostname.py")
        env = {
            "AUTHAPI_DEPLOYMENT_HOSTNAME": hostname,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "authapi_deployment_hostname.hostname",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "PYTHONPATH": os.pathsep.join(filter(None, [self.env.get("PYTHONPATH"), str(path)])),
        }
        args = ["celery", "worker", "--celery-hostname", hostname, "--concurrency", str(self.worker_concurrency)]
        self._start_service(f"celery-{hostname}", args, env)

    def _check_services(self) -> None:
        for service in self.services.values():
            if service.process.poll() is not None:
                raise DeploymentError(
                    f"airflow {service.name} exited with {service.process.returncode}; log {service.log}:\n"
                    f"{tail(service.log)}"
                )

    def _stop_services(self) -> None:
        import psutil

        running = [s for s in self.services.values() if s.process.poll() is None]
        # Task processes put themselves in their own process group (Task SDK supervisor): find every
        # descendant first, so none outlives its service.
        descendants: list[psutil.Process] = []
        for service in running:
            with contextlib.suppress(psutil.Error):
                descendants += psutil.Process(service.pid).children(recursive=True)
        for service in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace
        for service in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for service in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=10)
        _, alive = psutil.wait_procs(descendants, timeout=max(0.1, deadline - time.monotonic()))
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=5)

    # -- readiness --------------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any] | None:
        """The api-server's `/api/v2/monitor/health` body, or None while it does not answer."""
        try:
            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as response:
                return json.loads(response.read())
        except (OSError, ValueError):
            return None

    def wait_until_healthy(self) -> None:
        """Until the api-server answers and reports the metadatabase, scheduler, triggerer and dag processor."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            self._check_services()
            health = self.health() or {}
            statuses = {part: (health.get(part) or {}).get("status") for part in
                        ("metadatabase", "scheduler", "triggerer", "dag_processor")}  # fmt: skip
            if all(status == "healthy" for status in statuses.values()):
                return
            if time.monotonic() > deadline:
                raise DeploymentError(f"not healthy after {self.start_timeout:.0f} s: {statuses}")
            time.sleep(2)

    def wait_for_workers(self) -> None:
        """Until every Celery worker has logged `celery@<hostname> ready.` (it consumes the queue from then on)."""
        deadline = time.monotonic() + self.start_timeout
        for hostname in self.workers if self.celery else ():
            log = self.services[f"celery-{hostname}"].log
            while f"celery@{hostname} ready" not in log.read_text(errors="replace"):
                self._check_services()
                if time.monotonic() > deadline:
                    raise DeploymentError(f"Celery worker {hostname} not ready after {self.start_timeout:.0f} s; "
                                          f"log {log}:\n{tail(log)}")  # fmt: skip
                time.sleep(2)

    def wait_for_dags(self, dag_ids: Sequence[str]) -> None:
        """Until every DAG is serialized; unpause any that is paused (`airflow dags unpause`)."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            self._check_services()
            rows = self.query(
                "SELECT d.dag_id, d.is_paused FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
                "WHERE d.dag_id = ANY(%s)",
                (list(dag_ids),),
            )
            if len({row[0] for row in rows}) == len(set(dag_ids)):
                break
            errors = self.query("SELECT filename, stacktrace FROM import_error")
            if errors or time.monotonic() > deadline:
                details = "\n".join(f"{name}:\n{trace}" for name, trace in errors) or "no import error"
                raise DeploymentError(f"DAGs {list(dag_ids)} not registered; {details}")
            time.sleep(2)
        for dag_id, paused in rows:
            if paused:
                self.airflow("dags", "unpause", dag_id)

    # -- database -----------------------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the metadata DB."""
        assert self.postgres is not None
        if self._db is None or self._db.closed:
            self._db = self.postgres.connect()
        with self._db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    # -- runs -------------------------------------------------------------------------------------------------

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> None:
        self.airflow("dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(conf))

    def trigger_many(self, dag_id: str, runs: dict[str, dict[str, Any]]) -> None:
        """Trigger several runs at once (each `airflow dags trigger` takes seconds to start)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(runs)) as pool:
            list(pool.map(lambda item: self.trigger(dag_id, *item), runs.items()))

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the api-server's REST API (`/api/v2/...`) as admin (the all-admins token of the simple auth manager)."""
        with urllib.request.urlopen(f"{self.api_url}/auth/token", timeout=30) as response:
            token = json.loads(response.read())["access_token"]
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def fail_runs(self, dag_id: str, run_ids: Sequence[str]) -> None:
        """Mark unfinished runs failed (their unfinished tasks stop), so a timed-out run does not load the next."""
        for run_id, state in self.run_states(dag_id, run_ids).items():
            if state not in FINISHED_RUN_STATES:
                with contextlib.suppress(OSError, ValueError):
                    self.api("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", {"state": "failed"})

    def run_states(self, dag_id: str, run_ids: Sequence[str]) -> dict[str, str]:
        rows = self.query("SELECT run_id, state FROM dag_run WHERE dag_id = %s AND run_id = ANY(%s)",
                          (dag_id, list(run_ids)))  # fmt: skip
        return {run_id: state for run_id, state in rows}

    def wait_for_runs(self, dag_id: str, run_ids: Sequence[str], timeout: float = 900) -> dict[str, str]:
        """Poll `dag_run` until every run has finished; their states. Raises DeploymentError on time-out."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_services()
            states = self.run_states(dag_id, run_ids)
            if len(states) == len(run_ids) and all(s in FINISHED_RUN_STATES for s in states.values()):
                return states
            if time.monotonic() > deadline:
                raise DeploymentError(f"runs not finished after {timeout:.0f} s: {states}; logs in {self.home}")
            time.sleep(3)

    def task_instances(self, dag_id: str, run_id: str) -> list[TaskInstanceRow]:
        rows = self.query(
            "SELECT task_id, map_index, state, try_number, start_date, end_date, hostname FROM task_instance "
            "WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index",
            (dag_id, run_id),
        )
        return [TaskInstanceRow(*row) for row in rows]

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, key: str = "return_value") -> Any:
        rows = self.query(
            "SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s AND map_index = %s AND key = %s",
            (dag_id, run_id, task_id, map_index, key),
        )
        if not rows:
            raise LookupError(f"no XCom {key!r} of {task_id}[{map_index}] in {dag_id}/{run_id}")
        value = rows[0][0]
        if isinstance(value, str | bytes):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        return value

    def xcoms(self, dag_id: str, run_id: str, task_id: str) -> dict[int, Any]:
        """Every map index's return value of `task_id` in the run."""
        rows = self.query(
            "SELECT map_index, value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s "
            "AND key = 'return_value' ORDER BY map_index",
            (dag_id, run_id, task_id),
        )
        return {index: json.loads(v) if isinstance(v, str | bytes) else v for index, v in rows}

    def variable(self, key: str) -> str | None:
        """A Variable's value, decrypted with the deployment's Fernet key (as Airflow's `get_fernet()` does)."""
        rows = self.query("SELECT val, is_encrypted FROM variable WHERE key = %s", (key,))
        if not rows:
            return None
        value, encrypted = rows[0]
        if not encrypted:
            return value
        from cryptography.fernet import Fernet

        return Fernet(FERNET_KEY.encode()).decrypt(value.encode()).decode()

    # -- logs ---------------------------------------------------------------------------------------------------

    def task_log_paths(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[Path]:
        """The log files of the task's latest attempt: the worker's, then the triggerer's (`.trigger.N.log`)."""
        folder = self.logs / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        paths = list(folder.glob("attempt=*.log"))
        if not paths:
            return []
        attempt = max(int(re.match(r"attempt=(\d+)", p.name)[1]) for p in paths)  # type: ignore[index]
        return sorted(p for p in paths if p.name.startswith(f"attempt={attempt}.log"))

    def task_log(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, lines: int = 60) -> str:
        """The last `lines` events of each log file of the latest attempt (the files hold JSON lines)."""
        paths = self.task_log_paths(dag_id, run_id, task_id, map_index)
        if not paths:
            return f"(no log file for {task_id}[{map_index}])"
        parts = []
        for path in paths:
            events = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"[{path.name}]\n" + "\n".join(render_log_line(line) for line in events))
        return "\n".join(parts)

    def task_errors(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[str]:
        """`ExcType: message` of every exception logged by the task's latest attempt (worker and triggerer)."""
        errors = []
        for path in self.task_log_paths(dag_id, run_id, task_id, map_index):
            for line in path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError, AttributeError):
                    for error in json.loads(line).get("error_detail") or []:
                        errors.append(f"{error.get('exc_type')}: {error.get('exc_value')}")
        return errors

    def failure_report(self, dag_id: str, run_id: str, limit: int = 5, lines: int = 40) -> str:
        """Which tasks of the run did not succeed, with the log tail of the first `limit` of them."""
        bad = [ti for ti in self.task_instances(dag_id, run_id) if ti.state != "success"]
        if not bad:
            return f"{dag_id}/{run_id}: every task succeeded"
        out = [f"{dag_id}/{run_id}: {len(bad)} task(s) did not succeed: " + ", ".join(
            f"{ti.label}={ti.state}" for ti in bad)]  # fmt: skip
        for ti in bad[:limit]:
            out += [f"--- {ti.label} ({ti.state}) log:", self.task_log(dag_id, run_id, ti.task_id, ti.map_index, lines)]
        out.append(f"(task logs under {self.logs})")
        return "\n".join(out)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each service's process and its children still alive."""
        import psutil

        used = {}
        for name, service in self.services.items():
            total = 0.0
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(service.pid)
                for part in [process, *process.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        times = part.cpu_times()
                        total += times.user + times.system
            used[name] = round(total, 1)
        return used

    def access_log(self, path_prefix: str = "/execution/variables/") -> list[AccessLogEntry]:
        """The api-server's `request finished` lines for paths starting with `path_prefix`."""
        service = self.services.get("api-server")
        log = service.log if service else self.home / "api-server.log"
        if not log.exists():
            return []
        entries = []
        for line in log.read_text(errors="replace").splitlines():
            entry = parse_access_line(line)
            if entry is not None and entry.path.startswith(path_prefix):
                entries.append(entry)
        return entries


_FIELD = re.compile(r"(\w+)=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\S*)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_access_line(line: str) -> AccessLogEntry | None:
    """An access log entry from a `request finished` line, JSON or `key=value` console format; else None."""
    if "request finished" not in line:
        return None
    line = _ANSI.sub("", line)
    try:
        fields: dict[str, Any] = json.loads(line)
    except ValueError:
        fields = {key: value.strip("'\"") for key, value in _FIELD.findall(line)}
    stamp = fields.get("timestamp") or line.split(" ", 1)[0]
    try:
        at: datetime | None = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        at = None
    try:
        return AccessLogEntry(
            at=at,
            method=str(fields["method"]),
            path=str(fields["path"]),
            status=int(fields["status_code"]),
            duration_ms=int(fields["duration_us"]) / 1000,
        )
    except (KeyError, ValueError):
        return None


def render_log_line(line: str) -> str:
    """A task log line (JSON) as `time level event`, with any exception's type and message."""
    try:
        event = json.loads(line)
    except ValueError:
        return line
    if not isinstance(event, dict):
        return line
    text = f"{event.get('timestamp', '')[11:23]} {event.get('level', '')} {event.get('event', '')}"
    for error in event.get("error_detail") or []:
        if isinstance(error, dict):
            text += f"\n    {error.get('exc_type')}: {error.get('exc_value')}"
    return text


_UNIQUE = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def variable_traffic(entries: Iterable[AccessLogEntry]) -> dict[str, Any]:
    """Variable requests (from `Deployment.access_log()`) counted by method and by variable, with the p50/p99
    time the api-server spent on them in ms."""
    entries = list(entries)
    durations = [e.duration_ms for e in entries]
    by_method: dict[str, int] = {}
    by_variable: dict[str, int] = {}
    for entry in entries:
        by_method[entry.method] = by_method.get(entry.method, 0) + 1
        name = _UNIQUE.sub("*", entry.path.rstrip("/").rsplit("/", 1)[-1])  # one line per kind of variable
        by_variable[name] = by_variable.get(name, 0) + 1
    return {
        "requests": len(entries),
        "by_method": by_method,
        "by_variable": by_variable,
        "server_errors": sum(1 for e in entries if e.status >= 500),
        "p50_ms": percentile(durations, 0.5),
        "p99_ms": percentile(durations, 0.99),
        "max_ms": max(durations) if durations else None,
    }


@contextlib.contextmanager
def deployment(**kwargs: Any) -> Iterator[Deployment]:
    """`with deployment(connections=...) as d:`; the same as `with Deployment(...)`."""
    with Deployment(**kwargs) as running:
        yield running


def max_concurrency(intervals: Iterable[tuple[datetime | None, datetime | None]]) -> int:
    """The largest number of (start, end) intervals open at one instant; no end: still open now."""
    now = datetime.now(timezone.utc)
    events: list[tuple[datetime, int]] = []
    for start, end in intervals:
        if start is not None:
            events += [(start, 1), (end or now, -1)]
    events.sort(key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    best = current = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """`python -m tests.deployment.harness`: start a deployment and keep it until Ctrl-C or SIGTERM (both stop
    every process it started); the caller's `AIRFLOW_CONN_*` variables are its connections."""
    # A shell starts a background job with SIGINT ignored, and SIGTERM would end us without stopping anything.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    connections = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_")}
    with Deployment(extra_env=connections) as running:
        print(f"api-server {running.api_url}; AIRFLOW_HOME {running.home}; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                running._check_services()
                time.sleep(5)


if __name__ == "__main__":
    main()
