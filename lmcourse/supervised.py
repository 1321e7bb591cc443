"""Training on whole examples: the model learns the answer to a prompt (or the caption of an
image), one example a row, instead of the next character of one long text.

Supervised fine-tuning works this way (notebook 14 teaches the shipped GPT three tasks), and so
does a captioner trained from scratch (notebook 15). Each example is one row, padded to the
longest; the targets of the prompt and of the padding are ``lmcourse.lm.IGNORE``, so the loss
(``lm_loss``) is the mean surprise of the answers alone.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.random import fork_rng

from lmcourse.progress import tqdm
from lmcourse.schedule import lr_at
from lmcourse.train import TrainConfig, _rng_devices
from lmcourse.utils import is_int

__all__ = ["train_rows"]


def train_rows(
    model: nn.Module, rows: tuple[torch.Tensor, ...], steps: int, batch_size: int = 32,
    lr: float = 1e-3, generator: torch.Generator | None = None, progress: bool = False,
    min_lr: float | None = None,
) -> list[float]:  # fmt: skip
    """AdamW on random rows of whole examples (``lmcourse.train.train`` cuts windows from one
    long text).

    A row is one example kept whole (a prompt and its answer, an image and its caption), padded;
    targets ``-100`` are not scored. Each step draws ``batch_size`` rows with ``generator`` and
    steps on ``model(*(t[picked] for t in rows))[1]`` at ``lr`` (with ``min_lr``: ``lr_at``'s
    cosine from ``lr`` to ``min_lr``). Dropout is seeded from ``generator`` as in ``train``.
    Returns every step's loss (a ValueError if one is nan or infinite); ends in eval mode.
    Shapes: ``rows``, aligned tensors of N rows each on the model's device, e.g. (N, T) ids.

    The optimizer is ``torch.optim.AdamW`` with its defaults (weight decay 0.01 on every
    parameter, biases and LayerNorm gains too) and no gradient clipping: a few hundred steps on
    a small model, where ``configure_optimizer``'s groups and ``train``'s clipping change little.
    """
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if not is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if len({len(t) for t in rows}) != 1:
        raise ValueError(f"rows must be tensors of as many rows, got {[len(t) for t in rows]}.")
    schedule = TrainConfig(max_steps=steps, learning_rate=lr, min_lr=min_lr)  # checks lr, min_lr
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    losses, device = [], rows[0].device
    model.train()
    with fork_rng(devices=_rng_devices(device)):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))  # dropout
        for step in tqdm(range(1, steps + 1), disable=not progress, desc="training"):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, schedule)
            picked = torch.randint(len(rows[0]), (batch_size,), generator=generator).to(device)
            _, loss = model(*(t[picked] for t in rows))  # (B, ...) rows of each
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                raise ValueError(f"the loss is {losses[-1]} at step {step}: lower lr ({lr:g}).")
    model.eval()
    return losses
