"""Exercises of notebook 16, "Leaderboard".

Importing this module registers ``16.bits_per_character``, ``16.word_perplexity`` and
``16.pareto_front``: the sums behind the course's leaderboard, which puts every model family
on the same validation text. A BPE model's mean loss per token turned into bits per character
(the scale on which any two tokenizers compare), a per-character loss turned into the per-word
perplexity of word-level papers, and the models worth their size (the Pareto front of size
against bits). The reference solutions work on plain Python numbers and lists, so importing
them imports neither torch nor ``lmcourse.lm`` (the tests compare them with
``lmcourse.lm.bits_per_character``, with counts on the course's text and with a brute force).
"""

import math
import random
from typing import Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import _conversion_hint, describe_difference
from lmcourse.exercises.slips import number_compare, slip_hint

# --------------------------------------------------------------------------- reference solutions


def bits_per_character(nats_per_token: float, tokens: int, characters: int) -> float:
    """A mean loss in nats per token as bits per character of the text it was measured on.

    ``bits/char = nats_per_token · tokens / (ln 2 · characters)``: the mean times the tokens is
    the text's total in nats, a bit is ln 2 nats, and the total is shared among the characters
    that the tokens spell. A BPE model's 3.8262 nats per token over 47,666 tokens of the
    111,537 characters they spell (2.34 characters a token), and a character model's 1.8932
    nats per token, where every token is one character::

        >>> round(bits_per_character(3.8262, 47_666, 111_537), 3)
        2.359
        >>> round(bits_per_character(1.8932, 111_540, 111_540), 3)
        2.731
    """
    total_nats = nats_per_token * tokens
    return total_nats / (math.log(2) * characters)


def word_perplexity(bits_per_char: float, chars_per_word: float) -> float:
    """The per-word perplexity that a loss of ``bits_per_char`` bits per character implies.

    ``perplexity = 2^(bits_per_char · chars_per_word)``: a word, with the space or punctuation
    that follows it, is ``chars_per_word`` characters, so it costs that many characters' bits,
    and 2 to the bits is the perplexity (the number of equally likely choices they are worth).
    2 bits per character, words of 5 characters: 10 bits a word, as hard as one of 1,024::

        >>> word_perplexity(2.0, 5.0)
        1024.0
    """
    bits_per_word = bits_per_char * chars_per_word
    return 2.0**bits_per_word


def pareto_front(models: list[tuple[str, float, float]]) -> list[str]:
    """The names of the models on the Pareto front of size against bits, smallest first.

    ``models`` holds (name, size, bits) tuples; lower is better on both axes. A model is on the
    front when no other is at least as good on both axes and strictly better on one (the same
    size and bits beat nothing). Ties of size are sorted by bits, then name. The LSTM is
    beaten by the GRU, smaller and better; the neural bigram is bigger than the count bigram but
    better, so both stay::

        >>> pareto_front([("count bigram", 1547, 3.632), ("neural bigram", 4900, 3.630),
        ...               ("LSTM", 112838, 2.461), ("GRU", 112250, 2.349)])
        ['count bigram', 'neural bigram', 'GRU']
    """

    def beaten(size: float, bits: float) -> bool:
        return any(s <= size and b <= bits and (s, b) != (size, bits) for _, s, b in models)

    front = [(size, bits, name) for name, size, bits in models if not beaten(size, bits)]
    return [name for size, bits, name in sorted(front)]


# --------------------------------------------------------------------------- feedback
# ``check`` calls ``compare(expected, got)``; the hints also need the case's inputs, so each
# compare tries the cases whose reference output is ``expected`` and names the classic slips
# that return what the learner's function returned (all of them, when two slips coincide).


