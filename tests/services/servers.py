"""Real servers for tests: OpenSSH (a DVC remote), PostgreSQL, and an MLflow tracking server.

Each one listens on a free loopback port, keeps its keys and data in a temporary folder, is
waited for until it accepts connections (its own log in the error when it does not), and is
stopped at teardown, also when the test fails. Under CI=true a missing server binary fails the
test; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import getpass
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 120
SBIN = ("/usr/sbin", "/usr/local/sbin")
POSTGRES_BIN = "/usr/lib/postgresql/*/bin"  # Debian keeps the server tools off PATH
PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd; its service unit creates it


def require_binary(name: str, package: str, extra_dirs: tuple[str, ...] = ()) -> Path:
    """The path of `name`; under CI=true its absence fails the test, elsewhere it skips it."""
    found = shutil.which(name, path=os.pathsep.join((*extra_dirs, os.environ.get("PATH", ""))))
    if found:
        return Path(found)
    message = f"`{name}` not found: install Debian's {package} (apt-get install -y {package})"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port nothing listens on now: the kernel's pick for port 0."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def accepts_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
        return True
    return False


def wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen | None, log: Path):
    """Poll `ready` until it holds; raise with the server's log if it exits or times out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not ready():
        exited = process is not None and process.poll() is not None
        if exited or time.monotonic() > deadline:
            why = f"exited with {process.returncode}" if exited else f"{STARTUP_TIMEOUT_S}s passed"
            log_text = log.read_text(errors="replace") if log.exists() else "(no log)"
            raise RuntimeError(f"{what} did not start ({why}); its log {log}:\n{log_text}")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (its workers too), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start(command: list[str], log: Path, **options) -> subprocess.Popen:
    """A server process in its own session (so `stop` reaches its children), logging to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, **options,
        )  # fmt: skip


# --- OpenSSH ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SSHServer:
    host: str
    port: int
    user: str
    keyfile: Path  # the authorised private key
    known_hosts: Path  # trusts this server's host key (for `ssh -o UserKnownHostsFile=...`)
    log: Path

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}{path}"


def make_ssh_key(path: Path) -> Path:
    """A throw-away ed25519 key pair without a passphrase: `path` and `path`.pub."""
    keygen = require_binary("ssh-keygen", "openssh-client")
    subprocess.run(
        [str(keygen), "-q", "-t", "ed25519", "-N", "", "-C", "throw-away", "-f", str(path)],
        check=True,
    )
    return path


def sshd_config(directory: Path, port: int, host_key: Path) -> str:
    return f"""\
