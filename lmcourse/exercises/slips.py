"""Naming a learner's mistake: which classic slip returns what their function returned.

An exercise module keeps, for each exercise, a table entry ``name: (solution, cases, slips)``:
the reference solution, a function that returns the cases, and ``slips(*case)``, which returns
``[(hint, value), ...]``, the value each classic mistake would give on that case. When an answer
is wrong, the hints whose value is the answer are shown: the mistake is named, never the answer
(a hint is the same words in every case, which the tests check).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from lmcourse.exercises.difference import (
    FLOAT_ABS_TOL,
    FLOAT_REL_TOL,
    _a,
    _kind,
    _short,
    describe_difference,
)

__all__ = ["close", "number_compare", "number_hint", "slip_hint"]

#: An exercise's ``(solution, cases, slips)``, by exercise name.
Solutions = Mapping[str, tuple[Callable, Callable, Callable]]


def close(a: Any, b: Any, abs_tol: float = FLOAT_ABS_TOL) -> bool:
    """Equal within a relative 1e-6: float32 arithmetic passes, a wrong formula does not
    (``describe_difference``'s rule for floats)."""
    return math.isclose(float(a), float(b), rel_tol=FLOAT_REL_TOL, abs_tol=abs_tol)


def slip_hint(
    solutions: Solutions, name: str, expected: Any, got: Any, same: Callable
) -> str | None:
    """The hints of the slips that return ``got`` in a case whose right answer is ``expected``
    (all of them, joined, when two slips coincide); None if no slip explains ``got``."""
    solution, cases, slips = solutions[name]
    for args in cases():
        if solution(*args) != expected:
            continue
        try:
            pairs = slips(*args)
        except ArithmeticError:  # a slip that divides by 0, or overflows, on this case
            continue
        hints = [hint for hint, value in pairs if not same(value, expected) and same(value, got)]
        if hints:
            return "; or ".join(dict.fromkeys(hints))
    return None


def number_compare(solutions: Solutions, name: str, fallback: str, same: Callable = close):
    """A ``compare`` for an exercise whose answer is a float: ``same`` passes it; else the
    difference, and the slip that explains it (or ``fallback``)."""

    def compare(expected: float, got: Any) -> str | None:
        if _kind(got) in ("tensor", "numpy array"):
            return f"expected a float, got {_a(got)} (return a plain number: float(x) or x.item())"
        if not isinstance(got, numbers.Real) or isinstance(got, bool):
            return describe_difference(expected, got, "numbers")
        if same(expected, got):
            return None
        hint = slip_hint(solutions, name, expected, got, same) or fallback
        return f"expected {_short(expected)}, got {_short(got)} ({hint})"

    return compare


def number_hint(solution: Callable, cases: Callable, slips: Callable, expected: Any, got: Any,
                noun: str = "numbers") -> str | None:  # fmt: skip
    """``describe_difference``, plus the hints of the slips that return the number ``got``:
    ``slips(*args)`` is ``{hint: what that slip returns}`` for a case's arguments (all the
    hints that fit, joined, as in ``slip_hint``)."""
    difference = describe_difference(expected, got, noun)
    if difference is None or isinstance(got, bool) or not isinstance(got, numbers.Real):
        return difference
    table = {"": (solution, cases, lambda *args: list(slips(*args).items()))}
    hint = slip_hint(table, "", expected, got, close)
    return f"{difference} ({hint})" if hint else difference
