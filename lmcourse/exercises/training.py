"""Exercises of notebook 08, "Training GPT".

Importing this module registers ``08.lr_schedule``, ``08.clip_scale`` and ``08.decay_groups``.
The functions below are the reference solutions; they work on plain Python numbers and lists,
so importing them does not import torch (the tests compare them with ``lmcourse.train``).
"""

import math
from typing import Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import describe_difference
from lmcourse.exercises.slips import close

# --------------------------------------------------------------------------- reference solutions


def lr_schedule(max_steps: int, lr: float, min_lr: float, warmup: int) -> list[float]:
    """The learning rate of steps 1, 2, ..., max_steps: linear warmup, then a cosine to min_lr.

    Step s <= warmup: ``lr · s / warmup``. Later: ``min_lr + (lr − min_lr) · (1 + cos(π·p)) / 2``
    with the progress ``p = (s − warmup) / (max_steps − warmup)``, 0 after the warmup, 1 at the
    last step. Six steps, two of warmup (p = 1/4, 2/4, 3/4, 1 after it)::

        >>> [round(r, 4) for r in lr_schedule(6, 1.0, 0.0, 2)]
        [0.5, 1.0, 0.8536, 0.5, 0.1464, 0.0]
    """
    rates = []
    for step in range(1, max_steps + 1):
        if step <= warmup:
            rates.append(lr * step / warmup)
            continue
        progress = (step - warmup) / max(max_steps - warmup, 1)
        rates.append(min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress)))
    return rates


def clip_scale(grad_norm: float, max_norm: float) -> float:
    """The factor gradient clipping multiplies the whole gradient by: ``min(1, max_norm / ‖g‖)``.

    >>> clip_scale(5.0, 1.0), clip_scale(0.5, 1.0)  # 5 shrinks to 1; 0.5 stays as it is
    (0.2, 1.0)
    """
    if grad_norm <= max_norm:
        return 1.0  # also a zero gradient: nothing to clip, and no division by 0
    return max_norm / grad_norm


def decay_groups(shapes: list[list[int]]) -> tuple[int, int]:
    """(parameters with weight decay, parameters without), from the parameters' shapes.

    Matrices and embedding tables (2 or more dimensions) are decayed; biases and LayerNorm
    gains (1 dimension) are not. Each tensor counts the product of its shape::

        >>> decay_groups([[65, 32], [32], [96, 32], [96]])  # 2080 + 3072, 32 + 96
        (5152, 128)
    """
    decay = sum(math.prod(shape) for shape in shapes if len(shape) >= 2)
    no_decay = sum(math.prod(shape) for shape in shapes if len(shape) < 2)
    return decay, no_decay


# --------------------------------------------------------------------------- feedback


def _compare_schedule(expected: list[float], got: Any) -> str | None:
    """``describe_difference`` plus where it goes wrong: the warmup, the end, or the cosine."""
    difference = describe_difference(expected, got, "learning rates")
    if difference is None:
        return None
    try:
        rates = [float(rate) for rate in got]
    except (TypeError, ValueError):
        return difference
    if len(rates) != len(expected):
        return f"{difference} (one learning rate per step: steps 1, 2, ..., max_steps)"
    first = next((i for i, (e, g) in enumerate(zip(expected, rates)) if not close(e, g)), None)
    if first is None:  # the values are right, their type is not
        return difference
    peak = expected.index(max(expected))  # the last warmup step, when there is a warmup
    if 0 < peak and first <= peak:
        return (
            f"{difference} (position {first} is step {first + 1}, in the warmup: step s = 1, 2, "
            "..., warmup gets lr · s / warmup, so step 1 already learns at lr / warmup and step "
            "`warmup` reaches the full lr; is yours off by one?)"
        )
    if not close(rates[-1], expected[-1]):
        if close(rates[-1], 0.0):
            return (
                f"{difference} (yours decays to 0: the cosine goes from lr down to min_lr, "
                "min_lr + (lr − min_lr) · (1 + cos(π · progress)) / 2)"
            )
        return (
            f"{difference} (the last step must get exactly min_lr = {expected[-1]:g}, yours gets "
            f"{rates[-1]:.6g}: progress = (step − warmup) / (max_steps − warmup) reaches 1 at "
            "step max_steps)"
        )
    return (
        f"{difference} (position {first} is step {first + 1}, after the warmup: "
        "min_lr + (lr − min_lr) · (1 + cos(π · progress)) / 2 with "
        "progress = (step − warmup) / (max_steps − warmup))"
    )


