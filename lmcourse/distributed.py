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
    "all_sum",
    "check_environment",
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

    Raises:
        ValueError: ``RANK`` is set but torchrun's other variables are missing or do not fit
            (``check_environment``), or ``LOCAL_RANK`` names a GPU the machine does not have.
    """
    if "RANK" not in os.environ or is_distributed():
        return device
    check_environment()
    use_cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", 0))
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK is {local} but this machine has "
                             f"{torch.cuda.device_count()} GPU(s): start at most that many "
                             "processes (torchrun --nproc_per_node).")  # fmt: skip
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return device if use_cuda else (device or "cpu")


#: The variables torchrun sets for each process (LOCAL_RANK too, which may be missing).
_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def check_environment() -> None:
    """Raise ``ValueError``, naming the variable, unless torchrun's variables fit together.

    Without the check a mistake made by hand (``RANK=1`` alone, a ``RANK`` not below
    ``WORLD_SIZE``) ends in a stack trace deep in ``torch.distributed``, or in a process that
    waits half an hour for partners that never come.
    """
    env = os.environ
    how = ("these are torchrun's variables: start with torchrun --nproc_per_node=K -m "
           "lmcourse.train ..., or unset RANK to train in one process")  # fmt: skip
    missing = [name for name in _TORCHRUN_VARIABLES if not env.get(name, "").strip()]
    if missing:
        raise ValueError(f"RANK is set ({env['RANK']!r}) but not {', '.join(missing)}: {how}.")
    numbers = {}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        if name in env:
            try:
                numbers[name] = int(env[name])
            except ValueError:
                raise ValueError(
                    f"{name} must be a whole number, got {env[name]!r}: {how}."
                ) from None
    rank_, size = numbers["RANK"], numbers["WORLD_SIZE"]
    if size < 1 or not 0 <= rank_ < size:
        raise ValueError(f"RANK must be 0 to WORLD_SIZE - 1, got RANK {rank_} and "
                         f"WORLD_SIZE {size}: {how}.")  # fmt: skip
    if numbers.get("LOCAL_RANK", 0) < 0 or not 0 < numbers["MASTER_PORT"] < 2**16:
        raise ValueError(f"LOCAL_RANK must be >= 0 and MASTER_PORT in 1..65535, got "
                         f"{env.get('LOCAL_RANK')!r} and {env['MASTER_PORT']!r}: "
                         f"{how}.")  # fmt: skip


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


def all_sum(values: list[float]) -> list[float]:
    """Each of ``values`` summed over all processes, in one all-reduce (themselves without DDP).

    Example: the training loop sends a step's loss and whether a signal came (0 or 1) together:
    every process learns the global loss and that some process was told to stop.
    """
    if not is_distributed():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return tensor.tolist()


def share(batch: torch.Tensor) -> torch.Tensor:
    """This process's rows of a global batch: rows ``rank·B .. (rank + 1)·B − 1``.

    Every process draws the same global batch from the same seeded generator and keeps its own
    share, so K processes see exactly the windows that one process with batch K·B would.
    """
    per_process = batch.shape[0] // world_size()
    return batch[rank() * per_process : (rank() + 1) * per_process]
