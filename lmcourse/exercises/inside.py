"""Exercises of notebook 10, "Inside a GPT".

Importing this module registers ``10.offset_score`` and ``10.word_start_positions``. Both build
on section 2's measurements (``lmcourse.heads``): which character back a short-window head
prefers, and a job the notebook does not measure, looking at where the current word began.
The reference solutions work on plain Python lists (a (T, T) attention map as a list of rows)
and strings, so importing them does not import torch.
"""

import random
from typing import Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import describe_difference
from lmcourse.exercises.slips import close

# --------------------------------------------------------------------------- reference solutions


def offset_score(weights: list[list[float]], k: int) -> float:
    """The mean weight of position t on position t - k, over the rows t = k, ..., T - 1.

    Row t of a causal attention map is what position t attends to; ``weights[t][t - k]`` is the
    weight on the character k places back (k = 1: the previous one, k = 0: t itself). Rows
    t < k have no position t - k, so the mean is over the T - k rows from k on. With k = 2,
    rows 2 and 3 put 0.6 and 0.2 two places back, (0.6 + 0.2) / 2::

        >>> w = [[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0],
        ...      [0.6, 0.3, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]]
        >>> offset_score(w, 2)
        0.4
    """
    T = len(weights)
    if not 0 <= k < T:
        raise ValueError(f"an offset must be 0 <= k < T = {T}, got {k}")
    return sum(weights[t][t - k] for t in range(k, T)) / (T - k)


def word_start_positions(text: str) -> list[int]:
    """For every position t, where the word that t is in began; -1 when t is not a letter.

    A word is a run of letters (``str.isalpha``); anything else, a space, a newline or a
    punctuation mark such as the apostrophe, is in no word and ends the one before it. The first
    letter of a word begins it, so its position is its own::

        >>> word_start_positions("To be, or")
        [0, 0, -1, 3, 3, -1, -1, 7, 7]
    """
    positions, start = [], -1
    for t, char in enumerate(text):
        if not char.isalpha():
            start = -1
        elif start < 0:
            start = t
        positions.append(start)
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


def _compare_offset(expected: float, got: Any) -> str | None:
    """``describe_difference`` plus the classic slips: k +- 1, the rows t < k, the future, a sum."""
    difference = describe_difference(expected, got, "numbers")
    value, args = _number(got), _case_inputs("10.offset_score", expected)
    if difference is None or value is None or args is None:
        return difference
    w, k = args
    T = len(w)
    back = [w[t][t - k] for t in range(k, T)]  # the weights k places back
    neighbours = [offset_score(w, j) for j in (k - 1, k + 1) if 0 <= j < T]
    if any(close(value, score) for score in neighbours):
        hint = (
            "that is the score of offset k - 1 or k + 1: row t looks k places back, at "
            "weights[t][t - k] (k = 1 is the character just before t, k = 0 is t itself)"
        )
    elif close(value, sum(back) / T):
        hint = (
            "you counted the rows t < k too: they have no position t - k (in Python, "
            "weights[t][t - k] wraps around to the end of the row there, which is 0), so the "
            "mean is over the T - k rows t = k, ..., T - 1"
        )
    elif len(back) > 1 and close(value, sum(back[1:]) / (T - k - 1)):
        hint = "row t = k is the first that has a position t - k (position 0): count it too"
    elif close(value, sum(back)):
        hint = "that is the sum of the weights k places back: the score is their mean"
    elif k > 0 and close(value, 0.0):
        hint = (
            "above the diagonal every weight is 0 (a position never sees the future): "
            "weights[t][t + k] is k places ahead, weights[t][t - k] is k places back"
        )
    else:
        hint = "the score is the mean of weights[t][t - k] over t = k, ..., T - 1"
    return f"{difference} ({hint})"


def _runs_start(text: str, in_word: Any) -> list[int]:
    """``word_start_positions`` with ``in_word(char)`` in place of ``str.isalpha``."""
    positions, start = [], -1
    for t, char in enumerate(text):
        start = (start if start >= 0 else t) if in_word(char) else -1
        positions.append(start)
    return positions


