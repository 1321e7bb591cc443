"""Checkpoints: everything a training run needs to stop and go on, in one safe file.

A checkpoint holds the model's weights and config, the optimizer's state, the step reached,
the random states (the batch generator, torch's generator for dropout, CUDA's), the training
config, the history so far, the tokenizer and the sha256 of the data. So ``train(...,
resume=True)`` continues exactly where the run stopped (on the same data, checked), and
``lmcourse sample`` needs nothing but the file.

Safety:

- Written atomically (a temporary file in the same folder, synced to the disk, then a rename):
  a run killed while saving leaves the previous checkpoint intact, never half a file (and the
  next run removes the dead temporary file: ``lmcourse.run_dir``). A full disk is said in words.
- Read with ``torch.load(weights_only=True)``: only tensors, numbers, strings, lists and dicts
  are allowed, so a checkpoint from anywhere can never run code when loaded. Its entries are
  checked as it is read: a damaged or hand-made file is refused then, by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from dataclasses import asdict, fields
from pathlib import Path

import torch
from torch import nn

from lmcourse.files import _default_mode
from lmcourse.run_dir import set_aside_run  # (here too: notebook 08 imports it from here)
from lmcourse.tokenizers import tokenizer_from_dict

__all__ = [
    "CheckpointError",
    "FORMAT",
    "changed_settings",
    "check_compatible",
    "check_resumable",
    "check_same_text",
    "config_differences",
    "data_sha256",
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
    """A checkpoint (or its run's files) that cannot be used here: damaged, or from another run."""


#: The entries of a checkpoint: key -> (the types its value may have, must it be there?).
#: The first three rebuild the model; the others are there when a training run saved them.
_ENTRIES = {
    "model_class": ((str,), True),
    "model_config": ((dict, type(None)), True),  # None: a model without a config dataclass
    "model": ((dict,), True),  # the weights: the model's state_dict
    "tokenizer": ((dict, type(None)), False),
    "step": ((int,), False),
    "optimizer": ((dict,), False),
    "rng": ((dict,), False),
    "history": ((dict,), False),
    "train_config": ((dict,), False),
    "corpus": ((str, type(None)), False),
    "data_sha256": ((str,), False),
    "world_size": ((int,), False),  # processes that trained together (torchrun), 1 without
}

#: What a training run saves besides the model: without them a checkpoint cannot be resumed.
_TRAINING_STATE = ("optimizer", "step", "rng", "history")


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
    ``tokenizer``; dataclasses are stored as dicts, a tokenizer as its ``to_dict()``: a
    ``CharTokenizer``'s characters, a ``BPETokenizer``'s merges, a ``WordTokenizer``'s words).
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
        if key == "tokenizer" and hasattr(value, "to_dict"):
            value = value.to_dict()
        elif hasattr(value, "__dataclass_fields__"):
            value = asdict(value)
        entry[key] = value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.chmod(tmp, _default_mode())  # mkstemp makes it private (0600); files usually not
            torch.save(entry, f)
            f.flush()
            os.fsync(f.fileno())  # on the disk before the rename: a power cut keeps one whole file
        os.replace(tmp, path)  # atomic: readers see the old file or the new one
    except BaseException as error:
        # (torch reports a full disk as a RuntimeError; measure while the temporary file is there)
        failure = _save_failure(path, error) if isinstance(error, OSError | RuntimeError) else None
        Path(tmp).unlink(missing_ok=True)
        if failure is not None:
            raise failure from error  # (the cause stays attached, for a developer)
        raise
    _sync_folder(path.parent)
    return path


def _save_failure(path: Path, error: Exception) -> OSError:
    """A one-line ``OSError`` for a checkpoint that could not be written (a full disk...)."""
    kept = "the previous one is kept" if path.exists() else "nothing was written"
    free = shutil.disk_usage(path.parent).free
    reason = (error.strerror or str(error)) if isinstance(error, OSError) else "the write failed"
    return OSError(
        f"Could not write the checkpoint {path} ({reason}); {kept}. "
        f"{free / 1e6:,.1f} MB are free on its disk: make room, then resume."
    )


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; elsewhere, and where it fails, a no-op)."""
    with contextlib.suppress(OSError):  # some systems cannot sync a folder: the rename is done
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by ``save_checkpoint``, safely (``weights_only=True``).

    Its entries are checked here, so that a damaged or hand-made file fails now, with its name,
    and not later deep inside the code that uses it.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is truncated, corrupt, not an lmcourse checkpoint, or misses
            an entry (or holds one of the wrong type, or a tokenizer that does not fit the model).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at '{path}'.")
    try:
        entry = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # damaged bytes can make the unpickler fail in any way
        raise CheckpointError(
            f"'{path}' is not a readable checkpoint: it is truncated or corrupt (a copy cut short,"
            " a failed download?), not written by torch.save, or holds objects that only code"
            f" could rebuild, which are never loaded. (torch.load: {_load_failure(error)})"
        ) from None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT:
        found = entry.get("format") if isinstance(entry, dict) else type(entry).__name__
        raise CheckpointError(f"'{path}' is not an lmcourse checkpoint ({FORMAT}); found {found}.")
    problem = _entry_problem(entry)
    if problem is not None:
        raise CheckpointError(f"'{path}' is not a usable checkpoint: {problem}.")
    return entry


#: Words of the lines of torch.load's message that give advice (to load unsafely), not a reason.
_TORCH_ADVICE = ("weights_only", "Weights only load failed", "Alternatively", "Check the docum")


def _load_failure(error: Exception) -> str:
    """Why ``torch.load`` failed, in one line, without its advice to load the file unsafely.

    For a file it refuses, torch suggests ``weights_only=False``, which lets the file run any
    code: wrong for a damaged file, and unsafe for one from elsewhere. Its reason is kept.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    lines = [line for line in lines if not any(words in line for words in _TORCH_ADVICE)]
    reason = lines[0].removeprefix("WeightsUnpickler error:").strip() if lines else ""
    reason = reason.split(" Please use")[0]  # (which is how to allow it: the advice again)
    return type(error).__name__ + (f": {reason}" if reason else "")


