"""What a team uses beyond one laptop, proven against real servers on this machine: a DVC remote
over SSH (OpenSSH, throw-away keys) and a shared MLflow tracking server (runs in PostgreSQL,
artifacts proxied by the server).

One tiny project is shared: its one `dvc repro` logs to the tracking server, and the SSH tests
push and pull its outputs. After each test the project goes back to its commit and outputs.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.project.tracking import EXPERIMENT
from tests.services.servers import SSHServer, TrackingServer, free_port, make_ssh_key
from tests.tiny_pipeline import tiny_project
from tools.workspace import ROOT, Project

pytest_plugins = ("tests.services.servers",)  # the fixtures sshd, postgres and mlflow_server
pytestmark = pytest.mark.slow
STAGES = tuple(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
REMOTE = "team"
# Artifacts stages log, each with the project file it is a copy of.
LOGGED_ARTIFACTS = {
    "keras_to_onnx": {"conversion.log": "logs/conversion.log"},
    "validate": {
        "validation.md": "reports/validation.md",
        "model_card.md": "reports/model_card.md",
    },
}
SERVER_DOWN = ("does not answer", "the stage stopped before doing any work")
# Not data: DVC's locks and state, git's index, and the bytecode Python writes when a stage runs.
NOT_DATA = (".git", ".dvc/tmp", "__pycache__")
OBJECT_NAME = re.compile(r"[0-9a-f]{30}(\.dir)?")  # after the two-character folder


def sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def cached_outputs(project: Project) -> list[str]:
    """Every output `dvc.yaml` keeps in the DVC cache (those not marked `cache: false`)."""
    stages = yaml.safe_load((project.path / "dvc.yaml").read_text())["stages"].values()
    outputs = []
    for stage in stages:
        for out in stage.get("outs", []):
            path, options = next(iter(out.items())) if isinstance(out, dict) else (out, {})
            if options.get("cache", True):
                outputs.append(path)
    return outputs


def output_hashes(project: Project) -> dict[str, str]:
    """sha256 of every file of every cached output."""
    hashes = {}
    for output in cached_outputs(project):
        path = project.path / output
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                hashes[file.relative_to(project.path).as_posix()] = sha256(file)
    return hashes


def local_data(project: Project) -> dict[str, str]:
    """sha256 of every file in the project (outputs, metrics, DVC cache, code, dvc.lock)."""
    hashes = {}
    for file in sorted(project.path.rglob("*")):
        name = file.relative_to(project.path).as_posix()
        skipped = any(name.startswith(f"{skip}/") or skip in file.parts for skip in NOT_DATA)
        if file.is_file() and not skipped:
            hashes[name] = sha256(file)
    return hashes


def dvc(project: Project, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
    """`dvc <args>` in the project with stdin closed, so no prompt can wait; any exit status."""
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=project.path,
        env=env or project.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def use_remote(project: Project, url: str, keyfile: Path) -> None:
    """The project's default remote, URL and key in `.dvc/config.local`, which git ignores."""
    project.dvc("remote", "add", "--local", "--default", "--force", REMOTE, url)
    project.dvc("remote", "modify", "--local", REMOTE, "keyfile", str(keyfile))


def remote_objects(folder: Path) -> list[Path]:
    return [p for p in (folder / "files" / "md5").glob("*/*") if OBJECT_NAME.fullmatch(p.name)]


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, mirror: Path, mlflow_server: TrackingServer
) -> Project:
    """The tiny project after one `dvc repro` that logged to the tracking server, committed."""
    project = tiny_project(tmp_path_factory.mktemp("project"), mirror)
    project.env["MLFLOW_TRACKING_URI"] = mlflow_server.uri
    project.dvc("repro")
    project.commit("first run")
    return project


@pytest.fixture(autouse=True)
def restored(project: Project) -> Iterator[None]:
    start = project.head()
    yield
    (project.path / ".dvc" / "config.local").unlink(missing_ok=True)
    project.reset(start)


@pytest.fixture
def remote(project: Project, sshd: SSHServer, tmp_path: Path) -> Path:
    """An empty folder on the SSH server, the project's default remote."""
    folder = tmp_path / "remote"
    folder.mkdir()
    use_remote(project, sshd.url(folder), sshd.keyfile)
    return folder


