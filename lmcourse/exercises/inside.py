"""Exercises of notebook 10, "Inside a GPT".

Importing this module registers ``10.previous_token_score`` and ``10.line_start_positions``.
The reference solutions work on plain Python lists (a (T, T) attention map as a list of rows)
and strings, so importing them does not import torch.
"""

import random
from typing import Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import describe_difference

# --------------------------------------------------------------------------- reference solutions


def previous_token_score(weights: list[list[float]]) -> float:
    """How much a head looks at the previous character: the mean of the sub-diagonal.

    Row t of a causal attention map is what position t attends to. ``weights[t][t - 1]`` is the
    weight on the character just before t; position 0 has no previous character, so rows
    1 to T - 1 are averaged. With T = 3, (0.8 + 0.5) / 2::

        >>> previous_token_score([[1.0, 0.0, 0.0], [0.8, 0.2, 0.0], [0.1, 0.5, 0.4]])
        0.65
    """
    T = len(weights)
    if T < 2:
        raise ValueError(f"a previous-token score needs at least 2 positions, got {T}")
    return sum(weights[t][t - 1] for t in range(1, T)) / (T - 1)


def line_start_positions(text: str) -> list[int]:
    """For every position t, where the last ``"\\n"`` strictly before t is; -1 on the first line.

    A "start of line" head at position t looks at that newline: the character that began the
    line t is on (for a "\\n" at t itself, the line before it). For ``"ab\\ncd"``: "a" and "b"
    and the newline at 2 have none before them, "c" and "d" point to position 2::

        >>> line_start_positions("ab\\ncd")
        [-1, -1, -1, 2, 2]
    """
    positions, last = [], -1
    for t, char in enumerate(text):
        positions.append(last)
        if char == "\n":
            last = t
    return positions


# --------------------------------------------------------------------------- hints


def _case_inputs(name: str, expected: Any) -> tuple | None:
    """The arguments of the case whose expected output is ``expected`` (they all differ)."""
    exercise = _EXERCISES[name]
    for args in exercise.case_list():
        if exercise.solution(*args) == expected:
            return args
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def _compare_previous(expected: float, got: Any) -> str | None:
    """``describe_difference`` plus the classic slips: the diagonal, row 0, the wrong divisor."""
    difference = describe_difference(expected, got, "numbers")
    value, args = _number(got), _case_inputs("10.previous_token_score", expected)
    if difference is None or value is None or args is None:
        return difference
    (w,) = args
    T = len(w)
    sub = [w[t][t - 1] for t in range(1, T)]
    diagonal = [w[t][t] for t in range(T)]
    if _near(value, sum(diagonal) / T) or _near(value, sum(diagonal[1:]) / (T - 1)):
        hint = (
            "you averaged the diagonal, weights[t][t]: that is how much a position looks at "
            "itself; the previous character of position t is t - 1, one below the diagonal"
        )
    elif _near(value, sum(sub) / T) or _near(value, (sum(sub) + w[0][0]) / T):
        hint = (
            "you counted row 0 too: the first character has no previous one, so only the "
            "T - 1 rows from 1 on have a weight on position t - 1 (divide by T - 1)"
        )
    elif _near(value, sum(sub)):
        hint = "that is the sum of the sub-diagonal: the score is its mean"
    elif _near(value, 0.0):
        hint = (
            "above the diagonal every weight is 0 (a character never sees the future): "
            "weights[t][t + 1] is not the previous character, weights[t][t - 1] is"
        )
    else:
        hint = "the score is the mean of weights[t][t - 1] over t = 1, ..., T - 1"
    return f"{difference} ({hint})"


def _compare_lines(expected: list[int], got: Any) -> str | None:
    difference = describe_difference(expected, got, "positions")
    args = _case_inputs("10.line_start_positions", expected)
    if difference is None or args is None or not isinstance(got, list | tuple):
        return difference
    (text,) = args
    newlines = [t for t, c in enumerate(text) if c == "\n"]
    inclusive = [max([n for n in newlines if n <= t], default=-1) for t in range(len(text))]
    got = list(got)
    if len(got) != len(text):
        hint = "one position for every character of the text, -1 where no newline comes before it"
    elif got == inclusive:
        hint = (
            "a newline at position t counts only for the characters after it: look strictly "
            'before t, so a "\\n" points to the newline before it, not to itself'
        )
    elif got == [p + 1 if p >= 0 else p for p in expected] or got == [p + 1 for p in expected]:
        hint = "the position of the newline itself, not of the character after it"
    elif None in got or got == [0 if p < 0 else p for p in expected]:
        hint = "where no newline comes before a character, the position is -1"
    else:
        hint = 'for each t, the largest position of a "\\n" that is smaller than t'
    return f"{difference} ({hint})"


# --------------------------------------------------------------------------- cases


def _causal_map(rng: random.Random, T: int) -> list[list[float]]:
    """A random (T, T) causal attention map: row t has t + 1 weights summing to 1, zeros after."""
    rows = []
    for t in range(T):
        raw = [rng.expovariate(1.0) for _ in range(t + 1)]
        total = sum(raw)
        rows.append([x / total for x in raw] + [0.0] * (T - t - 1))
    return rows


def _previous_cases() -> list[tuple[list[list[float]]]]:
    rng = random.Random(10)
    cases = [
        ([[1.0, 0.0], [0.25, 0.75]],),
        ([[1.0, 0.0, 0.0], [0.8, 0.2, 0.0], [0.1, 0.5, 0.4]],),
        ([[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]],),
        ([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.2, 0.6]],),
    ]
    cases += [(_causal_map(rng, T),) for T in (5, 8, 12)]
    return cases


def _line_cases() -> list[tuple[str]]:
    return [
        ("ab\ncd",),
        ("ROMEO:\nBut soft!\nWhat light?",),
        ("no newline here",),
        ("\n\nA\n",),
        ("JULIET:\nAy me!\n\nROMEO:\nShe speaks.\n",),
    ]


_EXERCISES = {
    "10.previous_token_score": Exercise(
        name="10.previous_token_score",
        prompt="Given one head's causal attention map, a (T, T) list of rows where weights[t][s] "
        "is how much position t attends to position s, return its previous-token score: the "
        "mean, over the positions t that have a previous character (t = 1, ..., T - 1), of the "
        "weight on that character, weights[t][t - 1].",
        solution=previous_token_score,
        cases=_previous_cases,
        noun="numbers",
        compare=_compare_previous,
    ),
    "10.line_start_positions": Exercise(
        name="10.line_start_positions",
        prompt="For every position t of a text, return the position of the last newline "
        'character "\\n" strictly before t, or -1 when there is none (the first line): the '
        'position a "start of line" head looks at. One number per character.',
        solution=line_start_positions,
        cases=_line_cases,
        noun="positions",
        compare=_compare_lines,
    ),
}
for _exercise in _EXERCISES.values():
    register(_exercise)
