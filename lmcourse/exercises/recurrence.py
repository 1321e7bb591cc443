"""Exercises of notebook 04, "Recurrent networks".

Importing this module registers ``04.gradient_back`` and ``04.clip_by_norm``. The functions
below are the reference solutions. ``gradient_back`` works on tensors, built only when its
cases are checked: importing ``lmcourse.exercises`` does not import torch.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import describe_difference

if TYPE_CHECKING:  # torch is imported only where the cases are built: importing stays light
    import torch

# --------------------------------------------------------------------------- reference solutions


def gradient_back(a: torch.Tensor, weight_hh: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Backpropagation through time by hand: dL/dh_0 from dL/dh_T, one Jacobian per step.

    With h_t = tanh(a_t) and a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh, one step back
    multiplies the gradient (a row vector) by ∂h_t/∂h_{t-1} = diag(tanh'(a_t)) W_hh, where
    tanh'(a) = 1 - tanh(a)²; the last step, t = T, comes first.

    Shapes: a (T, H), row t - 1 holding a_t; weight_hh (H, H); g (H,) = dL/dh_T -> (H,) = dL/dh_0.
    With a = 0 every tanh' is 1, and g goes back through W_hh alone: g @ W_hh @ W_hh for T = 2.
    """
    for a_t in a.flip(0):  # a_T first, back to a_1
        g = (g * (1 - a_t.tanh() ** 2)) @ weight_hh  # (H,)
    return g


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


# --------------------------------------------------------------------------- feedback


def _back(a: Any, weight_hh: Any, g: Any, step: Any, rows: Any) -> Any:
    """``g`` taken back through ``rows`` (indices into ``a``) with a step of the learner's kind."""
    for t in rows:
        g = step(g, a[t], weight_hh)
    return g


def _slips(a: Any, weight_hh: Any, g: Any) -> list[tuple[Any, str]]:
    """What the classic slips return for these inputs, each with its hint."""
    T = len(a)
    back, forward = range(T - 1, -1, -1), range(T)

    def right(g, a_t, w):
        return (g * (1 - a_t.tanh() ** 2)) @ w

    steps = [
        (lambda g, a_t, w: (g * (1 - a_t.tanh() ** 2)) @ w.T, back,
         "weight_hh is transposed: a_t holds W_hh h_(t-1), so a row of gradients goes back "
         "as `grad @ weight_hh` (as a column: weight_hh.T @ grad)"),
        (lambda g, a_t, w: g @ w, back,
         "every step also goes back through its tanh: multiply by tanh'(a_t) too"),
        (lambda g, a_t, w: (g * (1 - a_t**2)) @ w, back,
         "tanh'(a) is 1 - tanh(a)², not 1 - a²"),
        (lambda g, a_t, w: (g * a_t.tanh()) @ w, back, "tanh'(a) is 1 - tanh(a)², not tanh(a)"),
        (lambda g, a_t, w: (g @ w) * (1 - a_t.tanh() ** 2), back,
         "the Jacobian is diag(tanh'(a_t)) W_hh: multiply by tanh'(a_t) before W_hh, not after"),
        (right, forward,
         "go back in time: the last step first (a_T, the last row of a), the first step last"),
        (right, back[1:], "one step short: the T rows of a are T steps, back to h_0"),
        (right, back[:-1], "one step short: the T rows of a are T steps, back to h_0"),
    ]  # fmt: skip
    return [(_back(a, weight_hh, g, step, rows), hint) for step, rows, hint in steps]


def _compare_gradient(expected: Any, got: Any) -> str | None:
    """``describe_difference`` plus a hint when ``got`` is what a classic slip returns."""
    difference = describe_difference(expected, got, "values")
    if difference is None or tuple(getattr(got, "shape", ())) != tuple(expected.shape):
        return difference
    for args in _CASES["04.gradient_back"]():
        if describe_difference(gradient_back(*args), expected) is None:
            for slip, hint in _slips(*args):
                if describe_difference(slip, got) is None:
                    return f"{difference} ({hint})"
            break
    return difference


# --------------------------------------------------------------------------- cases


def _gradient_cases() -> list[tuple[torch.Tensor, ...]]:
    """Seeded float64 (a, weight_hh, g), rounded so that they read well: (T, H) below."""
    import torch

    gen = torch.Generator().manual_seed(4)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        values = scale * torch.randn(*shape, generator=gen, dtype=torch.float64)
        return values.round(decimals=2) + 0.0  # no -0.0

    cases = []
    for T, H in [(2, 2), (1, 3), (3, 1), (5, 4), (0, 3), (30, 6)]:
        weight_hh = randn(H, H, scale=1.2 / math.sqrt(H))  # gradients neither vanish nor explode
        cases.append((randn(T, H), weight_hh, randn(H)))
    return cases


def _clip_cases() -> list[tuple[list[float], float]]:
    rng = random.Random(5)
    generated = [([rng.uniform(-3, 3) for _ in range(rng.randint(1, 6))], rng.uniform(0.1, 4))
                 for _ in range(3)]  # fmt: skip
    return [([3.0, 4.0], 1.0), ([0.3, 0.4], 1.0), ([3.0, 4.0], 5.0), ([0.0, 0.0], 1.0)] + generated


_CASES = {"04.gradient_back": _gradient_cases}

register(
    Exercise(
        name="04.gradient_back",
        prompt="Backpropagation through time by hand, for one sequence of a vanilla RNN (section "
        "2). `a` holds what entered the tanh at each of the T steps, one row per step, first "
        "step first (h_t = tanh(a_t), shape (T, H)); `weight_hh` is W_hh (H, H); `g` is the "
        "gradient of a loss L with respect to the last state, dL/dh_T (H,). Return dL/dh_0, "
        "the gradient with respect to the state before the first step (H,), by taking `g` back "
        "one step at a time through section 2's Jacobians, without autograd. T may be 0.",
        solution=gradient_back,
        cases=_gradient_cases,
        noun="values",
        compare=_compare_gradient,
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
