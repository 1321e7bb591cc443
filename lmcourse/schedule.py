"""The learning-rate schedule of the course's training loop: linear warmup, then cosine decay.

``lr_at(step, config)`` is what ``lmcourse.train`` sets before each optimizer step;
``warmup_note`` is what it says when a run is shorter than its warmup.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from lmcourse.utils import is_int

if TYPE_CHECKING:
    from lmcourse.train import TrainConfig

__all__ = ["lr_at", "warmup_note"]


def lr_at(step: int, config: TrainConfig) -> float:
    """The learning rate of training step ``step`` (1, 2, ..., max_steps).

    Warmup, for step <= W: ``lr · step / W`` (Adam's early steps are large and noisy: start
    small). Then, with ``min_lr``, a cosine from ``lr`` to ``min_lr`` over the remaining steps:
    ``min_lr + (lr - min_lr) · (1 + cos(π · progress)) / 2``, progress from 0 to 1.

    Example: warmup 10 to 1e-3, then cosine to 1e-4 by step 110::

        >>> from lmcourse.train import TrainConfig
        >>> config = TrainConfig(max_steps=110, learning_rate=1e-3, min_lr=1e-4, warmup_steps=10)
        >>> [round(lr_at(s, config), 6) for s in (1, 10, 60, 110)]
        [0.0001, 0.001, 0.00055, 0.0001]
    """
    if not is_int(step) or step < 1:
        raise ValueError(f"steps count from 1 (the first update); got step {step!r}.")
    lr, W = config.learning_rate, config.warmup_steps
    if step <= W:
        return lr * step / W
    if config.min_lr is None:
        return lr
    progress = (step - W) / max(config.max_steps - W, 1)  # 0 after warmup .. 1 at the end
    return config.min_lr + (lr - config.min_lr) * 0.5 * (1 + math.cos(math.pi * min(progress, 1)))


def warmup_note(config: TrainConfig) -> str | None:
    """What a run whose warmup is longer than the run itself should know; None if nothing.

    With ``warmup_steps`` W > ``max_steps`` N the learning rate climbs for the whole run and
    stops at ``lr · N / W``, below its peak, and a cosine decay never starts. nanoGPT allows
    this (a short trial run of a long recipe), and so does the course, with this note.

    Example: ``TrainConfig(max_steps=50, warmup_steps=100)`` ends at half of its learning rate.
    """
    W, N = config.warmup_steps, config.max_steps
    if W <= N:
        return None
    end = lr_at(N, config)
    cosine = ", and the cosine decay to min_lr never starts" if config.min_lr is not None else ""
    return (f"warmup_steps {W} > max_steps {N}: the learning rate rises for the whole run, up to "
            f"{end:.3g} at the last step, {N / W:.0%} of its peak learning_rate "
            f"{config.learning_rate:g}{cosine}. For the whole schedule, train at least {W} "
            "steps or shorten the warmup.")  # fmt: skip
