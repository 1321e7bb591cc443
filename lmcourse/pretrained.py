"""Models shipped inside the package, so that sampling and looking inside need no training first.

    from lmcourse import load_pretrained
    model, tokenizer, info = load_pretrained("shakespeare-char")

    from lmcourse.pretrained import load_model
    model, tokenizer, info = load_model("runs/08_train_gpt/ckpt.pt")   # your own, or a name

Each model is two files in ``lmcourse/models/``: ``NAME.pt`` (the weights and config, a
weights-only checkpoint) and ``NAME.json`` (how it was made: the config, the sha256 of the
training text, the validation loss, the one command that reproduces it). They are written by::

    python -m lmcourse.pretrained CHECKPOINT NAME --command "the command that trained it"
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from lmcourse.checkpoint import (
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    tokenizer_from_checkpoint,
)
from lmcourse.data import load_text
from lmcourse.files import write_text_atomically
from lmcourse.lm import evaluate
from lmcourse.tokenizers import CharTokenizer
from lmcourse.utils import get_device

__all__ = ["MODELS_DIR", "Pretrained", "available", "export_pretrained", "load_model",
           "load_pretrained"]  # fmt: skip

#: Where the shipped models live, inside the installed package.
MODELS_DIR = Path(__file__).resolve().parent / "models"


class Pretrained(NamedTuple):
    """What ``load_pretrained`` returns: unpack it as ``model, tokenizer, info = ...``."""

    model: nn.Module
    tokenizer: CharTokenizer  # or the BPE or word tokenizer a checkpoint of yours was trained with
    info: dict


def available() -> list[str]:
    """The names of the shipped models."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.json"))