@pytest.fixture(scope="module")
def runs(project: Project, mlflow_server: TrackingServer) -> dict:
    """The tracking server's runs of the project's repro, by stage."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    found = client.search_runs([experiment.experiment_id])
    assert len(found) == len(STAGES), [run.data.tags.get("stage") for run in found]
    return {run.data.tags["stage"]: run for run in found}


# --- DVC remote over SSH ------------------------------------------------------------------


def test_the_remote_and_its_key_stay_in_the_uncommitted_local_config(
    project: Project, remote: Path, sshd: SSHServer
) -> None:
    local = (project.path / ".dvc" / "config.local").read_text()
    assert str(sshd.keyfile) in local and sshd.url(remote) in local
    assert str(sshd.keyfile) not in (project.path / ".dvc" / "config").read_text()
    assert project.git("status", "--porcelain").stdout == ""
    assert project.git("check-ignore", ".dvc/config.local").stdout.strip() == ".dvc/config.local"


def test_push_then_pull_over_ssh_restores_every_cached_output_byte_for_byte(
    project: Project, remote: Path
) -> None:
    before = output_hashes(project)
    assert {"data/cifar10/train.npz", "models/resnet8.onnx", "models/dit/ema.safetensors",
            "models/quantized/resnet8_int8.onnx"} <= before.keys()  # fmt: skip
    pushed = project.dvc("push")
    assert re.search(r"\d+ files pushed", pushed.stdout), pushed.stdout

    shutil.rmtree(project.path / ".dvc" / "cache")
    for output in cached_outputs(project):
        path = project.path / output
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert output_hashes(project) == {}

    project.dvc("pull")
    assert output_hashes(project) == before
    assert "Data and pipelines are up to date." in project.dvc("status").stdout
    assert f"Cache and remote '{REMOTE}' are in sync." in project.dvc("status", "-c").stdout


def test_a_push_killed_midway_completes_on_the_next_push(project: Project, remote: Path) -> None:
    push = subprocess.Popen(
        [sys.executable, "-m", "dvc", "push"], cwd=project.path, env=project.env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while push.poll() is None and not remote_objects(remote) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        push.send_signal(signal.SIGKILL)
        push.wait()
    assert push.returncode == -signal.SIGKILL, "the push ended before it could be killed"
    assert "new:" in project.dvc("status", "-c").stdout  # the remote lacks some outputs

    project.dvc("push")
    assert f"Cache and remote '{REMOTE}' are in sync." in project.dvc("status", "-c").stdout
    objects = remote_objects(remote)
    assert len(objects) >= len(cached_outputs(project))
    for obj in objects:  # no object is a cut-off upload: each holds the bytes its name hashes
        assert hashlib.md5(obj.read_bytes()).hexdigest() == obj.parent.name + obj.stem


def assert_refused_leaving_local_data(project: Project, message: str) -> None:
    """`dvc push` and `dvc pull` fail, print `message`, and change no local file."""
    before = local_data(project)
    for command in ("push", "pull"):
        result = dvc(project, command, timeout=120)
        assert result.returncode != 0, f"dvc {command} succeeded"
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert local_data(project) == before


def test_an_unauthorised_key_is_refused_and_local_data_is_untouched(
    project: Project, sshd: SSHServer, tmp_path: Path
) -> None:
    use_remote(project, sshd.url(tmp_path / "remote"), make_ssh_key(tmp_path / "unauthorised"))
    assert_refused_leaving_local_data(
        project, f"Permission denied for user {sshd.user} on host {sshd.host}"
    )


def test_a_remote_that_is_down_is_named_and_local_data_is_untouched(
    project: Project, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there
    use_remote(project, f"ssh://root@127.0.0.1:{port}/remote", make_ssh_key(tmp_path / "key"))
    assert_refused_leaving_local_data(project, f"Connect call failed ('127.0.0.1', {port})")


# --- the shared MLflow tracking server ------------------------------------------------------


def test_every_stage_logs_a_run_with_params_and_metrics_to_the_server(
    project: Project, runs: dict
) -> None:
    assert sorted(runs) == sorted(STAGES)
    repro_commit = project.git("rev-parse", "HEAD~1").stdout.strip()
    for stage, run in runs.items():
        assert run.info.status == "FINISHED", stage
        assert run.data.metrics, stage
        assert run.data.params or stage == "register", stage  # registering reads no params
        assert run.data.tags["git_commit"] == repro_commit
        assert "dvc_exp_name" not in run.data.tags  # a plain `dvc repro`, not an experiment
    evaluation = project.metrics("onnx_eval")
    assert runs["onnx_eval"].data.metrics["test.accuracy"] == evaluation["test"]["accuracy"]
    opset = project.params()["keras_to_onnx"]["opset"]
    assert runs["keras_to_onnx"].data.params["keras_to_onnx.opset"] == str(opset)


def test_artifacts_travel_through_the_server_into_its_artifact_store(
    project: Project, runs: dict, mlflow_server: TrackingServer, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    for stage, artifacts in LOGGED_ARTIFACTS.items():
        run = runs[stage].info
        assert client.get_experiment(run.experiment_id).artifact_location.startswith(
            "mlflow-artifacts:"
        )  # the server proxies: clients never write to its store themselves
        listed = {artifact.path for artifact in client.list_artifacts(run.run_id)}
        for name, source in artifacts.items():
            original = (project.path / source).read_bytes()
            assert name in listed, (stage, listed)
            downloaded = client.download_artifacts(run.run_id, name, str(tmp_path))
            assert Path(downloaded).read_bytes() == original
            stored = mlflow_server.artifacts / run.experiment_id / run.run_id / "artifacts" / name
            assert stored.read_bytes() == original
    for local_store in ("mlflow.db", "mlartifacts", "mlruns"):
        assert not (project.path / local_store).exists()


def test_register_registers_every_model_once_and_only_a_pass_moves_the_champion(
    project: Project, runs: dict, mlflow_server: TrackingServer
) -> None:
    import mlflow.onnx
    import onnxruntime as ort
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    names = [f"{family}{suffix}" for family in ("classifier", "resnet8", "generator")
             for suffix in ("", "-int8", "-fp16")]  # fmt: skip
    champions = {name: client.get_model_version_by_alias(name, "champion") for name in names}
    assert all(version.tags["passed"] == "True" for version in champions.values())
    # the model registered is the one its stage logged, not a copy logged again
    assert champions["classifier"].run_id == runs["train_classifier"].info.run_id
    assert champions["classifier"].source.startswith("models:/m-")  # a logged model, not a file

    # Stricter gates fail the same files: no new version, they are also `candidate` now, and
    # a model trained anew that fails becomes a new `candidate` while `champion` stays.
    failing = ["-S", "validate.enforce=false", "-S", "validate.gates.perf_accuracy_min=0.99"]
    project.dvc("exp", "run", *failing)
    assert project.metrics("validate")["failing"] == "classifier_perf_accuracy"
    for name, champion in champions.items():
        assert client.get_model_version_by_alias(name, "candidate").version == champion.version
    project.dvc("exp", "run", *failing, "-S", "train_dit.train.seed=1")
    for name, champion in champions.items():
        assert client.get_model_version_by_alias(name, "champion").version == champion.version
        if name.startswith("generator"):
            candidate = client.get_model_version_by_alias(name, "candidate")
            assert int(candidate.version) > int(champion.version), name

    mlflow.set_tracking_uri(mlflow_server.uri)
    loaded = mlflow.onnx.load_model("models:/classifier@champion")
    images = np.load(project.path / "data/images/test.npz")["images"][:4].astype(np.float32)
    feed = {"input": images}
    served = ort.InferenceSession(loaded.SerializeToString(), providers=["CPUExecutionProvider"])
    local = ort.InferenceSession(str(project.path / "models/classifier.onnx"),
                                 providers=["CPUExecutionProvider"])  # fmt: skip
    np.testing.assert_array_equal(served.run(None, feed)[0], local.run(None, feed)[0])


def server_down(project: Project) -> dict[str, str]:
    return {**project.env, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}


def test_a_stage_whose_tracking_server_is_down_stops_and_writes_nothing(project: Project) -> None:
    before = local_data(project)
    stage = subprocess.run(
        [sys.executable, "-m", "stages.keras_to_onnx"], cwd=project.path, env=server_down(project),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert stage.returncode != 0
    assert all(words in stage.stderr for words in SERVER_DOWN), stage.stderr
    assert local_data(project) == before


def test_repro_with_the_tracking_server_down_fails_and_records_nothing(project: Project) -> None:
    before = local_data(project)
    repro = dvc(project, "repro", "-f", "keras_to_onnx", "--single-item", env=server_down(project))
    assert repro.returncode != 0
    assert all(words in repro.stdout + repro.stderr for words in SERVER_DOWN), repro.stderr
    assert "failed to reproduce 'keras_to_onnx'" in repro.stderr

    after = local_data(project)
    # DVC deletes a stage's outputs before it runs the stage; the stage itself adds nothing,
    # changes nothing, and dvc.lock keeps the last good run.
    assert before.keys() - after.keys() == {
        "models/resnet8.onnx", "logs/conversion.log", "metrics/keras_to_onnx.json",
    }  # fmt: skip
    assert after == {path: before[path] for path in after}
    project.dvc("checkout", "keras_to_onnx")
    project.git("checkout", "--", "metrics/keras_to_onnx.json")
    assert local_data(project) == before
    # the stage and what it depends on; register's receipt is the store's, which experiments move
    assert "Data and pipelines are up to date." in project.dvc("status", "keras_to_onnx").stdout