def _bits_slips(nats: float, tokens: int, characters: int) -> list[tuple[str, float]]:
    total, ln2 = nats * tokens, math.log(2)
    ln10 = "a bit is ln 2 ≈ 0.693 nats: divide by ln 2, not by ln 10 nor times it"
    return [
        ("that is in nats per character: the losses are natural logs; turn them into bits",
         total / characters),
        ("ln 2 is the natural logarithm, math.log(2), not math.log10(2)",
         total / (math.log10(2) * characters)),
        (ln10, total / (math.log(10) * characters)),
        (ln10, total * math.log(10) / characters),
        ("bits = nats / ln 2, not nats · ln 2 (a bit is ln 2 ≈ 0.693 nats)",
         total * ln2 / characters),
        ("that is in bits per token: multiply by the tokens for the text's total, then divide it "
         "by the characters", nats / ln2),
        ("the tokens and the characters are the wrong way round: the total is nats per token "
         "times the tokens, shared among the characters", nats * characters / (ln2 * tokens)),
        ("that is the text's total in bits: divide it by the characters", total / ln2),
        ("nats_per_token is a mean: multiply it by the tokens to get the text's total first",
         nats / (ln2 * characters)),
    ]  # fmt: skip


def _perplexity_slips(bits: float, chars_per_word: float) -> list[tuple[str, float]]:
    per_word = bits * chars_per_word
    base = "the bits are base-2 logarithms: the perplexity is 2, not e nor 10, to the bits a word"
    space = (
        "chars_per_word already counts the space or punctuation after each word, and its bits "
        "are paid too: use it as it is"
    )
    return [
        (base, math.exp(per_word)),
        (base, 10.0**per_word),
        ("that is the perplexity per character: a word costs chars_per_word characters' bits",
         2.0**bits),
        ("that is the bits per word, a logarithm: the perplexity is 2 to that power", per_word),
        ("a word is chars_per_word characters: multiply the bits per character by it, do not "
         "divide", 2.0 ** (bits / chars_per_word)),
        (space, 2.0 ** (bits * (chars_per_word - 1))),
        (space, 2.0 ** (bits * (chars_per_word + 1))),
        ("perplexities multiply: 2^(b·w) is (2^b)^w, not 2^b · w", 2.0**bits * chars_per_word),
    ]  # fmt: skip


def _sweep(models: list, beats: Any, key: Any = lambda m: (m[1], m[2], m[0])) -> list[str]:
    """The names of the models that no other model ``beats``, sorted by ``key``."""
    kept = [m for i, m in enumerate(models)
            if not any(beats(other, m) for j, other in enumerate(models) if j != i)]  # fmt: skip
    return [m[0] for m in sorted(kept, key=key)]


def _front_slips(models: list[tuple[str, float, float]]) -> list[tuple[str, list[str]]]:
    def beats(a: tuple, b: tuple) -> bool:
        return a[1] <= b[1] and a[2] <= b[2] and (a[1], a[2]) != (b[1], b[2])

    every = "that keeps models that another one beats: drop each model that another matches or "\
            "beats on both axes while beating it on one"  # fmt: skip
    one_axis = "compare both axes: a model is beaten only by one that is at least as small and "\
               "has at least as few bits"  # fmt: skip
    order = "sort the front by size, smallest first (ties by bits, then name)"
    return [
        (every, _sweep(models, lambda a, b: False)),
        (every, _sweep(models, lambda a, b: False, key=lambda m: (m[2], m[1], m[0]))),
        (one_axis, _sweep(models, lambda a, b: a[2] < b[2])),
        (one_axis, _sweep(models, lambda a, b: a[1] < b[1])),
        ("two models of the same size and bits do not beat each other: neither is better on an "
         "axis, so both stay", _sweep(models, lambda a, b: a[1] <= b[1] and a[2] <= b[2])),
        ("a model is also beaten by one as good on one axis and better on the other: the same "
         "size with fewer bits beats it", _sweep(models, lambda a, b: a[1] < b[1] and a[2] < b[2])),
        ("fewer bits is better: the bits are the model's loss",
         _sweep(models, lambda a, b: beats((a[0], a[1], -a[2]), (b[0], b[1], -b[2])))),
        (order, _sweep(models, beats, key=lambda m: (m[2], m[1], m[0]))),
        (order, _sweep(models, beats, key=lambda m: (-m[1], -m[2], m[0]))),
        (order, _sweep(models, beats, key=lambda m: (m[1], m[2]))),  # ties in the given order
    ]  # fmt: skip


