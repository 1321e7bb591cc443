"""Exercises of notebook 11, "Tokenization".

Importing this module registers ``11.most_frequent_pair``, ``11.encode_by_replay`` and
``11.bits_per_character``: one step of training byte-level BPE, encoding a chunk by replaying
the learned merges, and the unit that compares models whose tokens differ. The reference
solutions work on plain Python ints, tuples and strings, so importing them imports neither
torch nor ``lmcourse.bpe`` (the tests compare them with ``lmcourse.bpe``).
"""

import math
import numbers
import operator
import random
from collections import Counter
from typing import Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import _short, describe_difference
from lmcourse.exercises.slips import close

# --------------------------------------------------------------------------- reference solutions


def most_frequent_pair(words: dict[tuple[int, ...], int]) -> tuple[int, int] | None:
    """The most frequent pair of adjacent ids over all chunks; None when there is no pair.

    ``words`` maps a chunk's ids to how often the chunk occurs in the text, so a chunk's pairs
    count that many times; overlapping pairs count ((1, 1, 1) has (1, 1) twice), pairs across
    two chunks do not. Of pairs with the same count, the smallest (a, b) wins, as in
    ``lmcourse.bpe.train_bpe``. Here (6, 7) occurs once in the first chunk and 3 times in the
    second, 4 in all; (5, 6) only 2 times::

        >>> most_frequent_pair({(5, 6, 7): 1, (6, 7): 3, (5, 6): 1})
        (6, 7)
    """
    counts: dict[tuple[int, int], int] = {}
    for ids, n in words.items():
        for pair in zip(ids, ids[1:]):
            counts[pair] = counts.get(pair, 0) + n
    if not counts:
        return None
    return min(counts, key=lambda pair: (-counts[pair], pair))


def encode_by_replay(ids: list[int], merges: list[tuple[int, int]]) -> list[int]:
    """``ids`` after replaying the merges in the order they were learned.

    Merge i replaces every occurrence of ``merges[i]``, scanning left to right (of two
    overlapping occurrences the left one wins), by the id 256 + i; each merge runs once, over
    the whole sequence, on what the merges before it left::

        >>> encode_by_replay([1, 2, 3, 1, 2], [(1, 2), (256, 3)])  # [256, 3, 256], then 256 3
        [257, 256]
    """
    for i, (a, b) in enumerate(merges):
        merged, j = [], 0
        while j < len(ids):
            if j + 1 < len(ids) and ids[j] == a and ids[j + 1] == b:
                merged.append(256 + i)
                j += 2
            else:
                merged.append(ids[j])
                j += 1
        ids = merged
    return list(ids)


def bits_per_character(token_nats: list[float], token_texts: list[str]) -> float:
    """The loss of a text in bits per character, from its tokens' losses in nats.

    ``token_nats[i]`` is the loss (−ln p) of the i-th predicted token and ``token_texts[i]`` the
    text it spells. The total in bits (nats / ln 2) over the number of characters: unlike bits
    per token, it compares models whose tokens are of different lengths. 1 bit and 2 bits over
    5 characters::

        >>> bits_per_character([math.log(2), math.log(4)], ["to", " be"])
        0.6
    """
    return sum(token_nats) / math.log(2) / sum(len(text) for text in token_texts)


# --------------------------------------------------------------------------- feedback
# ``check`` calls ``compare(expected, got)``; the hints also need the case's inputs, so each
# compare tries the cases whose reference output is ``expected`` (several may share it) and
# names the first classic slip that returns exactly what the learner's function returned.


def _cases_with(name: str, expected: Any) -> list[tuple[Any, ...]]:
    solution, cases = _SOLUTIONS[name]
    return [args for args in cases() if solution(*args) == expected]


def _hint(name: str, expected: Any, got: Any, slips: Any, same: Any = operator.eq) -> str | None:
    """The first hint of ``slips(*args)``, ``[(hint, value), ...]``, whose value is ``got``."""
    for args in _cases_with(name, expected):
        try:
            pairs = slips(*args)
        except ArithmeticError:  # a slip that divides by 0 on this case
            continue
        for hint, value in pairs:
            if not same(value, expected) and same(value, got):
                return hint
    return None


