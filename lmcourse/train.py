"""One training loop for every neural language model of the course, from the bigram to GPT.

Any model with the interface ``forward(idx, targets) -> (logits, loss)`` trains the same way:
sample a batch of windows (``lmcourse.data.get_batch``), compute the loss, backpropagate, clip
the gradient, take an AdamW step at the learning rate of the schedule (``lr_at``: linear warmup,
then cosine decay); every ``eval_interval`` steps estimate the loss on the training and
validation data. The result is a ``History`` that ``lmcourse.viz.plot_history`` draws
(``lmcourse.supervised.train_rows`` is its short cousin for whole examples, a prompt and its
answer).

With ``out_dir`` the run also writes ``metrics.jsonl`` (one JSON object per step and per
evaluation) and a checkpoint (``lmcourse.checkpoint``) that ``resume=True`` continues from, bit
for bit. Under ``torchrun`` the same loop trains with DistributedDataParallel
(``lmcourse.distributed``). ``python -m lmcourse.train --preset cpu`` runs it from a shell.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.random import fork_rng

from lmcourse import distributed
from lmcourse.data import corpus_label, get_batch
from lmcourse.lm import eval_mode
from lmcourse.progress import tqdm
from lmcourse.regularization import decay_parameters
from lmcourse.run_dir import check_out_dir, claim
from lmcourse.schedule import lr_at, warmup_note
from lmcourse.utils import get_device, is_int, is_real

__all__ = ["History", "TrainConfig", "configure_optimizer", "estimate_loss", "lr_at", "train",
           "train_step", "warmup_note"]  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    """The settings of one training run (the model's own size is in its config).

    Args:
        max_steps: number of optimizer steps.
        batch_size: B, windows per micro-batch (per process under DDP).
        block_size: T, tokens per window; each step learns from B·T·grad_accum_steps predictions.
        learning_rate: AdamW's peak step size.
        min_lr: None keeps ``learning_rate`` after the warmup; a number decays it along a cosine
            to ``min_lr`` at ``max_steps``.
        warmup_steps: the learning rate grows linearly from lr/warmup_steps to lr first.
        weight_decay: AdamW's decoupled weight decay, for weight matrices and embeddings only.
        beta1, beta2: AdamW's decay rates of the gradient's mean and of its square.
        grad_clip: rescale the gradient when its norm exceeds this (None: never clip).
        grad_accum_steps: micro-batches whose gradients add up to one step (a larger batch in
            the same memory).
        eval_interval: estimate the train and validation loss every this many steps.
        eval_batches: random batches per loss estimate.
        checkpoint_interval: with ``out_dir``, save a checkpoint every this many steps (None:
            at every evaluation); one is always saved after the last step.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``... (None: the best available, ``get_device``).
        mixed_precision: on CUDA, compute in bfloat16 under autocast (weights stay float32).
        compile: ``torch.compile`` the model (falls back to eager mode, with a warning, where
            compiling fails).
        seed: seeds the training batches, the evaluation batches and dropout.
    """

    max_steps: int = 1000
    batch_size: int = 32
    block_size: int = 64
    learning_rate: float = 1e-3
    min_lr: float | None = None
    warmup_steps: int = 0
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    grad_clip: float | None = 1.0
    grad_accum_steps: int = 1
    eval_interval: int = 100
    eval_batches: int = 20
    checkpoint_interval: int | None = None
    device: str | None = None
    mixed_precision: bool = True
    compile: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("max_steps", "batch_size", "block_size", "eval_interval", "eval_batches")
        for name in (*positive, "grad_accum_steps"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
        lr, min_lr, decay, clip = self.learning_rate, self.min_lr, self.weight_decay, self.grad_clip
        every, seed = self.checkpoint_interval, self.seed
        rules = {  # field: (is it valid?, what it must be)
            "learning_rate": (is_real(lr) and 0 < lr < math.inf, "a number > 0"),
            "min_lr": (min_lr is None or (is_real(min_lr) and 0 <= min_lr <= lr), "None or 0..lr"),
            "warmup_steps": (is_int(self.warmup_steps) and self.warmup_steps >= 0, "an int >= 0"),
            "weight_decay": (is_real(decay) and 0 <= decay < math.inf, "a number >= 0"),
            "beta1": (is_real(self.beta1) and 0 <= self.beta1 < 1, "a number in [0, 1)"),
            "beta2": (is_real(self.beta2) and 0 <= self.beta2 < 1, "a number in [0, 1)"),
            "grad_clip": (clip is None or (is_real(clip) and 0 < clip < math.inf), "None or > 0"),
            "checkpoint_interval": (every is None or (is_int(every) and every >= 1), "None, >= 1"),
            "device": (self.device is None or isinstance(self.device, str), "None or a string"),
            "mixed_precision": (isinstance(self.mixed_precision, bool), "True or False"),
            "compile": (isinstance(self.compile, bool), "True or False"),
            "seed": (is_int(seed) and 0 <= seed < 2**63, "an integer from 0 to 2**63 - 1"),
        }
        for name, (valid, rule) in rules.items():
            if not valid:
                raise ValueError(f"{name} must be {rule}, got {getattr(self, name)!r}.")


@dataclass
class History:
    """What happened during ``train``: losses in nats per token, one entry per step or eval.

    Attributes:
        steps: the steps after which the loss was estimated (0 = before training, the last
            one = ``max_steps``).
        train_loss, val_loss: the estimates at those steps.
        step_loss: the loss of each step's training batch (noisy: one batch each).
        grad_norm: the gradient norm of each step, before clipping.
        lr: the learning rate of each step.
        step_ms: the wall-clock milliseconds of each training step (evaluation excluded).
        seconds: wall-clock time of the whole run, evaluation included.
        tokens_per_second: training speed, tokens of all processes per second, at the median
            step (so the first step, which compiles a compiled model, does not count).
        mfu: model FLOPs utilisation on a GPU of known peak (``lmcourse.trainer.estimate_mfu``).
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    tokens_per_second: float = 0.0
    mfu: float | None = None

    def summary(self) -> str:
        """One line: steps, time, speed and the last loss estimates, in nats and in bits.

        Example, notebook 08's run: ``2,000 steps in 96 s (18,674 tokens/s); loss in nats per
        token: train 1.778, validation 1.891 (2.729 bits)``
        """
        parts = [f"{len(self.step_loss):,} steps in {self.seconds:.0f} s"]
        if self.tokens_per_second:
            parts.append(f" ({self.tokens_per_second:,.0f} tokens/s)")
        if self.steps:
            train, val = self.train_loss[-1], self.val_loss[-1]
            parts.append(f"; loss in nats per token: train {train:.3f}, validation {val:.3f} "
                         f"({val / math.log(2):.3f} bits)")  # fmt: skip
        return "".join(parts)


def configure_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; weight decay on matrices only, not on biases.

    AdamW (Loshchilov & Hutter, 2019) updates each parameter w with gradient g at step t::

        m ← β1·m + (1 − β1)·g        m̂ = m / (1 − β1ᵗ)      (the gradient's running mean)
        v ← β2·v + (1 − β2)·g²       v̂ = v / (1 − β2ᵗ)      (and its running mean square)
        w ← w − lr · (m̂ / (√v̂ + ε) + λ·w)                  λ = weight_decay

    The decay λ·w is *decoupled*: it is not added to g, so Adam's 1/√v̂ does not rescale it, and
    it pulls every weight towards 0 by the same fraction. Biases and LayerNorm gains (1-D
    parameters) only shift or scale a unit; shrinking them helps nothing, so their λ is 0.
    The fused implementation (CPU and CUDA) updates all parameters in a few kernels instead of
    a dozen small operations per parameter tensor: on the CPU preset it makes a step about
    10% faster (``benchmarks/train_gpt.py``).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": decay_parameters(model), "weight_decay": config.weight_decay},  # 2-D and up
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = bool(params) and params[0].device.type in ("cpu", "cuda")
    betas = (config.beta1, config.beta2)
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=betas, fused=fused or None)


def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
    grad_clip: float | None = None,
) -> tuple[float, float]:  # fmt: skip
    """One step of gradient descent: forward, backward, clip, update.

    Clipping rescales the whole gradient g to ``g · grad_clip / ‖g‖`` when ``‖g‖ > grad_clip``
    (the direction is kept), so one unlucky batch cannot throw the weights far away.

    ``x`` and ``y`` may also be lists of micro-batches: their gradients add up (each loss
    divided by their number), so one step sees them all: gradient accumulation.

    Returns:
        the (mean) loss and the gradient norm ``‖g‖`` before clipping, as floats.
    """
    xs, ys = (x, y) if isinstance(x, list | tuple) else ([x], [y])
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for i, (xb, yb) in enumerate(zip(xs, ys)):
        with distributed.sync_gradients(model, last=i == len(xs) - 1):  # DDP: once per step
            _, loss = model(xb, yb)
            (loss / len(xs)).backward()
        total += loss.item() / len(xs)
    max_norm = math.inf if grad_clip is None else grad_clip  # inf: measure the norm, never clip
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return total, norm.item()


