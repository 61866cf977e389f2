"""`train_dit` on several processes and "nodes" under torchrun: real processes on this machine.

Every rank draws the whole global batch's randomness and trains on its slice of it, and DDP
averages the gradients, so two processes with half a batch each train what one process trains.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
from safetensors.torch import load_file

from pipeline.training.checkpoint import Checkpoint
from pipeline.training.distributed import DistributedParams, torchrun_command
from tests.stages.test_train_dit import TINY, run_stage, timing, tiny_project

pytestmark = pytest.mark.slow
STEPS = 30


def params(procs: int = 1, nodes: int = 1, rendezvous: str = "127.0.0.1:29400") -> dict:
    chosen = copy.deepcopy(TINY)
    chosen["train_dit"]["train"].update(
        steps=STEPS, batch_size=64, checkpoint_every=10, precision="fp32", threads=1
    )
    chosen["train_dit"]["distributed"].update(
        procs_per_node=procs, nodes=nodes, rendezvous=rendezvous, timeout_s=120
    )
    return chosen


def losses(project: Path) -> np.ndarray:
    rows = (project / "plots/train_dit/loss.csv").read_text().splitlines()[1:]
    return np.array([float(row.split(",")[1]) for row in rows])


def weights(project: Path) -> dict[str, torch.Tensor]:
    return load_file(str(project / "models/dit/ema.safetensors"))


def assert_same_training(a: Path, b: Path) -> None:
    np.testing.assert_allclose(losses(a), losses(b), rtol=1e-4, atol=1e-6)
    first, second = weights(a), weights(b)
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=1e-4, atol=1e-5)


def start_stage(project: Path) -> subprocess.Popen:
    """`python -m stages.train_dit` in the project, running its own copy of the code."""
    return subprocess.Popen(
        [sys.executable, "-m", "stages.train_dit"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tiny_project(tmp_path_factory.mktemp("one"), params())
    result = run_stage("train_dit", project)
    assert result.returncode == 0, result.stderr
    return project


def test_torchrun_command_is_standalone_on_one_node_and_rendezvous_on_many() -> None:
    one = torchrun_command(DistributedParams(2, 1, "h:1", 60), "stages.train_dit")
    assert "--standalone" in one and one[-4:] == ["--nproc-per-node", "2", "-m", "stages.train_dit"]
    many = torchrun_command(DistributedParams(4, 3, "head:29400", 60), "stages.train_dit")
    assert "--standalone" not in many
    assert many[many.index("--nnodes") + 1] == "3"
    assert many[many.index("--rdzv-endpoint") + 1] == "head:29400"


def test_two_processes_of_half_a_batch_train_what_one_process_trains(
    one_process: Path, tmp_path: Path
) -> None:
    project = tiny_project(tmp_path / "two", params(procs=2))
    result = run_stage("train_dit", project)
    assert result.returncode == 0, result.stderr
    assert timing(project)["processes"] == 2 and timing(one_process)["processes"] == 1
    assert len(losses(project)) == STEPS
    assert_same_training(project, one_process)
    # rank 0 alone writes the outputs and keeps the EMA
    assert json.loads((project / "metrics/train_dit.json").read_text())["steps"] == STEPS


def test_two_nodes_meet_at_a_rendezvous_and_train_the_same(
    one_process: Path, tmp_path: Path
) -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    project = tiny_project(tmp_path / "nodes", params(nodes=2, rendezvous=endpoint))
    nodes = [start_stage(project) for _ in range(2)]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(outputs)
    assert timing(project)["processes"] == 2
    assert_same_training(project, one_process)


def test_a_killed_rank_fails_the_job_clearly_and_the_next_run_resumes_on_any_count(
    one_process: Path, tmp_path: Path
) -> None:
    project = tiny_project(tmp_path / "killed", params(procs=2))
    stage = start_stage(project)
    checkpoint = project / "checkpoints/dit/last.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and time.monotonic() < deadline and stage.poll() is None:
        time.sleep(0.05)
    workers = [
        process
        for process in psutil.Process(stage.pid).children(recursive=True)
        if "stages.train_dit" in " ".join(process.cmdline()) and "RANK" in process.environ()
    ]
    (rank_1,) = [w for w in workers if w.environ()["RANK"] == "1"]
    rank_1.send_signal(signal.SIGKILL)
    output = stage.communicate(timeout=300)[0]
    assert stage.returncode == 1
    assert "distributed training failed: a process stopped" in output
    assert "The last checkpoint is intact; rerun to resume from it." in output
    stopped_at = Checkpoint.load(checkpoint).step
    assert 10 <= stopped_at < STEPS

    # The next run resumes from that checkpoint, here on one process: it trains the same.
    (project / "params.yaml").write_text(
        (one_process / "params.yaml").read_text()
    )  # the process count is not part of a run's identity
    result = run_stage("train_dit", project)
    assert result.returncode == 0, result.stderr
    assert timing(project)["resumed_from_step"] == stopped_at
    assert_same_training(project, one_process)