def _pair_counts(words: dict, weight: Any = None, overlap: bool = True) -> Counter:
    """Pair counts in order of first use, each chunk's times ``weight(n)`` (default n); without
    ``overlap`` a pair's uses cannot share an id, as ``str.count`` counts: (7, 7, 7) has one."""
    counts: Counter = Counter()
    for ids, n in words.items():
        pairs = list(zip(ids, ids[1:]))
        for pair in dict.fromkeys(pairs):
            found = pairs.count(pair) if overlap else len(ids) - len(_scan(list(ids), pair, -1))
            counts[pair] += found * (weight(n) if weight else n)
    return counts


def _best(counts: Counter, sign: int = 1) -> tuple[int, int] | None:
    return min(counts, key=lambda p: (-counts[p], sign * p[0], sign * p[1])) if counts else None


def _pair_slips(words: dict) -> list[tuple[str, Any]]:
    ties = "of pairs with the same count, the smallest (a, b) wins: compare a first, then b"
    border = "pairs are counted only inside a chunk: the last id of one chunk and the first id of "
    joined = [
        tuple(i for chunk, n in words.items() for _ in range(n**r) for i in chunk) for r in (1, 0)
    ]
    counts = _pair_counts(words)
    return [
        (f"{ties} (yours took the largest)", _best(counts, -1)),
        (f"{ties} (yours took the one seen first)", max(counts, key=counts.get, default=None)),
        (
            "a chunk that occurs n times has its pairs n times: count each pair once per "
            "occurrence of its chunk, not once per chunk",
            _best(_pair_counts(words, lambda n: 1)),
        ),
        (
            "pairs overlap: in (1, 1, 1) the pair (1, 1) occurs twice, at positions 0 and 1",
            _best(_pair_counts(words, overlap=False)),
        ),
        *((border + "the next are not a pair", _best(_pair_counts({ids: 1}))) for ids in joined),
    ]


def _compare_pair(expected: tuple[int, int] | None, got: Any) -> str | None:
    """``describe_difference`` plus the slips: ties, multiplicities, overlaps, chunk borders."""
    difference = describe_difference(expected, got, "ids")
    if difference is None:
        return None
    got = tuple(got) if isinstance(got, list | tuple) else got
    if expected is not None and isinstance(got, tuple) and len(got) == 2:
        difference = f"expected {expected}, got {_short(got)}"  # the pair, not its position 0
    if expected is None:
        hint = "no chunk here has two ids, so there is no pair: return None"
    elif isinstance(got, tuple) and len(got) == 2 and got[0] in (expected, list(expected)):
        hint = "return the pair alone, (a, b), without its count"
    else:
        hint = _hint("11.most_frequent_pair", expected, got, _pair_slips)
    if hint is None and isinstance(got, tuple) and len(got) == 2:
        cases = _cases_with("11.most_frequent_pair", expected)
        if any(got in _pair_counts(words) for (words,) in cases):
            hint = "count every pair of adjacent ids in every chunk, times the chunk's count"
        else:
            hint = "that pair is not two adjacent ids of any chunk, in that order"
    return f"{difference} ({hint})" if hint else difference


def _scan(ids: list[int], pair: tuple[int, int], new_id: int, step: int = 2, limit: int = -1):
    """Left-to-right merging; ``step`` 1 forgets to skip the pair's second id, ``limit`` caps."""
    out, j = [], 0
    while j < len(ids):
        if limit != 0 and j + 1 < len(ids) and (ids[j], ids[j + 1]) == tuple(pair):
            out.append(new_id)
            j, limit = j + step, limit - 1
        else:
            out.append(ids[j])
            j += 1
    return out


