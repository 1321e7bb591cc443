"""Checkpoints: everything a training run needs to stop and go on, in one safe file.

A checkpoint holds the model's weights and config, the optimizer's state, the step reached,
the random states (the batch generator, torch's generator for dropout, CUDA's), the training
config, the history so far and the tokenizer. So ``train(..., resume=True)`` continues exactly
where the run stopped, and ``lmcourse sample`` needs nothing but the file.

Safety:

- Written atomically (a temporary file in the same folder, then a rename): a run killed while
  saving leaves the previous checkpoint intact, never half a file.
- Read with ``torch.load(weights_only=True)``: only tensors, numbers, strings, lists and dicts
  are allowed, so a checkpoint from anywhere can never run code when loaded.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, fields
from pathlib import Path

import torch
from torch import nn

from lmcourse.files import _default_mode
from lmcourse.tokenizers import CharTokenizer

__all__ = [
    "CheckpointError",
    "FORMAT",
    "check_compatible",
    "config_differences",
    "load_checkpoint",
    "model_from_checkpoint",
    "save_checkpoint",
    "set_aside_run",
    "tokenizer_from_checkpoint",
    "unwrap",
]

#: The value of every checkpoint's ``"format"`` entry, and its version.
FORMAT = "lmcourse-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here: corrupt, truncated, or from another config."""


def _model_classes() -> dict[str, tuple[type, type]]:
    """Model class name -> (class, config class), for every model a checkpoint can rebuild."""
    from lmcourse.gpt import GPT, GPTConfig
    from lmcourse.mlp import MLPLM, MLPConfig
    from lmcourse.rnn import RecurrentLM, RecurrentLMConfig

    return {"GPT": (GPT, GPTConfig), "MLPLM": (MLPLM, MLPConfig),
            "RecurrentLM": (RecurrentLM, RecurrentLMConfig)}  # fmt: skip


def unwrap(model: nn.Module) -> nn.Module:
    """The model itself inside DDP (``.module``) and ``torch.compile`` (``._orig_mod``)."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **state) -> Path:
    """Write ``model`` (its weights and config) and any other ``state`` to ``path``, atomically.

    ``state`` holds plain values: tensors, numbers, strings, lists, dicts (the training loop
    passes ``step``, ``optimizer`` state, ``rng`` states, ``train_config``, ``history`` and
    ``tokenizer``; dataclasses are stored as dicts, a ``CharTokenizer`` as its characters).
    """
    model = unwrap(model)
    config = getattr(model, "config", None)
    entry = {
        "format": FORMAT,
        "model_class": type(model).__name__,
        "model_config": asdict(config) if config is not None else None,
        "model": model.state_dict(),
    }
    for key, value in state.items():
        if isinstance(value, CharTokenizer):
            value = {"type": "char", "chars": value.chars, "unk": value.unk}
        elif hasattr(value, "__dataclass_fields__"):
            value = asdict(value)
        entry[key] = value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, _default_mode())  # mkstemp makes it private (0600); a file is usually not
        torch.save(entry, tmp)
        os.replace(tmp, path)  # atomic: readers see the old file or the new one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by ``save_checkpoint``, safely (``weights_only=True``).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is truncated, corrupt, or not an lmcourse checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at '{path}'.")
    try:
        entry = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # damaged bytes can make the unpickler fail in any way
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        detail = type(error).__name__ + (f": {first_line}" if first_line else "")
        raise CheckpointError(
            f"'{path}' is not a readable checkpoint: it is truncated or corrupt (a copy cut short,"
            f" a failed download?), or not written by torch.save. (torch.load: {detail})"
        ) from None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT:
        found = entry.get("format") if isinstance(entry, dict) else type(entry).__name__
        raise CheckpointError(f"'{path}' is not an lmcourse checkpoint ({FORMAT}); found {found}.")
    return entry


def config_differences(saved: dict | None, config) -> list[str]:
    """The fields where a saved config (a dict) and a config dataclass differ, as sentences."""
    current = asdict(config) if config is not None else {}
    saved = saved or {}
    names = [f.name for f in fields(config)] if config is not None else list(saved)
    names += [name for name in saved if name not in names]
    return [
        f"{name}: checkpoint {saved.get(name, '(none)')!r}, model {current.get(name, '(none)')!r}"
        for name in names
        if saved.get(name, "(none)") != current.get(name, "(none)")
    ]


def check_compatible(entry: dict, model: nn.Module) -> None:
    """Raise ``CheckpointError`` listing the differences if ``entry`` does not fit ``model``."""
    model = unwrap(model)
    if entry["model_class"] != type(model).__name__:
        raise CheckpointError(
            f"The checkpoint holds a {entry['model_class']}, not a {type(model).__name__}."
        )
    differences = config_differences(entry["model_config"], getattr(model, "config", None))
    if differences:
        raise CheckpointError(
            "The checkpoint was made with another config; these fields differ:\n  "
            + "\n  ".join(differences)
        )


def model_from_checkpoint(entry: dict) -> nn.Module:
    """Rebuild the model a checkpoint holds (GPT, RecurrentLM, MLPLM) with its weights."""
    classes = _model_classes()
    name = entry.get("model_class")
    if name not in classes:
        raise CheckpointError(f"Cannot rebuild a {name!r}; known models: {sorted(classes)}.")
    model_class, config_class = classes[name]
    try:
        config = config_class(**entry["model_config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"The checkpoint's model config is invalid: {error}") from None
    model = model_class(config)
    model.load_state_dict(entry["model"])
    return model


def tokenizer_from_checkpoint(entry: dict) -> CharTokenizer | None:
    """The tokenizer saved with the run, or None if there is none."""
    data = entry.get("tokenizer")
    if data is None:
        return None
    if data.get("type") != "char":
        raise CheckpointError(f"Unknown tokenizer type {data.get('type')!r} in the checkpoint.")
    return CharTokenizer(data["chars"], unk=data["unk"])


def set_aside_run(out_dir: str | os.PathLike) -> Path | None:
    """Move an earlier run's ``ckpt.pt`` and ``metrics.jsonl`` out of ``out_dir``, losing nothing.

    A fresh run in a folder that holds one (notebook 08 run again without ``resume``) would
    replace its checkpoint. Instead its files go to a sibling folder named after the time of its
    last write, ``<out_dir>-YYYYmmdd-HHMMSS`` (``runs/08_train_gpt-20261129-101500/``), where
    notebooks 09 and 10 and ``lmcourse sample`` can still load it.

    Returns:
        that folder (relative, if ``out_dir`` was), or None when ``out_dir`` holds neither file.
    """
    given = Path(out_dir)
    out_dir = given.resolve()
    files = [out_dir / name for name in ("ckpt.pt", "metrics.jsonl") if (out_dir / name).is_file()]
    if not files:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(max(f.stat().st_mtime for f in files)))
    kept, n = out_dir.with_name(f"{out_dir.name}-{stamp}"), 1
    while kept.exists():  # two runs in one second: -2, -3, ...
        n += 1
        kept = out_dir.with_name(f"{out_dir.name}-{stamp}-{n}")
    kept.mkdir()
    for path in files:
        os.replace(path, kept / path.name)  # a rename: same file system, nothing copied
    return kept if given.name in ("", "..") else given.parent / kept.name
