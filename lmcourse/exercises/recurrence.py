"""Exercises of notebook 04, "Recurrent networks".

Importing this module registers ``04.rnn_step`` and ``04.clip_by_norm``. The functions below
are the reference solutions.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

from lmcourse.exercises.core import Exercise, register

if TYPE_CHECKING:  # torch is imported only where the cases are built: importing stays light
    import torch

# --------------------------------------------------------------------------- reference solutions


def rnn_step(
    x: torch.Tensor, h: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor
) -> torch.Tensor:
    """One step of a vanilla RNN without biases: ``h' = tanh(x W_ih^T + h W_hh^T)``.

    Shapes: x (B, C), h (B, H), weight_ih (H, C), weight_hh (H, H) -> h' (B, H).
    """
    return (x @ weight_ih.T + h @ weight_hh.T).tanh()


def clip_by_norm(grads: list[float], max_norm: float) -> list[float]:
    """Scale a gradient down so that its Euclidean norm is at most ``max_norm``.

    The direction is kept; a gradient already short enough is returned unchanged.

    >>> clip_by_norm([3.0, 4.0], 1.0)  # norm 5 -> scaled by 1/5
    [0.6, 0.8]
    """
    norm = math.sqrt(sum(g * g for g in grads))
    if norm <= max_norm:
        return list(grads)
    return [g * max_norm / norm for g in grads]


# --------------------------------------------------------------------------- cases


def _rnn_step_cases() -> list[tuple[torch.Tensor, ...]]:
    import torch

    gen = torch.Generator().manual_seed(4)
    shapes = [(1, 2, 3), (4, 5, 3), (2, 1, 6)]  # (B, C, H)
    return [
        tuple(torch.randn(*shape, generator=gen) for shape in [(B, C), (B, H), (H, C), (H, H)])
        for B, C, H in shapes
    ]


def _clip_cases() -> list[tuple[list[float], float]]:
    rng = random.Random(5)
    generated = [([rng.uniform(-3, 3) for _ in range(rng.randint(1, 6))], rng.uniform(0.1, 4))
                 for _ in range(3)]  # fmt: skip
    return [([3.0, 4.0], 1.0), ([0.3, 0.4], 1.0), ([3.0, 4.0], 5.0), ([0.0, 0.0], 1.0)] + generated


register(
    Exercise(
        name="04.rnn_step",
        prompt="Compute one step of a vanilla RNN without biases: h' = tanh(x W_ih^T + h W_hh^T), "
        "for a batch: x is (B, C), h is (B, H), weight_ih is (H, C), weight_hh is (H, H); return "
        "a tensor of shape (B, H).",
        solution=rnn_step,
        cases=_rnn_step_cases,
        noun="values",
    )
)
register(
    Exercise(
        name="04.clip_by_norm",
        prompt="Gradient clipping: if the Euclidean norm of `grads` is larger than `max_norm`, "
        "return `grads` scaled by `max_norm / norm`; otherwise return them unchanged.",
        solution=clip_by_norm,
        cases=_clip_cases,
        noun="gradients",
    )
)
