"""Exercises of notebook 02, "Counting: n-gram models".

Importing this module registers ``02.bigram_counts``, ``02.sample_index`` and
``02.kn_bigram_prob``. They build on the notebook rather than repeat it: section 2 samples with
``torch.multinomial`` without saying how one random number picks a character, and section 6
shows the package's vectorised Kneser-Ney, which ``02.kn_bigram_prob`` asks for from a plain
list of bigrams. The reference solutions are plain Python (importing them does not import torch).
"""

import math
import random
from collections import Counter
from typing import Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.slips import number_hint

# --------------------------------------------------------------------------- reference solutions


def bigram_counts(text: str) -> dict[tuple[str, str], int]:
    """How often each pair of neighbouring characters occurs in ``text``.

    >>> bigram_counts("abab")
    {('a', 'b'): 2, ('b', 'a'): 1}
    """
    return dict(Counter(zip(text, text[1:])))


def sample_index(probs: list[float], u: float) -> int:
    """The index that a uniform random number ``u`` in [0, 1) draws from ``probs``.

    Token i owns the interval [p_0 + ... + p_(i-1), p_0 + ... + p_i) of [0, 1), as long as its
    probability: the first i whose running total exceeds u. A token of probability 0 owns an
    empty interval and is never drawn. (Should rounding leave u at or above the total, the last
    token with a probability > 0 is drawn.) With ``u`` uniform, index i comes with probability
    ``probs[i]``: this is how ``torch.multinomial`` turns random bits into a sample::

        >>> sample_index([0.5, 0.25, 0.25], 0.6)  # 0.5 <= 0.6 < 0.75
        1
    """
    total = 0.0
    for i, p in enumerate(probs):
        total += p
        if u < total:
            return i
    return max(i for i, p in enumerate(probs) if p > 0)


def kn_bigram_prob(
    bigrams: list[tuple[str, str]], prev: str, word: str, discount: float, vocab_size: int
) -> float:
    """Interpolated Kneser-Ney ``P(word | prev)`` of a bigram model, the uniform at the bottom.

    With d = ``discount``, V = ``vocab_size``, c(a b) the count of the bigram (a, b) and
    N1+(• w) the number of distinct tokens that w follows (its continuation count)::

        P(w)          = max(N1+(• w) - d, 0) / N1+(• •) + d · N1+(• •)_w / N1+(• •) · 1/V
        P(w | prev)   = max(c(prev w) - d, 0) / c(prev •) + d · N1+(prev •) / c(prev •) · P(w)

    N1+(• •) is the number of distinct bigrams, N1+(• •)_w the number of distinct tokens with a
    continuation count, N1+(prev •) the number of distinct tokens after prev. A level whose
    denominator is 0 (an unseen ``prev``; no bigrams at all) is skipped: the level below is
    used as it is. This is ``NGramLM(n=2, smoothing="kneser_ney", discount=d)``. The package's
    example, ``<s> a b </s>`` and ``<s> a c </s>`` (V = 6: the tokens, <unk>, <s>, </s>)::

        >>> bigrams = [("<s>", "a"), ("a", "b"), ("b", "</s>"), ("<s>", "a"), ("a", "c"),
        ...            ("c", "</s>")]
        >>> kn_bigram_prob(bigrams, "a", "b", 0.5, 6)  # (1 - .5)/2 + .5·2/2·P(b), P(b) = 1/6
        0.33333333333333337
    """
    counts = Counter(bigrams)
    continuation = Counter(right for _, right in counts)  # N1+(• w): distinct left neighbours
    p = 1 / vocab_size  # the uniform
    if counts:  # the unigram level: continuation counts, over N1+(• •) = len(counts)
        alpha = max(continuation[word] - discount, 0) / len(counts)
        p = alpha + discount * len(continuation) / len(counts) * p
    total = sum(c for (left, _), c in counts.items() if left == prev)  # c(prev •)
    if total:  # the bigram level
        followers = sum(left == prev for left, _ in counts)  # N1+(prev •)
        p = max(counts[prev, word] - discount, 0) / total + discount * followers / total * p
    return p


# --------------------------------------------------------------------------- hints


def _hinted(name: str, expected: Any, got: Any, noun: str, slips: Any) -> str | None:
    """``slips.number_hint`` for exercise ``name``: the difference, and the slips that fit."""
    exercise = _EXERCISES[name]
    return number_hint(exercise.solution, exercise.case_list, slips, expected, got, noun)


