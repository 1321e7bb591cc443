"""Helpers every notebook uses: seeding, choosing a device, showing source, counting parameters."""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import platform
import random
import re
import socket
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "SourceCode",
    "count_params",
    "environment_report",
    "generator_from_seed",
    "get_device",
    "hub_reachable",
    "is_int",
    "is_real",
    "resolve_out_dir",
    "resolve_preset",
    "seed_everything",
    "show_source",
]

_DEVICES = ("cuda", "mps", "cpu")


def is_int(value: object) -> bool:
    """True for a Python or NumPy integer, False for a bool (``True`` is not a size of 1)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """True for a Python or NumPy integer or float, False for a bool; used to validate configs."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def resolve_preset(preset: str, choices: Iterable[str]) -> str:
    """The preset a training notebook runs: ``preset``, unless ``LMCOURSE_PRESET`` names another.

    The test suite sets ``LMCOURSE_PRESET=ci`` so that every notebook trains for seconds,
    whatever its parameters cell says. Either name must be one of ``choices`` (a notebook's
    table of presets, or ``lmcourse.presets.PRESETS``).

    Example: ``resolve_preset("cpu", {"ci": 30, "cpu": 2000})`` is ``"cpu"``, or ``"ci"``
    when the environment has ``LMCOURSE_PRESET=ci``.
    """
    choices = list(choices)
    known = ", ".join(repr(name) for name in choices)
    if not isinstance(preset, str) or preset not in choices:
        raise ValueError(f"preset must be one of {known}; got {preset!r}.")
    override = os.environ.get("LMCOURSE_PRESET")
    if override is None:
        return preset
    if override not in choices:
        raise ValueError(f"the environment variable LMCOURSE_PRESET must be one of {known}; "
                         f"got {override!r}.")  # fmt: skip
    return override


def resolve_out_dir(out_dir: str) -> Path:
    """The folder a training notebook writes into: ``out_dir``, unless ``LMCOURSE_RUNS_DIR``
    names a folder to put a relative ``out_dir`` under.

    The test suite points ``LMCOURSE_RUNS_DIR`` at a temporary folder, so that running the tests
    never touches the runs in your ``notebooks/runs/`` (notebook 08 would move yours aside).

    Example: ``resolve_out_dir("runs/08_train_gpt")`` is ``Path("runs/08_train_gpt")``, or
    ``Path("/tmp/x/runs/08_train_gpt")`` when the environment has ``LMCOURSE_RUNS_DIR=/tmp/x``.
    """
    if not isinstance(out_dir, str) or not out_dir.strip():
        raise ValueError(f"out_dir must be the name of a folder; got {out_dir!r}.")
    root = os.environ.get("LMCOURSE_RUNS_DIR")
    path = Path(out_dir).expanduser()
    return path if root is None or path.is_absolute() else Path(root) / path


def generator_from_seed(seed: int) -> torch.Generator:
    """A ``torch.Generator`` seeded with ``seed``; a ValueError in words for a bad seed.

    The course's seeds are the whole numbers from 0 to 2**63 - 1 (every number of up to 18
    digits), everywhere: widgets, ``lmcourse sample``, ``seed_everything``, ``TrainConfig``.
    Without the check a 20-digit seed stops in torch with "Overflow when unpacking long long".
    """
    if not is_int(seed):
        raise ValueError(f"The seed must be a whole number, got {seed!r}.")
    if seed < 0:
        raise ValueError(f"The seed must be 0 or more, got {seed}.")
    if seed >= 2**63:
        raise ValueError(f"The seed {seed} is too large: any number of up to 18 digits works.")
    return torch.Generator().manual_seed(int(seed))


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and PyTorch's global generators and return a fresh generator.

    The course passes the returned generator explicitly (``generator=gen``) to everything
    random, so a result never depends on what ran before; the global seeds are a safety net
    for library code that takes no generator.

    Example::

        >>> gen = seed_everything(0)
        >>> torch.randint(10, (3,), generator=gen).tolist()
        [4, 9, 3]
    """
    generator = generator_from_seed(seed)  # checks the seed
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return generator


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return (
            getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        )
    return kind == "cpu"


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to compute on: ``prefer`` if given, else the best available (cuda > mps > cpu).

    Args:
        prefer: ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"`` or ``None`` (automatic). A device
            that is asked for but missing raises ``ValueError`` (a silent fallback to the CPU
            would hide a misconfigured GPU machine).
    """
    if prefer is None:
        return torch.device(next(kind for kind in _DEVICES if _available(kind)))
    try:
        device = torch.device(prefer)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"Unknown device {prefer!r}; use one of {', '.join(_DEVICES)} (or e.g. 'cuda:1')."
        ) from None
    if device.type not in _DEVICES:
        raise ValueError(f"Unsupported device {prefer!r}; use one of {', '.join(_DEVICES)}.")
    if not _available(device.type):
        raise ValueError(f"Device {prefer!r} was asked for but is not available on this machine.")
    if (
        device.type == "cuda"
        and device.index is not None
        and device.index >= torch.cuda.device_count()
    ):
        raise ValueError(
            f"{prefer!r}: this machine has {torch.cuda.device_count()} CUDA device(s)."
        )
    return device


class SourceCode:
    """Source text that renders highlighted in Jupyter and as plain text elsewhere."""

    def __init__(self, text: str, name: str = "") -> None:
        self.text, self.name = text, name

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        formatter = HtmlFormatter(noclasses=True, style="default")
        return highlight(self.text, PythonLexer(), formatter)


def hub_reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host``'s ``port`` (HTTPS's) opens within ``timeout`` s."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def show_source(obj) -> SourceCode:
    """The source code of a function, class or method of the package, ready to display.

    Notebooks use it to show the real, tested code instead of re-typing it::

        show_source(train_val_split)
    """
    try:
        text = inspect.getsource(obj)
    except (TypeError, OSError) as err:
        raise ValueError(f"No Python source is available for {obj!r} ({err}).") from None
    return SourceCode(inspect.cleandoc("\n" + text) if text[:1].isspace() else text, repr(obj))


def count_params(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``model``; shared (tied) tensors are counted once.

    Example::

        >>> count_params(torch.nn.Linear(3, 2))  # a 2x3 weight and 2 biases
        8
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"count_params expects a torch.nn.Module, got {type(model).__name__}.")
    params = model.parameters()  # parameters() already yields each shared tensor once
    return sum(p.numel() for p in params if p.requires_grad or not trainable_only)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _runtime_dependencies() -> list[str]:
    """Names of the packages lmcourse declares it needs (pyproject.toml), extras left out."""
    try:
        requirements = importlib.metadata.requires("lmcourse") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    return [re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0] for r in requirements if "extra ==" not in r]


def environment_report() -> dict[str, str]:
    """What the course runs on: versions, device, CPU threads and where the corpus comes from.

    Shown by ``lmcourse info`` and by the environment check of notebook 00.
    """
    from lmcourse import data  # local import: data imports this module's neighbours

    report = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("lmcourse", *_runtime_dependencies()):
        report[package] = _version(package)
    report["device"] = str(get_device())
    report["cpu threads (torch)"] = str(torch.get_num_threads())
    report["cpu cores"] = str(os.cpu_count())
    try:
        report["corpus"] = f"{len(data.play_files())} plays in {data.plays_dir()}"
    except (ModuleNotFoundError, FileNotFoundError) as err:
        report["corpus"] = f"NOT FOUND: {err}"
    report["corpus cache"] = str(data.cache_dir())
    return report
