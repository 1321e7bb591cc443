"""Run nanoGPT's own ``train.py`` on the course's data and recipe, to compare in one sitting.

    git clone https://github.com/karpathy/nanoGPT ~/nanoGPT
    python benchmarks/train_gpt.py --nanogpt ~/nanoGPT --repeats 3

nanoGPT is not a dependency of the course: clone it yourself. This module

1. writes the course's split of the corpus in nanoGPT's format, as its
   ``data/shakespeare_char/prepare.py`` does: ``train.bin`` and ``val.bin`` (token ids as
   uint16) and ``meta.pkl`` (``vocab_size``, ``itos``, ``stoi``);
2. runs its ``train.py`` in a scratch folder (your clone is not written to) with the preset's
   whole recipe as ``--key=value`` overrides, the way its README runs the CPU recipe, and
   ``OMP_NUM_THREADS`` set to the threads the course's run gets;
3. reads back what it prints: ``iter N: loss L, time T ms, ...`` each iteration and ``step N:
   train loss L, val loss V`` at each evaluation, and the process's peak memory.

Machines drift (docs/baselines.md: "run both sides in one sitting when you can"); interleaving
nanoGPT's runs with the course's is what makes the two medians comparable.
"""

from __future__ import annotations

import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: nanoGPT's files that must be in a clone (``configurator.py`` is read from the working folder).
NEEDED = ("train.py", "model.py", "configurator.py")

ITER_LINE = re.compile(r"^iter (\d+): loss ([\d.]+), time ([\d.]+)ms")
EVAL_LINE = re.compile(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)")


def check_clone(path: str | os.PathLike) -> Path:
    """The clone's folder, or a ``SystemExit`` that says what is missing."""
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise SystemExit(f"--nanogpt {path}: no such folder (git clone "
                         "https://github.com/karpathy/nanoGPT, then pass its folder).")  # fmt: skip
    missing = [name for name in NEEDED if not (folder / name).is_file()]
    if missing:
        raise SystemExit(f"--nanogpt {path}: not a nanoGPT clone, it has no "
                         f"{', '.join(missing)}.")  # fmt: skip
    return folder


def write_data(folder: Path, corpus: str) -> int:
    """Write ``corpus`` as nanoGPT's ``train.bin``, ``val.bin`` and ``meta.pkl``; return V.

    The tokens and the 90/10 split are the course's own (``CharTokenizer``,
    ``train_val_split``), so both programs learn from, and are scored on, the same characters.
    """
    from lmcourse.data import load_text, train_val_split
    from lmcourse.tokenizers import CharTokenizer

    text = load_text(corpus)
    tokenizer = CharTokenizer.from_text(text)
    if tokenizer.vocab_size > np.iinfo(np.uint16).max + 1:
        raise SystemExit(f"{corpus}: {tokenizer.vocab_size} characters do not fit in uint16.")
    ids = np.array(tokenizer.encode(text), dtype=np.uint16)
    train_ids, val_ids = train_val_split(ids)
    folder.mkdir(parents=True, exist_ok=True)
    train_ids.tofile(folder / "train.bin")
    val_ids.tofile(folder / "val.bin")
    meta = {
        "vocab_size": tokenizer.vocab_size,
        "itos": dict(enumerate(tokenizer.chars)),
        "stoi": {c: i for i, c in enumerate(tokenizer.chars)},
    }
    with open(folder / "meta.pkl", "wb") as f:
        pickle.dump(meta, f)
    return tokenizer.vocab_size


def recipe_args(preset, steps: int, compile: bool, dataset: str, out_dir: Path) -> list[str]:
    """The preset's model and recipe as nanoGPT's ``--key=value`` overrides.

    Every setting that changes training is given, so nanoGPT's own defaults (GPT-2 small's) and
    its config files play no part. It evaluates at iteration 0 and at the last one, as the
    course's benchmark does at the last; ``lr_decay_iters = max_iters``, as its README's
    recipe has it.
    """
    train = preset.train
    values = dict(
        out_dir=str(out_dir), dataset=dataset, device="cpu", dtype="float32", compile=compile,
        wandb_log=False, always_save_checkpoint=False, eval_interval=steps, log_interval=1,
        eval_iters=train.eval_batches, max_iters=steps, lr_decay_iters=steps,
        n_layer=preset.n_layer, n_head=preset.n_head, n_embd=preset.n_embd,
        dropout=float(preset.dropout), bias=preset.bias, block_size=train.block_size,
        batch_size=train.batch_size, gradient_accumulation_steps=train.grad_accum_steps,
        learning_rate=float(train.learning_rate), decay_lr=train.min_lr is not None,
        min_lr=float(train.min_lr or train.learning_rate), warmup_iters=train.warmup_steps,
        weight_decay=float(train.weight_decay), beta1=float(train.beta1),
        beta2=float(train.beta2), grad_clip=float(train.grad_clip or 0.0),
    )  # fmt: skip
    return [f"--{key}={value}" for key, value in values.items()]


def parse_output(output: str, steps: int, skip: int = 20) -> dict:
    """Median ms per iteration (iterations ``skip`` to ``steps - 1``), last losses, from its log.

    The last iteration is left out as well: its time includes the final evaluation.
    """
    times, evals = {}, {}
    for line in output.splitlines():
        if match := ITER_LINE.match(line):
            times[int(match[1])] = float(match[3])
        elif match := EVAL_LINE.match(line):
            evals[int(match[1])] = (float(match[2]), float(match[3]))
    kept = [ms for step, ms in times.items() if skip <= step < steps] if steps > 2 * skip else []
    kept = kept or [ms for step, ms in times.items() if step < steps]
    if not kept or not evals:
        raise SystemExit("nanoGPT printed no 'iter N: ... time T ms' or 'step N: ... val loss' "
                         f"lines; its output ended with:\n{output[-2000:]}")  # fmt: skip
    train_loss, val_loss = evals[max(evals)]
    return {"ms": statistics.median(kept), "val_loss": val_loss, "train_loss": train_loss}


def run(clone: Path, preset, steps: int, compile: bool, threads: int, corpus: str) -> dict:
    """One run of nanoGPT's ``train.py`` with the preset's recipe; its figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="lmcourse-nanogpt-") as scratch:
        scratch = Path(scratch)
        for name in ("train.py", "configurator.py"):  # model.py is found next to train.py
            (scratch / name).symlink_to(clone / name)
        dataset = "lmcourse_" + re.sub(r"\W", "_", Path(corpus).stem)
        write_data(scratch / "data" / dataset, corpus)
        args = recipe_args(preset, steps, compile, dataset, scratch / "out")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONDONTWRITEBYTECODE="1")
        process = subprocess.Popen([sys.executable, "train.py", *args], cwd=scratch, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)  # fmt: skip
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)  # its own peak memory, not ours
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stdout.close()
    if process.returncode != 0:
        raise SystemExit(f"nanoGPT's train.py failed ({clone}); its output ended with:\n"
                         f"{output[-3000:]}")  # fmt: skip
    result = parse_output(output, steps)
    tokens = preset.train.block_size * preset.train.batch_size * preset.train.grad_accum_steps
    result["tokens_per_s"] = tokens / (result["ms"] / 1000)
    result["peak_mb"] = usage.ru_maxrss / 1024
    return result