def load_pretrained(name: str = "shakespeare-char", device: str | None = None) -> Pretrained:
    """A shipped model (in eval mode), its tokenizer and its metadata.

    Args:
        name: one of ``available()``.
        device: where to put the model (default: the CPU).
    """
    if name not in available():
        hint = " For a checkpoint file, use load_model(path)." if _is_path(name) else ""
        raise ValueError(f"No shipped model {name!r}; available: {available()}.{hint}")
    entry = load_checkpoint(MODELS_DIR / f"{name}.pt")
    info = json.loads((MODELS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    model = model_from_checkpoint(entry).to(_device(device)).eval()
    return Pretrained(model, tokenizer_from_checkpoint(entry), info)


def _is_path(name) -> bool:
    """Whether ``name`` is, or looks like, the path of a file rather than a shipped name."""
    if not isinstance(name, str):
        return isinstance(name, Path)
    exists = name != "" and Path(name).exists()  # (Path("") is the current folder: it exists)
    return "/" in name or os.sep in name or name.endswith(".pt") or exists


def _device(device: str | torch.device | None) -> torch.device:
    """``device``, checked (a missing GPU is named, not a torch error); the CPU by default."""
    return torch.device("cpu") if device is None else get_device(device)


def load_model(
    source: str | Path = "shakespeare-char", device: str | None = None, characters: bool = False
) -> Pretrained:
    """A shipped model by name, or the model of a training checkpoint: model, tokenizer, info.

    Args:
        source: a name of ``available()``; or the path of a checkpoint written by training
            (``lmcourse train``, ``train(out_dir=...)``, notebook 08), or the run's folder that
            holds it as ``ckpt.pt``.
        device: where to put the model (default: the CPU).
        characters: refuse a model over other tokens than characters (BPE, words), for code
            that shows one character per token (notebooks 09 and 10).

    For a checkpoint, ``info`` has the keys of a shipped model's where the checkpoint knows
    them: ``val_loss_nats`` is the run's last estimate (on ``eval_batches`` batches, not every
    token; per token, so per character only for a character model: ``val_bits_per_char`` is
    None for the others), ``corpus`` is None for a checkpoint that did not record it, and
    ``command`` is None.

    Raises:
        FileNotFoundError: no such file (the message lists the shipped names).
        CheckpointError: not a checkpoint, a damaged one, weights that do not fit its config, or
            no tokenizer to turn token ids into text.
    """
    if not isinstance(source, str | Path):
        raise TypeError(
            f"source must be a shipped name, a checkpoint file or a run folder, got {source!r}."
        )
    if source in available() and not Path(source).exists():
        return load_pretrained(str(source), device)
    path = Path(source)
    path = path / "ckpt.pt" if path.is_dir() else path
    try:
        entry = load_checkpoint(path)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{error} A shipped model's name works too: "
                                f"{', '.join(available())}.") from None  # fmt: skip
    try:
        model = model_from_checkpoint(entry)
    except RuntimeError as error:  # load_state_dict: the weights do not fit the config
        raise CheckpointError(f"'{path}' holds weights that do not fit its model config: "
                              f"{error}") from None  # fmt: skip
    tokenizer = tokenizer_from_checkpoint(entry)
    if tokenizer is None:
        raise CheckpointError(
            f"'{path}' holds no tokenizer, so its token ids cannot become text "
            "(lmcourse train saves one, as does train(tokenizer=...))."
        )
    if characters and not isinstance(tokenizer, CharTokenizer):
        raise CheckpointError(
            f"'{path}' holds a model over other tokens than characters ({tokenizer!r}); this "
            "needs a character model, as it shows one character per token. `lmcourse sample "
            f"--checkpoint {path}` samples from any model, and notebook 16 scores it."
        )
    per_char = isinstance(tokenizer, CharTokenizer)
    history = entry.get("history") or {}
    val_loss = history["val_loss"][-1] if history.get("val_loss") else None
    info = {
        "name": str(path),
        "model_class": entry["model_class"],
        "model_config": entry["model_config"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "corpus": entry.get("corpus"),
        "val_loss_nats": val_loss,
        "val_bits_per_char": None if val_loss is None or not per_char else val_loss / math.log(2),
        "eval": "the run's last estimate",
        "steps": entry.get("step"),
        "train_seconds": history.get("seconds", 0.0),
        "train_config": entry.get("train_config"),
        "command": None,
    }
    return Pretrained(model.to(_device(device)).eval(), tokenizer, info)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def export_pretrained(checkpoint: str | Path, name: str, command: str) -> dict:
    """Copy the model of a training checkpoint into the package, with its metadata.

    Only the weights, config and tokenizer are kept (no optimizer: a third of the size). The
    validation loss is measured again here, exactly (``lmcourse.lm.evaluate``, every token of
    the validation split once, windows of the model's context), not taken from the run's
    estimates.
    """
    entry = load_checkpoint(checkpoint)
    model, tokenizer = model_from_checkpoint(entry).eval(), tokenizer_from_checkpoint(entry)
    corpus = "tiny-shakespeare"
    text = load_text(corpus)
    data = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    split = int(len(data) * 0.9)  # lmcourse.data.train_val_split's default
    block_size = model.config.block_size
    val_loss = evaluate(model, data[split:], block_size=block_size)
    history = entry.get("history", {})
    info = {
        "name": name,
        "model_class": entry["model_class"],
        "model_config": entry["model_config"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "corpus": corpus,
        "corpus_sha256": _sha256(text),
        "split": "first 90% train, last 10% validation",
        "val_loss_nats": round(val_loss, 4),
        "val_bits_per_char": round(val_loss / torch.log(torch.tensor(2.0)).item(), 4),
        "eval": f"lmcourse.lm.evaluate, windows of {block_size} characters",
        "steps": entry.get("step"),
        "train_seconds": round(history.get("seconds", 0.0), 1),
        "train_config": entry.get("train_config"),
        "torch": torch.__version__,
        "command": command,
        "export_command": f"python -m lmcourse.pretrained {checkpoint} {name} --command "
        f"{json.dumps(command)}",
    }
    MODELS_DIR.mkdir(exist_ok=True)
    save_checkpoint(MODELS_DIR / f"{name}.pt", model, tokenizer=tokenizer)
    write_text_atomically(MODELS_DIR / f"{name}.json", json.dumps(info, indent=2) + "\n")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lmcourse.pretrained", description=__doc__)
    parser.add_argument("checkpoint", help="a checkpoint written by training (ckpt.pt)")
    parser.add_argument("name", help="the name to ship it under, e.g. shakespeare-char")
    parser.add_argument("--command", required=True, help="the command that trained it")
    args = parser.parse_args(argv)
    try:
        info = export_pretrained(args.checkpoint, args.name, args.command)
    except (OSError, ValueError) as error:  # a missing or damaged checkpoint: CheckpointError
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