def _replay_slips(ids: list[int], merges: list) -> list[tuple[str, list[int]]]:
    def replay(order: Any = list, first_id: int = 256, merge: Any = _scan) -> list[int]:
        out = list(ids)
        for i in order(range(len(merges))):
            out = merge(out, merges[i], first_id + i)
        return out

    def right_to_left(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
        return _scan(ids[::-1], pair[::-1], new_id)[::-1]

    return [
        ("scan left to right: in (7, 7, 7) the first two 7s merge", replay(merge=right_to_left)),
        (
            "the merges run in the order they were learned, merges[0] first over the whole "
            "sequence, then merges[1], and so on",
            replay(order=reversed),
        ),
        ("merge i makes the id 256 + i, so merges[0] makes 256", replay(first_id=257)),
        (
            "a merge replaces every occurrence of its pair, not only the first",
            replay(merge=lambda ids, pair, n: _scan(ids, pair, n, limit=1)),
        ),
        (
            "the new id replaces both ids of the pair: after a merge, skip the pair's second id",
            replay(merge=lambda ids, pair, n: _scan(ids, pair, n, step=1)),
        ),
    ]


def _compare_replay(expected: list[int], got: Any) -> str | None:
    difference = describe_difference(expected, got, "ids")
    if difference is None or not isinstance(got, list | tuple):
        return difference
    hint = _hint("11.encode_by_replay", expected, list(got), _replay_slips)
    return f"{difference} ({hint})" if hint else difference


def _bits_slips(nats: list[float], texts: list[str]) -> list[tuple[str, float]]:
    total, chars = sum(nats), sum(len(text) for text in texts)
    bits, n_bytes = total / math.log(2), sum(len(text.encode("utf-8")) for text in texts)
    mean_ratio = sum(n / len(t) for n, t in zip(nats, texts)) / math.log(2) / len(texts)
    return [
        (
            "that is bits per token: divide by the number of characters the tokens spell",
            bits / len(texts),
        ),
        ("that is in nats: the losses are natural logs; turn them into bits", total / chars),
        (
            "bits = nats / ln 2, not nats · ln 2 (a bit is ln 2 ≈ 0.693 nats)",
            total * math.log(2) / chars,
        ),
        ("ln 2 is the natural logarithm, math.log(2), not log10(2)", total / math.log10(2) / chars),
        ("count characters, len(text), not UTF-8 bytes", bits / n_bytes),
        (
            "the total bits over the total characters, not the mean of each token's bits per "
            "character: a long token must weigh more than a short one",
            mean_ratio,
        ),
        ("that is the total in bits: divide it by the number of characters", bits),
        ("upside down: bits per character is bits divided by characters", chars / bits),
    ]


def _compare_bits(expected: float, got: Any) -> str | None:
    """Equal within 1e-6 (float32 sums pass); else the difference and the slip, if known."""
    if not isinstance(got, numbers.Real) or isinstance(got, bool):
        return describe_difference(expected, got, "numbers")
    if close(expected, got):
        return None
    hint = _hint("11.bits_per_character", expected, got, _bits_slips, close)
    difference = f"expected {_short(expected)}, got {_short(got)}"
    return f"{difference} ({hint})" if hint else difference


# --------------------------------------------------------------------------- cases


def _chunks(text: str) -> list[str]:
    """GPT-2's chunks of a text of words split by single spaces: a word takes the space before."""
    first, *rest = text.split(" ")
    return [first] + [" " + word for word in rest]


def _words(text: str, merges: list[tuple[int, int]]) -> dict[tuple[int, ...], int]:
    """Each distinct chunk's ids after ``merges``, with how many times the chunk occurs."""
    chunks = Counter(_chunks(text))
    return {tuple(encode_by_replay(list(c.encode("utf-8")), merges)): n for c, n in chunks.items()}


def _learn_merges(text: str, n_merges: int) -> list[tuple[int, int]]:
    """``train_bpe``'s merges, the slow way: recount every pair after every merge."""
    merges: list[tuple[int, int]] = []
    while len(merges) < n_merges:
        pair = most_frequent_pair(_words(text, merges))
        if pair is None:
            break
        merges.append(pair)
    return merges


#: Short texts of lower-case words and single spaces, where ``_chunks`` is GPT-2's split.
TEXTS = [
    "the cat sat on the mat with the hat",
    "to be or not to be that is the question",
    "she sells sea shells by the sea shore",
    "café au lait naïve café",
]


def _pair_cases() -> list[tuple[dict[tuple[int, ...], int]]]:
    cases = [
        ({(5, 6, 7): 1, (6, 7): 3, (5, 6): 1},),  # counted once per chunk, (5, 6) would tie
        ({(4, 9): 1, (4, 2): 1, (7, 1): 1},),  # a three-way tie: the smallest, not the first
        ({(2, 8, 2, 3): 1},),  # a tie decided by b
        ({(7, 7, 7): 1, (2, 5): 1},),  # overlapping pairs count twice
        ({(9, 9, 9, 9): 2, (9, 4): 5},),  # overlaps times a multiplicity
        ({(6, 1): 1, (6, 1, 6): 1},),  # (1, 6) would win across the chunks' border
        ({(104,): 9, (10,): 4, (111, 104): 1},),  # one chunk of two ids among single ids
        ({},),  # no chunk at all
        ({(104,): 5, (32,): 2},),  # only single ids: no pair
        ({(256, 100): 3, (32, 256): 2, (32, 256, 100): 1},),  # ids made by earlier merges
    ]
    for text in TEXTS:
        cases.append((_words(text, []),))
    cases.append((_words(TEXTS[0], _learn_merges(TEXTS[0], 4)),))  # after 4 merges
    return cases


def _replay_cases() -> list[tuple[list[int], list[tuple[int, int]]]]:
    cases = [
        ([1, 2, 3, 1, 2], [(1, 2), (256, 3)]),
        ([7, 7, 7, 7, 7], [(7, 7)]),  # overlapping occurrences: the left one wins
        ([1, 2, 3], [(2, 3), (1, 2)]),  # the order of the merges decides, not the position
        ([5, 6, 5, 6], [(9, 9), (5, 6), (257, 257)]),  # a merge that finds nothing still counts
        ([3, 3, 3, 4], [(3, 4), (3, 3)]),
        ([8, 8, 8, 9, 8, 8], [(8, 8), (256, 9), (257, 256)]),
        ([], [(1, 2)]),
        ([104, 105], []),
        ([42], [(1, 2)]),
    ]
    unseen = {0: [" that", " chat", "the", " mathematics"], 2: [" seashells"], 3: [" naïveté"]}
    for i, chunks in unseen.items():
        merges = _learn_merges(TEXTS[i], 10)
        cases += [(list(chunk.encode("utf-8")), merges) for chunk in chunks]
    return cases


def _bits_cases() -> list[tuple[list[float], list[str]]]:
    rng = random.Random(11)
    cases = [
        ([math.log(2), math.log(4)], ["to", " be"]),  # 1 bit and 2 bits over 5 characters
        ([2.0, 1.0, 0.5, 1.5], ["T", "o", " ", "b"]),  # one character each: bits per token
        ([3.2, 0.4, 5.1, 0.9], [" the", "e", " Romeo", ",\n"]),
        ([1.1, 2.3, 0.7], ["café", " naïve", " ☕"]),  # characters, not bytes
        ([4.0], ["hello"]),
        ([0.01, 0.02, 7.5], ["ROMEO", ":\n", "Ay"]),
    ]
    pieces = [" the", " and", "e", "s", " ", "\n", "ing", " Romeo", ",", "ou", "'d", " —", "é"]
    for n in (12, 40):
        texts = [rng.choice(pieces) for _ in range(n)]
        cases.append(([round(rng.expovariate(0.5), 4) for _ in texts], texts))
    return cases


_SOLUTIONS = {
    "11.most_frequent_pair": (most_frequent_pair, _pair_cases),
    "11.encode_by_replay": (encode_by_replay, _replay_cases),
    "11.bits_per_character": (bits_per_character, _bits_cases),
}

register(
    Exercise(
        name="11.most_frequent_pair",
        prompt="One step of training BPE. `words` maps the ids of each distinct chunk of the text "
        "to how many times that chunk occurs. Return the pair of adjacent ids (a, b) that occurs "
        "most often over all chunks: a chunk's pairs count as many times as the chunk occurs, "
        "overlapping pairs count ((1, 1, 1) has the pair (1, 1) twice), and two ids in different "
        "chunks are never a pair. Of pairs with the same count, return the smallest (a, b) "
        "(compare a first, then b). Return None when no chunk has two ids.",
        solution=most_frequent_pair,
        cases=_pair_cases,
        noun="ids",
        compare=_compare_pair,
    )
)
register(
    Exercise(
        name="11.encode_by_replay",
        prompt="Encode a chunk by replaying the merges in the order they were learned: merge i "
        "turns every occurrence of the pair merges[i] into the new id 256 + i, scanning the ids "
        "left to right (of two overlapping occurrences, the left one is merged). Each merge "
        "runs once over the whole sequence, on what the merges before it left. Return the "
        "ids as a list.",
        solution=encode_by_replay,
        cases=_replay_cases,
        noun="ids",
        compare=_compare_replay,
    )
)
register(
    Exercise(
        name="11.bits_per_character",
        prompt="Given the loss in nats (−ln p) of each predicted token and the text that each of "
        "those tokens spells, return the loss in bits per character: the total in bits divided "
        "by the number of characters the tokens spell. Unlike bits per token, it compares models "
        "whose tokenizers differ. Checked to within a relative 1e-6.",
        solution=bits_per_character,
        cases=_bits_cases,
        noun="numbers",
        compare=_compare_bits,
    )
)
