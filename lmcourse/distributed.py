"""Training on several processes with PyTorch's DistributedDataParallel (DDP).

``torchrun --nproc_per_node=K -m lmcourse.train --preset gpu`` starts K copies of the training
script, each with the environment variables ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``. Each
process holds a full copy of the model and trains on its own share of every batch; after the
backward pass DDP averages the gradients of all processes (an all-reduce), so every copy takes
the same step. With K processes of batch B the step equals one process with batch K·B.

Without those variables (a notebook, ``python -m lmcourse.train``) everything here is a no-op
and the loop runs on one process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = [
    "average",
    "is_distributed",
    "is_main_process",
    "rank",
    "setup",
    "share",
    "sync_gradients",
    "teardown",
    "world_size",
    "wrap",
]


def is_distributed() -> bool:
    """Whether a process group is running (set up by ``setup`` under ``torchrun``)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's number, 0..world_size − 1 (0 without DDP)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """How many processes train together (1 without DDP)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Only process 0 prints, writes metrics and saves checkpoints."""
    return rank() == 0


def setup(device: str | None = None) -> str | None:
    """Join the process group when started by ``torchrun``; return the device to train on.

    NCCL connects the GPUs (process ``LOCAL_RANK`` uses ``cuda:LOCAL_RANK``); gloo the CPUs.
    Without ``torchrun``'s variables nothing happens and ``device`` is returned unchanged.
    """
    if "RANK" not in os.environ or is_distributed():
        return device
    use_cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return device if use_cuda else (device or "cpu")


def teardown() -> None:
    """Leave the process group (at the end of a ``torchrun`` run)."""
    if is_distributed():
        dist.destroy_process_group()


def wrap(model: nn.Module) -> nn.Module:
    """The model in DDP when a process group runs, else the model itself."""
    if not is_distributed():
        return model
    device_ids = [model_device.index] if (model_device := _device(model)).type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@contextlib.contextmanager
def sync_gradients(model: nn.Module, last: bool) -> Iterator[None]:
    """Average gradients over the processes only after the last micro-batch of a step.

    With gradient accumulation, an all-reduce after every micro-batch would only cost time:
    DDP's ``no_sync`` lets the gradients accumulate locally until the last one.
    """
    if isinstance(model, DistributedDataParallel) and not last:
        with model.no_sync():
            yield
    else:
        yield


def average(value: float) -> float:
    """The mean of ``value`` over all processes (itself without DDP): a step's global loss."""
    if not is_distributed():
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return tensor.item() / world_size()


def share(batch: torch.Tensor) -> torch.Tensor:
    """This process's rows of a global batch: rows ``rank·B .. (rank + 1)·B − 1``.

    Every process draws the same global batch from the same seeded generator and keeps its own
    share, so K processes see exactly the windows that one process with batch K·B would.
    """
    per_process = batch.shape[0] // world_size()
    return batch[rank() * per_process : (rank() + 1) * per_process]