ListenAddress {HOST}
Port {port}
HostKey {host_key}
AuthorizedKeysFile {directory}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
PidFile {directory}/sshd.pid
UsePAM no
Subsystem sftp internal-sftp
"""


@contextlib.contextmanager
def running_sshd(directory: Path) -> Iterator[SSHServer]:
    """OpenSSH on a free loopback port, admitting one throw-away key for the current user."""
    sshd = require_binary("sshd", "openssh-server", SBIN)
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    host_key = make_ssh_key(directory / "host_key")
    keyfile = make_ssh_key(directory / "user_key")
    shutil.copy(keyfile.with_suffix(".pub"), directory / "authorized_keys")
    port = free_port()
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(f"[{HOST}]:{port} {host_key.with_suffix('.pub').read_text()}")
    config = directory / "sshd_config"
    config.write_text(sshd_config(directory, port, host_key))
    log = directory / "sshd.log"
    process = start([str(sshd), "-D", "-e", "-f", str(config)], log)
    try:
        wait_until(lambda: accepts_connections(port), "sshd", process, log)
        yield SSHServer(HOST, port, getpass.getuser(), keyfile, known_hosts, log)
    finally:
        stop(process)


# --- PostgreSQL ---------------------------------------------------------------------------


def postgres_tool(name: str) -> Path:
    return require_binary(name, "postgresql", tuple(sorted(glob.glob(POSTGRES_BIN), reverse=True)))


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """A fresh PostgreSQL cluster on a free loopback port holding an `mlflow` database owned by
    an `mlflow` user; yields its SQLAlchemy URI (password included).

    The URI names its driver: SQLAlchemy 2.1 reads a bare `postgresql://` as psycopg 3, and the
    project installs psycopg2.
    """
    initdb, pg_ctl, psql = (postgres_tool(name) for name in ("initdb", "pg_ctl", "psql"))
    as_root = os.geteuid() == 0
    # PostgreSQL refuses to run as root: it runs as `postgres`, in a folder of its own (pytest's
    # temporary folders are private to the user running the tests).
    base = Path(tempfile.mkdtemp(prefix="postgres-"))
    if as_root:
        account = pwd.getpwnam("postgres")
        os.chown(base, account.pw_uid, account.pw_gid)

    def as_postgres(*command: str | Path) -> list[str]:
        return (["runuser", "-u", "postgres", "--"] if as_root else []) + [str(c) for c in command]

    data, log, port = base / "data", base / "postgres.log", free_port()
    password = secrets.token_hex(12)
    server_options = f"-c listen_addresses={HOST} -p {port} -k {base} -c fsync=off"
    try:
        subprocess.run(
            as_postgres(initdb, "-D", data, "-U", "postgres", "--auth-local=trust",
                        "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-sync"),
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        started = subprocess.run(
            as_postgres(pg_ctl, "-D", data, "-l", log, "-o", server_options, "-w", "-t",
                        str(STARTUP_TIMEOUT_S), "start"),
            capture_output=True, text=True,
        )  # fmt: skip
        if started.returncode != 0:
            log_text = log.read_text(errors="replace") if log.exists() else "(no log)"
            raise RuntimeError(f"PostgreSQL did not start:\n{started.stdout}{started.stderr}\n"
                               f"its log {log}:\n{log_text}")  # fmt: skip
        wait_until(lambda: accepts_connections(port), "PostgreSQL", None, log)
        subprocess.run(
            as_postgres(psql, "-h", base, "-p", str(port), "-U", "postgres", "-d", "postgres",
                        "-v", "ON_ERROR_STOP=1", "-q",
                        "-c", f"CREATE ROLE mlflow LOGIN PASSWORD '{password}'",
                        "-c", "CREATE DATABASE mlflow OWNER mlflow"),
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        yield f"postgresql+psycopg2://mlflow:{password}@{HOST}:{port}/mlflow"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(as_postgres(pg_ctl, "-D", data, "-m", "fast", "-w", "stop"),
                           capture_output=True)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


# --- MLflow -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackingServer:
    uri: str  # what MLFLOW_TRACKING_URI is set to
    artifacts: Path  # --artifacts-destination: where proxied artifacts land
    log: Path


def answers_health_check(uri: str) -> bool:
    with (
        contextlib.suppress(urllib.error.URLError, OSError),
        urllib.request.urlopen(f"{uri}/health", timeout=2) as answer,
    ):
        return answer.status == 200
    return False


@contextlib.contextmanager
def running_mlflow_server(backend_store_uri: str, directory: Path) -> Iterator[TrackingServer]:
    """`mlflow server` on a free loopback port: runs in `backend_store_uri`, artifacts proxied
    into `directory`/artifacts."""
    directory.mkdir(parents=True, exist_ok=True)
    artifacts, log, port = directory / "artifacts", directory / "mlflow-server.log", free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_store_uri,
        "--serve-artifacts", "--artifacts-destination", str(artifacts),
        "--host", HOST, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    process = start(command, log, cwd=directory)
    uri = f"http://{HOST}:{port}"
    try:
        wait_until(lambda: answers_health_check(uri), "mlflow server", process, log)
        yield TrackingServer(uri, artifacts, log)
    finally:
        stop(process)


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SSHServer]:
    with running_sshd(tmp_path / "sshd") as server:
        yield server


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with running_postgres() as uri:
        yield uri


@pytest.fixture(scope="module")
def mlflow_server(
    postgres: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrackingServer]:
    with running_mlflow_server(postgres, tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server
