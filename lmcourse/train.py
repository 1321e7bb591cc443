"""One training loop for every neural language model of the course.

Any model with the interface ``forward(idx, targets) -> (logits, loss)`` trains the same way:
sample a batch of windows (``lmcourse.data.get_batch``), compute the loss, backpropagate, clip
the gradient, take an AdamW step; every ``eval_interval`` steps estimate the loss on the
training and validation data. The result is a ``History`` that ``lmcourse.viz.plot_history``
draws.

The loop is built from small public pieces (``configure_optimizer``, ``train_step``,
``estimate_loss``) so that notebooks can show each one, and so that later additions
(checkpoints, learning-rate schedules, several GPUs) are additions, not rewrites.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from lmcourse.data import get_batch
from lmcourse.lm import eval_mode
from lmcourse.utils import get_device, is_int, is_real

__all__ = [
    "History",
    "TrainConfig",
    "configure_optimizer",
    "estimate_loss",
    "train",
    "train_step",
]


@dataclass(frozen=True)
class TrainConfig:
    """The settings of one training run (the model's own size is in its config).

    Args:
        max_steps: number of optimizer steps.
        batch_size: B, windows per step.
        block_size: T, tokens per window; each step learns from B·T predictions.
        learning_rate: AdamW's step size.
        weight_decay: AdamW's decoupled weight decay, for weight matrices and embeddings only
            (never biases).
        grad_clip: rescale the gradient when its norm exceeds this (None: never clip).
        eval_interval: estimate the train and validation loss every this many steps.
        eval_batches: random batches per loss estimate.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``... (None: the best available, ``get_device``).
        seed: seeds the training batches, the evaluation batches and dropout.
    """

    max_steps: int = 1000
    batch_size: int = 32
    block_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0
    eval_interval: int = 100
    eval_batches: int = 20
    device: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "block_size", "eval_interval", "eval_batches"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
        lr, decay, clip = self.learning_rate, self.weight_decay, self.grad_clip
        rules = {  # field: (is it valid?, what it must be)
            "learning_rate": (is_real(lr) and 0 < lr < math.inf, "a number > 0"),
            "weight_decay": (is_real(decay) and 0 <= decay < math.inf, "a number >= 0"),
            "grad_clip": (clip is None or (is_real(clip) and 0 < clip < math.inf), "None or > 0"),
            "device": (self.device is None or isinstance(self.device, str), "None or a string"),
            "seed": (is_int(self.seed) and self.seed >= 0, "an integer >= 0"),
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
        seconds: wall-clock time of the whole run, evaluation included.
        tokens_per_second: training speed, B·T·steps / time spent in training steps.
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: float = 0.0
    tokens_per_second: float = 0.0


def configure_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; weight decay on matrices only, not on biases.

    Decay pulls weights towards 0, ``w ← w - lr · weight_decay · w`` at every step. Biases (and
    other 1-D parameters) only shift a unit's output, and shrinking them helps nothing.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    grad_clip: float | None = None,
) -> tuple[float, float]:
    """One step of gradient descent: forward, backward, clip, update.

    Clipping rescales the whole gradient g to ``g · grad_clip / ‖g‖`` when ``‖g‖ > grad_clip``
    (the direction is kept), so one unlucky batch cannot throw the weights far away.

    Returns:
        the batch's loss and the gradient norm ``‖g‖`` before clipping, as floats.
    """
    _, loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    max_norm = math.inf if grad_clip is None else grad_clip  # inf: measure the norm, never clip
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss.item(), norm.item()


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


def _check_trainable(model: nn.Module) -> None:
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(
            f"{type(model).__name__} has no trainable parameters, so there is nothing to train. "
            "A count model (NGramModule) is fitted by counting: score it with "
            "lmcourse.lm.evaluate instead."
        )


def _record_eval(
    model: nn.Module,
    history: History,
    step: int,
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    config: TrainConfig,
    device: torch.device,
) -> None:
    """Estimate both losses on the same batches as at every other step (a fixed eval set)."""
    generator = torch.Generator().manual_seed(config.seed + 1)  # not the training stream
    history.steps.append(step)
    history.train_loss.append(estimate_loss(model, train_data, config, generator, device))
    history.val_loss.append(estimate_loss(model, val_data, config, generator, device))


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
) -> History:
    """Train ``model`` in place with AdamW on random windows of ``train_data``.

    The losses are estimated before the first step, every ``eval_interval`` steps and after
    the last one, each time on the same ``eval_batches`` batches of each split, drawn from a
    generator of their own: evaluating more or less often never changes the training batches.

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
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}.")
    _check_trainable(model)
    device = get_device(config.device)
    model.to(device)
    if generator is None:
        generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng(devices=_rng_devices(device)):
        torch.manual_seed(config.seed)  # for dropout, which takes no generator
        return _train_loop(model, train_data, val_data, config, generator, progress, device)


def _train_loop(
    model: nn.Module,
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    progress: bool,
    device: torch.device,
) -> History:
    history, optimizer = History(), configure_optimizer(model, config)
    B, T = config.batch_size, config.block_size
    was_training, start, train_seconds = model.training, time.perf_counter(), 0.0
    _record_eval(model, history, 0, train_data, val_data, config, device)
    model.train()
    bar = tqdm(range(1, config.max_steps + 1), desc="training", disable=not progress)
    for step in bar:
        step_start = time.perf_counter()
        x, y = get_batch(train_data, B, T, generator, device)  # (B, T) each
        loss, norm = train_step(model, optimizer, x, y, config.grad_clip)
        train_seconds += time.perf_counter() - step_start
        history.step_loss.append(loss)
        history.grad_norm.append(norm)
        history.lr.append(optimizer.param_groups[0]["lr"])
        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{step * B * T / train_seconds:,.0f}")
        if step % config.eval_interval == 0 or step == config.max_steps:
            _record_eval(model, history, step, train_data, val_data, config, device)
    model.train(was_training)
    history.seconds = time.perf_counter() - start
    history.tokens_per_second = config.max_steps * B * T / train_seconds
    return history
