"""Training on several processes and nodes: PyTorch DDP under `torchrun`.

Every rank draws the randomness of the whole global batch from the same generator and trains on
its own slice of it, so a run gives the same steps whatever the number of processes, and a
checkpoint resumes on any number of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from pipeline.errors import PipelineError
from pipeline.schema import bounded


@dataclass(frozen=True)
class DistributedParams:
    """How many processes train and where they meet (the `train_dit.distributed` params)."""

    procs_per_node: int = bounded(1, 1024)
    nodes: int = bounded(1, 100_000)
    rendezvous: str  # host:port of the c10d rendezvous, for more than one node
    timeout_s: int = bounded(10, 86_400)  # how long a rank waits for the others

    @property
    def world_size(self) -> int:
        return self.procs_per_node * self.nodes


def torchrun_command(params: DistributedParams, module: str) -> list[str]:
    """The command that runs `python -m module` on this node's share of the processes."""
    command = [sys.executable, "-m", "torch.distributed.run"]
    if params.nodes == 1:
        command += ["--standalone"]
    else:
        command += ["--nnodes", str(params.nodes), "--rdzv-backend", "c10d"]
        command += ["--rdzv-endpoint", params.rendezvous, "--rdzv-id", module.rsplit(".", 1)[-1]]
    return [*command, "--nproc-per-node", str(params.procs_per_node), "-m", module]


def launched_by_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ


def relaunch(params: DistributedParams, module: str) -> bool:
    """Run `module` under torchrun when more than one process is asked for and this is not
    already one of them; True when it ran there (and so this process's work is done)."""
    if params.world_size == 1 or launched_by_torchrun():
        return False
    if subprocess.run(torchrun_command(params, module)).returncode:
        raise PipelineError(
            "distributed training failed: a process stopped (its error is above). The last "
            "checkpoint is intact; rerun to resume from it."
        )
    return True


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of a job (one rank when run alone)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> World:
        env = os.environ
        rank, size, local = (
            int(env.get(k, d)) for k, d in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0))
        )
        return cls(rank, size, local)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def start(self, device: torch.device, timeout_s: int) -> None:
        """Join the process group: NCCL between GPUs, gloo between CPUs."""
        if self.size > 1 and not dist.is_initialized():
            from datetime import timedelta

            if device.type == "cuda":
                torch.cuda.set_device(device)
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))

    def stop(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def shard(self, batch: int, key: str = "batch_size") -> slice:
        """This rank's slice of a global batch (whose size the param `key` sets)."""
        if batch % self.size:
            raise PipelineError(
                f"{key} {batch} does not split evenly over {self.size} processes; choose a multiple"
            )
        part = batch // self.size
        return slice(self.rank * part, (self.rank + 1) * part)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of `value` over the ranks (a detached copy)."""
        value = value.detach().clone()
        if self.size > 1:
            dist.all_reduce(value)
            value /= self.size
        return value

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj`, on every rank."""
        if self.size == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]