def _same_names(a: Any, b: Any) -> bool:
    return list(a) == list(b)


def _compare_front(expected: list[str], got: Any) -> str | None:
    """The names in order (a tuple of them is fine, as everywhere); else what differs and why."""
    difference = describe_difference(expected, got, "names")
    if difference is None:
        return None
    if isinstance(got, set | frozenset):
        return f"{difference} (a set has no order: return a list, sorted by size)"
    if not isinstance(got, list | tuple):
        if _conversion_hint(expected, got):  # an array or a generator: it says how
            return difference
        return f"{difference} (return a list of the models' names)"
    if any(isinstance(item, list | tuple) for item in got):
        return f"{difference} (return the models' names only, not their (name, size, bits) tuples)"
    if not all(isinstance(item, str) for item in got):
        return f"{difference} (the items are the models' names, strings)"
    hint = slip_hint(_SOLUTIONS, "16.pareto_front", expected, got, _same_names)
    if hint is None and sorted(got) == sorted(expected):
        hint = "the right models in the wrong order: sort them by size, smallest first"
    return f"{difference} ({hint or _FRONT_FALLBACK})"


_FRONT_FALLBACK = (
    "keep each model that no other matches or beats on both axes while beating it on one, "
    "then sort their names by size"
)

# --------------------------------------------------------------------------- cases


def _bits_cases() -> list[tuple[float, int, int]]:
    return [
        (3.8262, 47_666, 111_537),  # notebook 11's BPE GPT: 2.34 characters a token, 2.359 bits
        (1.8932, 111_540, 111_540),  # the cpu GPT over characters: 2.731 bits
        (4.248495242049359, 111_540, 111_540),  # ln 70: uniform over the 70 characters, 6.129
        (1.4750, 111_540, 111_540),  # the shipped model: 2.128 bits
        (1.3862943611198906, 3, 6),  # ln 4 = 2 bits a token, 3 tokens spelling 6 characters
        (3.3, 1000, 4000),  # GPT-2's tokenizer on English: about 4 characters a token
        (2.2, 1024, 2345),
        (1.5, 300, 100),  # byte tokens of a 3-byte script: more tokens than characters
        (2.5, 1, 1),  # one prediction of one character
        (0.0, 500, 1170),  # a loss of 0: no bits at all
    ]


def _perplexity_cases() -> list[tuple[float, float]]:
    return [
        (2.128, 5.5),  # the shipped model, words of 5.5 characters
        (2.128, 5.432069544890058),  # tiny-shakespeare: 1,115,394 characters in 205,335 words
        (2.731, 5.5),  # the cpu GPT
        (2.180, 5.5),  # the 6-gram
        (6.129, 5.5),  # uniform over the 70 characters: 2^33.7, some 14 billion
        (2.0, 5.0),  # 10 bits a word: 1,024
        (3.632, 4.0),
        (1.2, 5.6),
        (1.0, 1.0),  # one-character words, 1 bit each: a coin toss
        (0.0, 5.5),  # no bits: a perplexity of 1
    ]


#: The README's leaderboard as (model, parameters or counts, bits per character); a test reads
#: the README to check these numbers.
LEADERBOARD = [
    ("uniform", 0, 6.129), ("unigram", 69, 4.774), ("char bigram", 1547, 3.632),
    ("char 6-gram KN", 470_945, 2.180), ("neural bigram", 4900, 3.630), ("MLP", 52_150, 2.546),
    ("RNN lr 1e-2", 104_902, 2.499), ("RNN lr 3e-3", 104_902, 2.394), ("GRU", 112_250, 2.349),
    ("LSTM", 112_838, 2.461), ("GPT cpu", 804_736, 2.731), ("GPT cpu BPE", 926_848, 2.359),
    ("GPT ship", 1_809_216, 2.128),
]  # fmt: skip


