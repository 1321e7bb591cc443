"""Exercises of notebook 02, "Counting: n-gram models".

Importing this module registers ``02.bigram_counts``, ``02.cross_entropy``, ``02.add_k`` and
``02.continuation_count``. The functions below are the reference solutions.
"""

import math
import random
from collections import Counter

from lmcourse.exercises.core import Exercise, register

# --------------------------------------------------------------------------- reference solutions


def bigram_counts(text: str) -> dict[tuple[str, str], int]:
    """How often each pair of neighbouring characters occurs in ``text``.

    >>> bigram_counts("abab")
    {('a', 'b'): 2, ('b', 'a'): 1}
    """
    return dict(Counter(zip(text, text[1:])))


def cross_entropy(probs: list[float]) -> float:
    """Cross-entropy in bits per token of a model that gave the true tokens these probabilities.

    H = −(1/N) Σ log2 p_i, and infinite as soon as one p_i is 0 (log2 0 = −∞).

    >>> cross_entropy([0.5, 0.25])  # (1 + 2) / 2
    1.5
    """
    if any(p == 0 for p in probs):
        return math.inf
    return -sum(math.log2(p) for p in probs) / len(probs)


def add_k(count: int, context_count: int, vocab_size: int, k: float) -> float:
    """The add-k estimate P(w | c) = (count(c w) + k) / (count(c •) + k V).

    >>> add_k(0, 10, 5, 1.0)  # an unseen event still gets (0 + 1) / (10 + 5)
    0.06666666666666667
    """
    return (count + k) / (context_count + k * vocab_size)


def continuation_count(bigrams: list[tuple[str, str]], word: str) -> int:
    """N1+(• word): the number of distinct tokens that ``word`` follows in ``bigrams``.

    >>> bigrams = [("san", "francisco"), ("san", "francisco"), ("in", "york")]
    >>> continuation_count(bigrams, "francisco")
    1
    """
    return len({left for left, right in bigrams if right == word})


# --------------------------------------------------------------------------- cases


def _bigram_cases() -> list[tuple[str]]:
    from lmcourse.data import load_text  # imported here: lmcourse.data imports torch

    return [("abab",), ("",), ("a",), ("aaaa",), ("to be, or not to be",), ("日本🙂日本",),
            (load_text("tiny-shakespeare")[:2000],)]  # fmt: skip


def _cross_entropy_cases() -> list[tuple[list[float]]]:
    rng = random.Random(2)
    generated = [[rng.uniform(0.01, 1) for _ in range(rng.randint(1, 20))] for _ in range(4)]
    return [([0.5, 0.25],), ([1.0],), ([0.5, 0.0, 0.5],), ([1 / 65] * 10,)] + [
        (p,) for p in generated
    ]


def _add_k_cases() -> list[tuple[int, int, int, float]]:
    return [(0, 10, 5, 1.0), (3, 10, 5, 1.0), (3, 10, 5, 0.01), (0, 0, 65, 1.0),
            (7, 7, 100, 0.5), (12, 40, 30, 2.0)]  # fmt: skip


def _continuation_cases() -> list[tuple[list[tuple[str, str]], str]]:
    san_francisco = [("san", "francisco")] * 5 + [("in", "york"), ("new", "york"), ("of", "york")]
    return [
        (san_francisco, "francisco"),
        (san_francisco, "york"),
        (san_francisco, "kong"),  # never seen
        ([], "york"),
        ([("a", "b"), ("b", "a"), ("a", "a"), ("c", "a"), ("a", "b")], "a"),
    ]


register(
    Exercise(
        name="02.bigram_counts",
        prompt="Return a dict that maps every pair of neighbouring characters `(a, b)` of `text` "
        "to the number of times `b` directly follows `a`. Pairs that never occur are left out.",
        solution=bigram_counts,
        cases=_bigram_cases,
        noun="pairs",
    )
)
register(
    Exercise(
        name="02.cross_entropy",
        prompt="Given the probabilities a model gave to the tokens that really came, return the "
        "cross-entropy in bits per token: minus the mean of their base-2 logarithms. If any "
        "probability is 0, return `math.inf` (without dividing by zero or taking log(0)).",
        solution=cross_entropy,
        cases=_cross_entropy_cases,
        noun="bits",
    )
)
register(
    Exercise(
        name="02.add_k",
        prompt="Return the add-k estimate of P(w | c): `(count + k) / (context_count + k * "
        "vocab_size)`, where `count` is how often `w` followed `c`, `context_count` how often "
        "`c` was followed by anything, and `vocab_size` the number of possible next tokens.",
        solution=add_k,
        cases=_add_k_cases,
        noun="probability",
    )
)
register(
    Exercise(
        name="02.continuation_count",
        prompt="Kneser-Ney asks not how often a word occurs but in how many different contexts. "
        "Given a list of bigrams `(left, right)` (with repeats), return the number of distinct "
        "`left` tokens that `word` follows.",
        solution=continuation_count,
        cases=_continuation_cases,
        noun="contexts",
    )
)