def _compare_clip(expected: float, got: Any) -> str | None:
    """``describe_difference`` plus the two classic slips: growing a gradient, or 1/factor."""
    difference = describe_difference(expected, got, "numbers")
    if difference is None:
        return None
    try:
        factor = float(got)
    except (TypeError, ValueError):
        return difference
    if factor > 0 and expected < 1 and close(1 / factor, expected):
        return (
            f"{difference} (upside down: the clipped norm ‖g‖ · factor must equal max_norm, "
            "so factor = max_norm / ‖g‖)"
        )
    if factor > 1:
        return (
            f"{difference} (clipping never makes a gradient larger: when ‖g‖ <= max_norm the "
            "factor is 1)"
        )
    if expected == 1.0:
        return f"{difference} (a gradient with ‖g‖ <= max_norm is left as it is: the factor is 1)"
    if factor == 1.0:  # e.g. min(1, ‖g‖ / max_norm): upside down, then capped at 1
        return (f"{difference} (this ‖g‖ is above max_norm, so the gradient must shrink: "
                "factor = max_norm / ‖g‖, below 1; is yours upside down?)")  # fmt: skip
    return difference


def _compare_groups(expected: tuple[int, int], got: Any) -> str | None:
    """``describe_difference`` plus hints: the order, the totals, nothing decayed."""
    difference = describe_difference(expected, got, "numbers")
    if difference is None:
        return None
    try:
        decay, no_decay = (int(n) for n in got)
    except (TypeError, ValueError):
        return difference
    if (decay, no_decay) == (expected[1], expected[0]):
        return f"{difference} (swapped: first the parameters with decay, the matrices)"
    if decay + no_decay != sum(expected):
        return (
            f"{difference} (your two numbers add up to {decay + no_decay:,}, but there are "
            f"{sum(expected):,} parameters: each tensor counts the product of its shape, once)"
        )
    if decay == 0 and expected[0] > 0:
        return f"{difference} (nothing decayed: every tensor with 2 or more dimensions is)"
    return f"{difference} (2 or more dimensions, len(shape) >= 2: decay; 1 dimension: no decay)"


# --------------------------------------------------------------------------- cases


def _gpt_shapes(V: int, T: int, L: int, C: int) -> list[list[int]]:
    """The parameter shapes of ``GPT(GPTConfig(V, T, L, n_head, C, bias=False))``, in order."""
    block = [[C], [3 * C, C], [C, C], [C], [4 * C, C], [C, 4 * C]]  # ln_1, attn, ln_2, mlp
    return [[V, C], [T, C]] + block * L + [[C]]  # wte (= lm_head), wpe, blocks, ln_f


def _groups_cases() -> list[tuple[list[list[int]]]]:
    return [
        ([[65, 32], [32], [96, 32], [96]],),
        ([[10]],),
        ([[3, 4, 5]],),
        ([],),
        (_gpt_shapes(65, 32, 2, 32),),  # the ci preset's model
        (_gpt_shapes(65, 64, 4, 128),),  # the cpu preset's model
    ]


register(
    Exercise(
        name="08.lr_schedule",
        prompt="Return the learning rates of training steps 1, 2, ..., max_steps (a list of "
        "max_steps floats, step 1 first). During the warmup, step s (s <= warmup) gets "
        "`lr * s / warmup`. After it, a cosine decays from lr to min_lr: "
        "`min_lr + (lr - min_lr) * (1 + cos(pi * progress)) / 2`, where "
        "`progress = (step - warmup) / (max_steps - warmup)` goes from 0 to 1 at the last step.",
        solution=lr_schedule,
        cases=[
            (6, 1.0, 0.0, 2),
            (110, 1e-3, 1e-4, 10),
            (30, 1e-3, 1e-4, 5),
            (2000, 1e-3, 1e-4, 100),
            (8, 1.0, 0.25, 0),
            (4, 1.0, 0.0, 4),
            (5, 0.1, 0.1, 1),
        ],  # fmt: skip
        noun="learning rates",
        compare=_compare_schedule,
    )
)
register(
    Exercise(
        name="08.clip_scale",
        prompt="Gradient clipping rescales the whole gradient g when its norm ‖g‖ = `grad_norm` "
        "is larger than `max_norm`, so that the clipped gradient has norm `max_norm` and the "
        "same direction. Return the factor it multiplies every gradient entry by (1 when "
        "nothing is clipped, also for a gradient of norm 0).",
        solution=clip_scale,
        cases=[
            (5.0, 1.0),
            (0.5, 1.0),
            (1.0, 1.0),
            (2.0, 0.5),
            (0.0, 1.0),
            (1e4, 1.0),
            (0.999, 1.0),
            (3.0, 2.5),
        ],  # fmt: skip
        noun="numbers",
        compare=_compare_clip,
    )
)
register(
    Exercise(
        name="08.decay_groups",
        prompt="AdamW's weight decay is applied to the matrices and embedding tables (tensors "
        "with 2 or more dimensions) but not to biases and LayerNorm gains (1 dimension). Given "
        "the shapes of a model's parameters (one list of sizes per tensor), return the tuple "
        "(number of parameters with decay, number without); a tensor of shape [a, b] holds "
        "a·b parameters.",
        solution=decay_groups,
        cases=_groups_cases,
        noun="numbers",
        compare=_compare_groups,
    )
)