def _compare_words(expected: list[int], got: Any) -> str | None:
    difference = describe_difference(expected, got, "positions")
    args = _case_inputs("10.word_start_positions", expected)
    if difference is None or args is None or not isinstance(got, list | tuple):
        return difference
    (text,) = args
    got = list(got)
    spaces_only = _runs_start(text, lambda c: c != " ")
    blanks_only = _runs_start(text, lambda c: not c.isspace())
    if len(got) != len(text):
        hint = "one position for every character of the text, -1 where it is not a letter"
    elif got in ([s - 1 if s > 0 else s for s in expected], [s - 1 for s in expected]):
        hint = "the position of the word's first letter, not of the character before it"
    elif got == [-1 if s == t else s for t, s in enumerate(expected)]:
        hint = "the first letter of a word begins it: its position is its own, t"
    elif got == [t if s < 0 else s for t, s in enumerate(expected)]:
        hint = (
            "a character that is not a letter (a space, a newline, punctuation) is in no word: "
            "its position is -1"
        )
    elif None in got or got == [0 if s < 0 else s for s in expected]:
        hint = "where the character is not a letter, the position is -1"
    elif got in (spaces_only, blanks_only):
        hint = (
            "only letters make a word (str.isalpha()): a space, a newline or a punctuation mark "
            "such as ',' or ':' is in no word (-1) and ends the word before it"
        )
    else:
        hint = "for each letter, the position of the first letter of its run of letters, else -1"
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


def _offset_cases() -> list[tuple[list[list[float]], int]]:
    rng = random.Random(10)
    four = [[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.6, 0.3, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]]
    three = [[1.0, 0.0, 0.0], [0.8, 0.2, 0.0], [0.1, 0.5, 0.4]]
    cases = [
        (four, 2),
        (three, 1),  # k = 1, the previous character: (0.8 + 0.5) / 2
        (three, 0),  # k = 0, the diagonal: (1.0 + 0.2 + 0.4) / 3
        (four, 3),  # k = T - 1: only the last row looks that far back
        ([[1.0]], 0),  # one position
    ]
    cases += [(_causal_map(rng, T), k) for T, k in ((5, 1), (8, 3), (12, 2), (9, 0))]
    return cases


def _word_cases() -> list[tuple[str]]:
    return [
        ("To be, or",),
        ("ROMEO:\nBut soft!",),
        ("O'er the hill",),
        ("a",),
        ("",),
        (" \n ",),
        ("well-a-day",),
        ("Act 2, scene 1",),  # digits are not letters (str.isalpha): 2 starts no word
        ("JULIET:\nAy me!\nROMEO:\nShe speaks.\n",),
    ]


_EXERCISES = {
    "10.offset_score": Exercise(
        name="10.offset_score",
        prompt="Given one head's causal attention map, a (T, T) list of rows where weights[t][s] "
        "is how much position t attends to position s, and an offset k (0 <= k < T), return the "
        "mean weight that a position puts k places back, weights[t][t - k], over the positions "
        "t that have a position k places back (t = k, ..., T - 1). k = 1 is the previous "
        "character, k = 0 the position itself.",
        solution=offset_score,
        cases=_offset_cases,
        noun="numbers",
        compare=_compare_offset,
    ),
    "10.word_start_positions": Exercise(
        name="10.word_start_positions",
        prompt="For every position t of a text, return the position where the word that t is in "
        "began: the first letter of its run of letters (letters are the characters with "
        "str.isalpha(); a space, a newline or a punctuation mark such as the apostrophe ends a "
        "word). A word's first letter gets its own position; a character that is not a letter "
        "gets -1. One number per character.",
        solution=word_start_positions,
        cases=_word_cases,
        noun="positions",
        compare=_compare_words,
    ),
}
for _exercise in _EXERCISES.values():
    register(_exercise)