def estimate_loss(
    model: nn.Module,
    data: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> float:
    """Mean loss over ``config.eval_batches`` random batches of ``data``, in ``eval_mode``.

    A quick estimate for monitoring; ``lmcourse.lm.evaluate`` scores every token exactly.
    """
    losses = []
    with eval_mode(model):
        for _ in range(config.eval_batches):
            x, y = get_batch(data, config.batch_size, config.block_size, generator, device)
            losses.append(model(x, y)[1].item())
    return sum(losses) / len(losses)


def _check_model(model: nn.Module, config: TrainConfig) -> None:
    """Refuse a model with nothing to train, or whose context is shorter than the windows."""
    context = getattr(getattr(model, "config", None), "block_size", None)
    if context is not None and config.block_size > context:
        raise ValueError(f"block_size {config.block_size} is more than the model's context "
                         f"({context}): use block_size={context} or a larger model.")  # fmt: skip
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(
            f"{type(model).__name__} has no trainable parameters, so there is nothing to train. "
            "A count model (NGramModule) is fitted by counting: score it with "
            "lmcourse.lm.evaluate instead."
        )


def _check_tokenizer(model: nn.Module, tokenizer) -> None:
    """Refuse a tokenizer a checkpoint cannot keep, or of another size than the model's."""
    if tokenizer is not None and not callable(getattr(tokenizer, "to_dict", None)):
        raise TypeError(f"tokenizer must be a CharTokenizer, WordTokenizer or BPETokenizer "
                        f"(kept as its to_dict()), got {type(tokenizer).__name__}.")  # fmt: skip
    model_size = getattr(getattr(model, "config", None), "vocab_size", None)
    size = getattr(tokenizer, "vocab_size", None)
    if None not in (model_size, size) and size != model_size:
        raise ValueError(f"The tokenizer has {size} tokens but the model's vocab_size is "
                         f"{model_size}: the model's token ids would not all become text. Build "
                         "the model with vocab_size=tokenizer.vocab_size.")  # fmt: skip


def _rng_devices(device: torch.device) -> list[int]:
    """The CUDA devices whose random state ``fork_rng`` must save (none on the CPU)."""
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def train(
    model: nn.Module,
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator | None = None,
    progress: bool = True,
    out_dir: str | Path | None = None,
    resume: bool = False,
    tokenizer=None,
    corpus: str | None = None,
    on_evaluate: Callable[[History], None] | None = None,
    early_stopping=None,
) -> History:
    """Train ``model`` in place with AdamW on random windows of ``train_data``.

    The losses are estimated before the first step, every ``eval_interval`` steps and after
    the last one, each time on the same ``eval_batches`` batches of each split, drawn from a
    generator of their own: evaluating more or less often never changes the training batches.

    A warmup longer than the run is allowed, with a warning (``warmup_note``).

    Reproducible: the same seed, initial weights and data give the same ``History`` losses.
    Dropout draws from torch's global generator, so ``train`` seeds it with ``config.seed``
    inside ``torch.random.fork_rng``, which gives the caller's random state back afterwards.

    Args:
        model: any LM with the ``forward(idx, targets) -> (logits, loss)`` interface; it is
            moved to ``config.device``.
        train_data, val_data: 1-D tensors of token ids.
        config: a ``TrainConfig``.
        generator: draws the training batches (default: a generator seeded with ``config.seed``).
        progress: show a progress bar with the loss and the speed in tokens per second.
        out_dir: write ``metrics.jsonl`` and the checkpoint ``ckpt.pt`` there.
        resume: continue from ``out_dir/ckpt.pt`` if it exists: the result equals that of an
            uninterrupted run, bit for bit on the CPU. A warning lists the training settings
            that differ from the checkpoint's, which make the run differ from such a one.
        tokenizer: saved in the checkpoint, so that ``lmcourse sample`` can decode.
        corpus: the name or path of the training text, saved in the checkpoint for whoever
            loads it (``lmcourse.pretrained.load_model`` reports it).
        on_evaluate: called with the ``History`` after each estimate of the losses, e.g.
            ``lmcourse.liveplot.LiveLossPlot()``, which redraws the curves in a notebook.
        early_stopping: an ``lmcourse.regularization.EarlyStopping``, told every validation
            loss; training ends (saved, like a last step) when it says stop. The model and the
            checkpoint keep the last step's weights: ``early_stopping.restore(model)`` puts the
            best ones back. A resume starts it afresh (it does not see the losses before).

    Raises:
        FileExistsError: ``out_dir`` already holds a checkpoint and ``resume`` is False (a new
            run would replace it), or ``out_dir`` is a file. OSError: ``out_dir`` cannot be
            created, or a checkpoint cannot be written (a full disk).
        ValueError: a tokenizer whose vocab_size is not the model's; ``CheckpointError`` (a
            ``ValueError``), a checkpoint that cannot be resumed here (another model, text or
            characters, a damaged file or an exported model).
        lmcourse.trainer.TrainingDiverged: a ``ValueError``, when a loss or the gradient norm
            becomes nan or infinite (the learning rate is too high); the last checkpoint, from
            before, is kept.
        lmcourse.trainer.TrainingInterrupted: at Ctrl-C (a notebook's "interrupt the kernel") or
            SIGTERM, once the step in progress has finished and been saved to ``out_dir``; call
            again with ``resume=True`` to go on. A second Ctrl-C stops at once.
    """
    from lmcourse.trainer import Run  # the loop's state; imports train, so imported here

    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}.")
    if on_evaluate is not None and not callable(on_evaluate):
        raise TypeError(f"on_evaluate must be callable, got {on_evaluate!r}.")
    if early_stopping is not None and not callable(getattr(early_stopping, "update", None)):
        raise TypeError(f"early_stopping must be an EarlyStopping, got {early_stopping!r}.")
    stopped = getattr(early_stopping, "stopped_step", None)
    if stopped is not None:
        raise ValueError(f"this EarlyStopping already stopped a run (at step {stopped}): make a "
                         "new one for each run.")  # fmt: skip
    _check_model(model, config)
    _check_tokenizer(model, tokenizer)
    device = get_device(config.device)  # (a missing GPU is named before out_dir is made)
    check_out_dir(out_dir, resume)
    note = warmup_note(config)
    if note and distributed.is_main_process():
        warnings.warn(note, stacklevel=2)  # at the line that called train()
    model.to(device)
    if generator is None:
        generator = torch.Generator().manual_seed(config.seed)
    owner = out_dir is not None and distributed.is_main_process()  # a 2nd run there: refused
    with claim(out_dir) if owner else nullcontext(), fork_rng(devices=_rng_devices(device)):
        torch.manual_seed(config.seed)  # for dropout, which takes no generator
        corpus = None if corpus is None else corpus_label(corpus)  # a file: its full path
        run = Run(model, train_data, val_data, config, generator, device, out_dir, tokenizer,
                  corpus)  # fmt: skip
        if resume:
            run.resume()
        run.on_evaluate, run.early_stopping = on_evaluate, early_stopping
        return run.loop(progress, tqdm)


if __name__ == "__main__":  # python -m lmcourse.train ... (and torchrun -m lmcourse.train ...)
    from lmcourse.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