def _entry_problem(entry: dict) -> str | None:
    """What is wrong with a checkpoint's entries, as the end of a sentence; None if nothing."""
    for key, (types, required) in _ENTRIES.items():
        if key not in entry:
            if required:
                return f"it has no {key!r} entry"
            continue
        if not isinstance(entry[key], types):
            names = " or ".join(_type_name(t) for t in types)
            return f"its {key!r} entry is of type {_type_name(type(entry[key]))}, not {names}"
    if not all(isinstance(value, torch.Tensor) for value in entry["model"].values()):
        return "its 'model' entry (the weights) holds values that are not tensors"
    if entry.get("tokenizer") is None:
        return None
    try:
        tokenizer = tokenizer_from_dict(entry["tokenizer"], "its tokenizer")
    except (TypeError, ValueError) as error:  # an entry of two characters, an unk not in chars
        return str(error).rstrip(".")
    vocab_size = (entry["model_config"] or {}).get("vocab_size")
    if vocab_size is not None and tokenizer.vocab_size != vocab_size:
        return (
            f"its tokenizer has {tokenizer.vocab_size} tokens but its model's vocab_size "
            f"is {vocab_size}: the model's token ids would not all become text"
        )
    return None


def _type_name(kind: type) -> str:
    return "None" if kind is type(None) else kind.__name__


def check_resumable(path: str | os.PathLike, entry: dict) -> None:
    """Raise ``CheckpointError`` unless ``entry`` holds a training run's state, not just a model.

    An exported model (``lmcourse/models/*.pt``, ``export_pretrained``) keeps only the weights,
    config and tokenizer: a run needs the optimizer's state, the step and the random states too.
    """
    missing = [key for key in _TRAINING_STATE if key not in entry]
    if missing:
        raise CheckpointError(
            f"'{path}' holds a model's weights only (an exported model, such as "
            f"lmcourse/models/shakespeare-char.pt), not the state of a training run (it has no "
            f"{', '.join(missing)}), so it cannot be resumed. Start a new run in another out_dir;"
            " to train these weights further, load them (lmcourse.pretrained.load_model) and pass"
            " the model to lmcourse.train.train."
        )


def data_sha256(*parts: torch.Tensor) -> str:
    """The sha256 of token ids (as int64, ``parts`` one after the other): a run's data, by content.

    A resumed run compares it with the checkpoint's, so the same text moved to another folder
    still resumes, and another text under the same name does not.
    """
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    return digest.hexdigest()


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