def _sample_slips(probs: list[float], u: float) -> dict[str, int]:
    running = [sum(probs[: i + 1]) for i in range(len(probs))]
    return {
        "u exactly on a boundary belongs to the next token: return the first i whose running "
        "total is strictly greater than u (u < total), so a token of probability 0 is never "
        "drawn": next((i for i, total in enumerate(running) if u <= total), len(probs) - 1),
        "compare u with the running total p_0 + ... + p_i, not with p_i alone": next(
            (i for i, p in enumerate(probs) if u < p), len(probs) - 1
        ),
        "indices start at 0": sample_index(probs, u) + 1,
        "that is the most likely index (greedy decoding): draw the index whose interval "
        "holds u": max(range(len(probs)), key=probs.__getitem__),
    }


def _compare_sample(expected: int, got: Any) -> str | None:
    return _hinted("02.sample_index", expected, got, "indices", _sample_slips)


def _kn_slips(bigrams: list, prev: str, word: str, d: float, V: int) -> dict[str, float]:
    """What the classic slips return; each recomputes ``kn_bigram_prob`` with one change."""
    counts = Counter(bigrams)
    total = sum(c for (left, _), c in counts.items() if left == prev)
    followers = sum(left == prev for left, _ in counts)

    def top(p_lower: float, gamma_types: float = followers, d_top: float = d) -> float:
        if not total:
            return p_lower
        return max(counts[prev, word] - d_top, 0) / total + d * gamma_types / total * p_lower

    raw = Counter(right for _, right in bigrams)  # occurrences, not contexts
    raw_p = max(raw[word] - d, 0) / len(bigrams) + d * len(raw) / len(bigrams) / V if raw else 1 / V
    left_counts = Counter(left for left, _ in counts)  # distinct followers, not predecessors
    left_p = (
        max(left_counts[word] - d, 0) / len(counts) + d * len(left_counts) / len(counts) / V
        if counts
        else 1 / V
    )
    continuation = Counter(right for _, right in counts)
    nltk_p = continuation[word] / len(counts) if counts else math.nan
    p_lower = kn_bigram_prob(bigrams, "\0no context\0", word, d, V)  # the unigram level alone
    return {
        "the lower level counts in how many different contexts a word occurs, N1+(• w), "
        "not how often it occurs": top(raw_p),
        "N1+(• w) is the number of distinct tokens *before* w, not after it": top(left_p),
        "the lowest level is discounted and mixed with the uniform 1/V too, so that a word never "
        "seen still gets some probability (nltk's variant leaves the uniform out)": top(nltk_p),
        "the weight of the lower level is d · N1+(prev •) / c(prev •): N1+(prev •) counts the "
        "distinct tokens after prev, not their occurrences": top(p_lower, gamma_types=total),
        "subtract the discount d from every seen bigram count: max(c(prev w) - d, 0)": top(
            p_lower, d_top=0.0
        ),
        "a context never seen (c(prev •) = 0) falls back on the lower level, P(w): it is "
        "neither 0 nor the uniform": 0.0 if not total else math.nan,
        "a context never seen (c(prev •) = 0) falls back on the lower level, P(w), which is "
        "itself mixed with the uniform; not on the uniform alone": 1 / V if not total else math.nan,
    }


def _compare_kn(expected: float, got: Any) -> str | None:
    return _hinted("02.kn_bigram_prob", expected, got, "numbers", _kn_slips)


# --------------------------------------------------------------------------- cases


def _bigram_cases() -> list[tuple[str]]:
    from lmcourse.data import load_text  # imported here: lmcourse.data imports torch

    return [("abab",), ("",), ("a",), ("aaaa",), ("to be, or not to be",), ("日本🙂日本",),
            (load_text("tiny-shakespeare")[:2000],)]  # fmt: skip


def _sample_cases() -> list[tuple[list[float], float]]:
    """Boundaries, zeros and a generated distribution; every case draws another index."""
    rng = random.Random(2)
    weights = [rng.expovariate(1.0) for _ in range(12)]
    probs = [w / sum(weights) for w in weights]
    middle = [sum(probs[:i]) + probs[i] / 2 for i in range(len(probs))]  # inside interval i
    return [
        ([0.5, 0.25, 0.25], 0.6),
        ([0.75, 0.25], 0.1),
        ([0.25, 0.25, 0.5], 0.5),  # on a boundary: the third token's interval starts there
        ([0.0, 0.0, 0.0, 1.0], 0.0),  # tokens of probability 0 at the start
        ([0.25, 0.0, 0.0, 0.0, 0.75], 0.25),  # a boundary where empty intervals sit
        ([0.1] * 10, 0.55),
        *[(probs, middle[i]) for i in (6, 7, 9)],
        ([0.05] * 20, 0.999),  # the last token
    ]


