"""Exercises of notebook 03, "From counts to gradients".

Importing this module registers ``03.softmax``, ``03.one_hot`` and ``03.context_windows``.
The functions below are the reference solutions.
"""

import math
import random

from lmcourse.exercises.core import Exercise, register

# --------------------------------------------------------------------------- reference solutions


def softmax(logits: list[float]) -> list[float]:
    """Probabilities from scores: ``softmax(z)_i = exp(z_i - max z) / Σ_j exp(z_j - max z)``.

    Subtracting the maximum changes nothing mathematically and keeps ``exp`` from overflowing.

    >>> softmax([0.0, 0.0])
    [0.5, 0.5]
    """
    top = max(logits)
    exps = [math.exp(z - top) for z in logits]
    total = sum(exps)
    return [e / total for e in exps]


def one_hot(index: int, size: int) -> list[float]:
    """A vector of ``size`` zeros with a 1 at ``index``: multiplying it by a matrix picks a row.

    >>> one_hot(2, 4)
    [0.0, 0.0, 1.0, 0.0]
    """
    return [1.0 if i == index else 0.0 for i in range(size)]


def context_windows(ids: list[int], context: int, start_id: int) -> list[list[int]]:
    """For every position t, the ``context`` ids ending at t (the MLP's input for predicting t+1).

    Positions before the start of ``ids`` are filled with ``start_id``.

    >>> context_windows([5, 6, 7], 2, 0)
    [[0, 5], [5, 6], [6, 7]]
    """
    padded = [start_id] * (context - 1) + list(ids)
    return [padded[t : t + context] for t in range(len(ids))]


# --------------------------------------------------------------------------- cases


def _softmax_cases() -> list[tuple[list[float]]]:
    rng = random.Random(3)
    generated = [[rng.uniform(-5, 5) for _ in range(rng.randint(1, 8))] for _ in range(3)]
    return [([0.0, 0.0],), ([1.0, 2.0, 3.0],), ([1000.0, 1000.0, 999.0],), ([-3.0],)] + [
        (z,) for z in generated
    ]


register(
    Exercise(
        name="03.softmax",
        prompt="Turn a list of scores (logits) into probabilities: exponentiate each score and "
        "divide by the sum. Subtract the largest score first so that `math.exp` cannot "
        "overflow for large scores (the result is the same).",
        solution=softmax,
        cases=_softmax_cases,
        noun="probabilities",
    )
)
register(
    Exercise(
        name="03.one_hot",
        prompt="Return a list of `size` floats, all 0.0 except a 1.0 at position `index`.",
        solution=one_hot,
        cases=[(2, 4), (0, 1), (0, 3), (64, 65)],
        noun="entries",
    )
)
register(
    Exercise(
        name="03.context_windows",
        prompt="For every position t of `ids`, return the list of the `context` ids that end at "
        "t (the last one is `ids[t]`), filling positions before the start with `start_id`.",
        solution=context_windows,
        cases=[
            ([5, 6, 7], 2, 0),
            ([5, 6, 7], 1, 0),
            ([1, 2, 3, 4], 3, 9),
            ([], 3, 0),
            ([4], 4, 65),
        ],  # fmt: skip
        noun="windows",
    )
)