def check_same_text(path, entry: dict, tokenizer, corpus: str | None,
                    data_sha: str | None) -> str | None:  # fmt: skip
    """Refuse to resume ``entry`` on other characters or other data; return a note, or None.

    The data is known by the sha256 of its token ids (``data_sha256``): the same text moved to
    another folder resumes (the note says so), another text under the same name does not. An
    older checkpoint without it is known by its corpus name (a path) alone.
    """
    saved = tokenizer_from_checkpoint(entry)
    if None not in (saved, tokenizer) and _vocabulary(saved) != _vocabulary(tokenizer):
        chars = all(hasattr(t, "chars") for t in (saved, tokenizer))  # two CharTokenizers
        saved, now = (f"{t.vocab_size}" if chars else repr(t) for t in (saved, tokenizer))
        raise CheckpointError(
            f"{path} was trained on other {'characters' if chars else 'tokens'} ({saved}) than "
            f"this run's {'text' if chars else 'tokenizer'} gives ({now}): its weights would "
            "decode the wrong ones. Resume with the same text, or choose another out_dir."
        )
    saved_corpus, saved_sha = entry.get("corpus"), entry.get("data_sha256")
    renamed = None not in (saved_corpus, corpus) and saved_corpus != corpus
    if saved_sha is None and renamed:
        raise CheckpointError(f"{path} was trained on {saved_corpus!r}, this run on {corpus!r}: "
                              "resume with the same text, or choose another out_dir to start a "
                              "new run.")  # fmt: skip
    if saved_sha not in (None, data_sha):
        raise CheckpointError(
            f"{path} was trained on {saved_corpus or 'a text'!r} (sha256 of its token ids "
            f"{saved_sha[:12]}...), this run on {corpus or 'another'!r} ({data_sha[:12]}...): "
            "other data. Resume with the same text, or choose another out_dir to start a new run."
        )
    if saved_sha is not None and renamed:
        return (f"{path} was trained on {saved_corpus!r}; {corpus!r} holds the same data (the "
                "same sha256), so the run resumes.")  # fmt: skip
    return None


def changed_settings(saved: dict, config, saved_world: int = 1, world: int = 1) -> list[str]:
    """The settings of ``config`` (a ``TrainConfig``) that differ from the saved ones and change
    what the steps compute, each as ``"name (was a, now b)"``.

    Evaluating, saving, the device and compiling change no step's result (bit for bit, within
    the rounding of a device); a setting the checkpoint lacks (an older version) counts as kept.
    ``max_steps`` counts only with ``min_lr``: the cosine then stretches to the new end, so the
    learning rate jumps up (see notebook 08's exercise); without it a longer run is the same.
    Under torchrun ``batch_size`` is per process: a step reads ``batch_size`` × processes
    windows (``saved_world`` then, ``world`` now), and only that total counts, so 2 processes
    of 4 resume as 1 of 8 (``torchrun --nproc_per_node`` may change with ``--batch-size``).
    """
    free = {"eval_interval", "eval_batches", "checkpoint_interval", "device", "compile"}
    if config.min_lr is None:  # a constant rate after warmup: max_steps changes no step
        free.add("max_steps")
    changed = []
    for name, value in asdict(config).items():
        before = saved.get(name, value)
        if name == "batch_size" and before * saved_world != value * world:  # windows a step
            changed.append(f"{name} (was {_per_process(before, saved_world)}, now "
                           f"{_per_process(value, world)})")  # fmt: skip
        elif name not in free | {"batch_size"} and before != value:
            changed.append(f"{name} (was {before!r}, now {value!r})")
    return changed


def _per_process(batch_size: int, world: int) -> str:
    """``8``, or ``4 on each of 2 processes, 8 in all``: the windows of one step."""
    if world == 1:
        return repr(batch_size)
    return f"{batch_size} on each of {world} processes, {batch_size * world} in all"


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


def _vocabulary(tokenizer) -> dict:
    """What fixes a tokenizer's ids: all of its ``to_dict()`` but ``unk`` (one of its tokens)."""
    return {**tokenizer.to_dict(), "unk": None}


def tokenizer_from_checkpoint(entry: dict):
    """The tokenizer saved with the run (char, word or BPE), or None if there is none."""
    data = entry.get("tokenizer")
    if data is None:
        return None
    try:
        return tokenizer_from_dict(data, "its tokenizer")
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"The checkpoint cannot be used: {error}") from None