# notebook 02's section 6, "san francisco" against "glasses"
TOY_SENTENCES = [
    "i live in san francisco",
    "san francisco is foggy",
    "we flew to san francisco",
    "i need my reading glasses",
    "she lost her glasses",
    "new glasses are expensive",
]


def padded_bigrams(sentences: list[list[str]]) -> list[tuple[str, str]]:
    """The bigrams of ``<s> sentence </s>`` for each sentence: what ``NGramLM(n=2)`` counts."""
    return [pair for s in sentences for pair in zip(["<s>", *s], [*s, "</s>"])]


def _kn_cases() -> list[tuple[list[tuple[str, str]], str, str, float, int]]:
    """Every case has its own expected output: the hints find a case's inputs from it."""
    toy = [s.split() for s in TOY_SENTENCES]
    toy_bigrams, toy_V = padded_bigrams(toy), len({w for s in toy for w in s}) + 3
    chars = padded_bigrams([list("to be or not to be")])
    rng = random.Random(3)
    generated = [rng.choices("abcde", k=rng.randint(1, 8)) for _ in range(12)]
    return [
        (padded_bigrams([["a", "b"], ["a", "c"]]), "a", "b", 0.5, 6),
        (toy_bigrams, "the", "glasses", 0.75, toy_V),  # an unseen context: P(w) alone
        (toy_bigrams, "the", "francisco", 0.75, toy_V),
        (toy_bigrams, "san", "francisco", 0.75, toy_V),
        (toy_bigrams, "san", "glasses", 0.75, toy_V),  # a seen context, an unseen bigram
        (toy_bigrams, "i", "kong", 0.75, toy_V),  # a word never seen: <unk>'s share
        (chars, "o", " ", 0.1, len(set("to be or not to be")) + 3),
        (chars, "t", "o", 0.0, len(set("to be or not to be")) + 3),  # d = 0: the MLE
        (padded_bigrams(generated), "c", "a", 0.75, 8),
        (padded_bigrams(generated), "<s>", "e", 0.3, 8),
        ([], "a", "b", 0.75, 5),  # no bigrams at all: the uniform
    ]


_EXERCISES = {
    "02.bigram_counts": Exercise(
        name="02.bigram_counts",
        prompt="Return a dict that maps every pair of neighbouring characters `(a, b)` of `text` "
        "to the number of times `b` directly follows `a`. Pairs that never occur are left out.",
        solution=bigram_counts,
        cases=_bigram_cases,
        noun="pairs",
    ),
    "02.sample_index": Exercise(
        name="02.sample_index",
        prompt="Sampling by hand: section 2 lets torch.multinomial draw the next character. "
        "Lay the probabilities `probs` end to end on [0, 1): index i owns the interval from "
        "probs[0] + ... + probs[i-1] (included) to probs[0] + ... + probs[i] (excluded). "
        "Return the index whose interval holds `u`, a number in [0, 1); an index with "
        "probability 0 owns nothing and is never returned. With u drawn uniformly, index i comes "
        "out with probability probs[i].",
        solution=sample_index,
        cases=_sample_cases,
        noun="indices",
        compare=_compare_sample,
    ),
    "02.kn_bigram_prob": Exercise(
        name="02.kn_bigram_prob",
        prompt="Section 6's interpolated Kneser-Ney for a bigram model, from a plain list. "
        "`bigrams` lists every (left, right) pair of the training text, repeats included. "
        "Return P_KN(word | prev) = max(c(prev word) - d, 0) / c(prev •) + d · N1+(prev •) / "
        "c(prev •) · P_KN(word), where c counts bigrams, c(prev •) is how many bigrams start "
        "with prev and N1+(prev •) how many distinct tokens follow prev. The lower level uses "
        "continuation counts: P_KN(word) = max(N1+(• word) - d, 0) / N1+(• •) + d · T / N1+(• •) "
        "· 1/V, with N1+(• word) the number of distinct tokens before word, N1+(• •) the number "
        "of distinct bigrams, T the number of distinct tokens that end a bigram and V = "
        "`vocab_size`. A level whose denominator is 0 (prev never starts a bigram; no bigrams "
        "at all) is skipped: its value is the level below. d = `discount`.",
        solution=kn_bigram_prob,
        cases=_kn_cases,
        noun="numbers",
        compare=_compare_kn,
    ),
}
for _exercise in _EXERCISES.values():
    register(_exercise)