def _front_cases() -> list[tuple[list[tuple[str, float, float]]]]:
    cases = [
        [("a", 10, 2.0), ("b", 20, 1.5), ("c", 30, 1.8)],  # c: bigger and worse than b
        list(LEADERBOARD),
        [("x", 100, 2.5), ("y", 100, 2.4), ("z", 50, 3.0)],  # the same size: fewer bits wins
        [("p", 10, 2.0), ("q", 5, 2.0)],  # the same bits: smaller wins
        [  # duplicates: both stay, in order of name
            ("two", 10, 2.0),
            ("one", 10, 2.0),
            ("big", 20, 2.5),
            ("best", 40, 1.0),
            ("small", 5, 3.0),
        ],
        [("d1", 10, 2.0), ("d2", 10, 2.0), ("tiny", 5, 1.5)],  # duplicates, both beaten
        [("w", 400, 1.0), ("v", 1, 4.0), ("u", 30, 2.0), ("t", 7, 3.0)],  # all on it, unsorted
        [("small and good", 1, 1.0), ("m", 2, 1.5), ("n", 3, 1.2), ("o", 1, 1.1)],
        [("Aardvark", 5e5, 2.3)],  # one model
        [],  # none
    ]
    rng = random.Random(16)
    for n in (6, 9, 12):  # few distinct values: ties and duplicates come often
        cases.append([(f"m{i}", rng.choice([1, 2, 3, 5, 8]), rng.choice([1.5, 2.0, 2.5, 3.0]))
                      for i in range(n)])  # fmt: skip
    return [(models,) for models in cases]


_SOLUTIONS = {
    "16.bits_per_character": (bits_per_character, _bits_cases, _bits_slips),
    "16.word_perplexity": (word_perplexity, _perplexity_cases, _perplexity_slips),
    "16.pareto_front": (pareto_front, _front_cases, _front_slips),
}

register(
    Exercise(
        name="16.bits_per_character",
        prompt="A model's loss is measured as a mean cross-entropy, `nats_per_token` nats per "
        "token, over a text of `tokens` predicted tokens that spell `characters` characters. "
        "Return the same loss in bits per character, the scale on which a BPE model and a "
        "character model compare. Checked to within a relative 1e-6.",
        solution=bits_per_character,
        cases=_bits_cases,
        noun="numbers",
        compare=number_compare(
            _SOLUTIONS,
            "16.bits_per_character",
            "turn the mean into the text's total, the nats into bits, then share the bits "
            "among the characters",
        ),
    )
)
register(
    Exercise(
        name="16.word_perplexity",
        prompt="Word-level papers report a perplexity per word. A character model's loss is "
        "`bits_per_char` bits per character; a word, counted with the space or punctuation that "
        "follows it, is `chars_per_word` characters on average (so words × chars_per_word is the "
        "text's length). Return the per-word perplexity that this loss implies. Checked to "
        "within a relative 1e-6.",
        solution=word_perplexity,
        cases=_perplexity_cases,
        noun="numbers",
        compare=number_compare(
            _SOLUTIONS,
            "16.word_perplexity",
            "find the bits a word costs, then the perplexity those bits are worth",
        ),
    )
)
register(
    Exercise(
        name="16.pareto_front",
        prompt="`models` is a list of (name, size, bits) tuples: a model's name, its size "
        "(parameters, or counts for a count model) and its loss in bits per character. Lower "
        "is better on both axes. A model is on the Pareto front when no other model is at least "
        "as good on both axes and strictly better on one (two models of the same size and bits "
        "do not beat each other). Return the names of the models on the front as a list, "
        "sorted by size, smallest first (ties by bits, then by name).",
        solution=pareto_front,
        cases=_front_cases,
        noun="names",
        compare=_compare_front,
    )
)
