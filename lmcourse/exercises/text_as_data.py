"""Exercises of notebook 01, "Text as data": encode, decode, split, top words, unknown words.

Importing this module registers the exercises ``01.encode``, ``01.decode``, ``01.split``,
``01.top_words`` and ``01.unk_rate``. The functions below are the reference solutions:
``check`` compares a learner's function with them, and ``show_solution`` shows their code to
whoever asks for it. ``01.unk_rate`` builds on section 5's table, which
``WordTokenizer.unk_rate`` computes without the notebook showing how.
"""

import random
from collections import Counter
from typing import Any

from lmcourse.exercises.core import Exercise, describe_difference, register
from lmcourse.exercises.slips import number_hint

# The opening of Richard III: a line of the course's corpus, with a capital, a newline and ";".
RICHARD_III = "Now is the winter of our discontent\nMade glorious summer by this sun of York;"
# Accented Greek, Japanese and an emoji: one character each, though several bytes in UTF-8.
NON_LATIN = "Ἀρχὴ日本🙂"


# --------------------------------------------------------------------------- reference solutions


def encode(text: str, vocab: list[str]) -> list[int]:
    """Each character of ``text`` replaced by its id: its position in ``vocab``.

    Example::

        >>> encode("hello", ['e', 'h', 'l', 'o'])
        [1, 0, 2, 2, 3]
    """
    char_to_id = {char: i for i, char in enumerate(vocab)}
    return [char_to_id[char] for char in text]


def decode(ids: list[int], vocab: list[str]) -> str:
    """The inverse of ``encode``: the characters with these ids, joined into one string.

    Example::

        >>> decode([1, 0, 2, 2, 3], ['e', 'h', 'l', 'o'])
        'hello'
    """
    return "".join(vocab[i] for i in ids)


def split(data: Any, val_fraction: float) -> tuple[Any, Any]:
    """The contiguous train/validation split: the first part trains, the rest validates.

    The training part is the first ``int((1 - val_fraction) * len(data))`` items; nothing
    is shuffled. Works for strings and lists alike.

    Example::

        >>> split("abcdefghij", 0.2)  # int(0.8 * 10) = 8 items for training
        ('abcdefgh', 'ij')
    """
    n_train = int((1 - val_fraction) * len(data))
    return data[:n_train], data[n_train:]


def top_words(words: list[str], k: int) -> list[tuple[str, int]]:
    """The ``k`` most frequent words with their counts, most frequent first.

    Words with equal counts are in alphabetical order.

    Example::

        >>> top_words(["to", "be", "or", "not", "to", "be"], 2)
        [('be', 2), ('to', 2)]
    """
    counts = Counter(words)
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    return ranked[:k]


def unk_rate(train_words: list[str], val_words: list[str], min_count: int) -> float:
    """The share of ``val_words`` outside the vocabulary of words seen ``min_count`` times.

    The vocabulary is every word that occurs at least ``min_count`` times in ``train_words``;
    every validation token, repeats included, counts once. No validation tokens: 0.0.

    Example (``min_count=2`` keeps "to" and "be"; "or" and "not" are unknown)::

        >>> unk_rate("to be or not to be".split(), "to be or not".split(), 2)
        0.5
    """
    counts = Counter(train_words)
    unknown = sum(counts[word] < min_count for word in val_words)
    return unknown / len(val_words) if val_words else 0.0


# --------------------------------------------------------------------------- feedback


def _compare_split(expected: tuple[Any, Any], got: Any) -> str | None:
    """Name the part that is wrong, and spot the two classic mistakes: val first, shuffling."""
    if not isinstance(got, (tuple, list)):
        return f"expected a pair (train, val), got a {type(got).__name__}"
    if len(got) != 2:
        return f"expected a pair (train, val), got {len(got)} items"
    train, val = expected
    if describe_difference((val, train), got) is None and train != val:
        return "you returned (validation, training): return the training part first"
    for part, part_expected, part_got in zip(
        ("training", "validation"), expected, got, strict=True
    ):
        difference = describe_difference(part_expected, part_got, "items")
        if difference is None:
            continue
        if _shuffled(train, val, got):
            difference += " (all items are there, in another order: do not shuffle)"
        return f"{part} part: {difference}"
    return None


def _shuffled(train: Any, val: Any, got: Any) -> bool:
    """Whether ``got``'s two parts hold the items of ``train + val`` in another order."""
    try:
        items_got, items_expected = [*got[0], *got[1]], [*train, *val]
    except TypeError:  # a part that is not a sequence
        return False
    same_items = sorted(map(repr, items_got)) == sorted(map(repr, items_expected))
    return same_items and items_got != items_expected


def _compare_top_words(expected: list[tuple[str, int]], got: Any) -> str | None:
    """The default comparison, with a hint when the pairs are right but their order is not."""
    difference = describe_difference(expected, got, "pairs")
    if difference is None:
        return None
    try:
        right_pairs = sorted(tuple(pair) for pair in got) == sorted(expected)
    except TypeError:
        right_pairs = False
    if right_pairs:
        difference += " (right pairs, wrong order: highest count first, ties alphabetically)"
    return difference


def _unk_rate_slips(train: list[str], val: list[str], min_count: int) -> dict[str, float]:
    """What the classic slips return for these inputs, each with the hint that names it."""
    counts, n = Counter(train), max(len(val), 1)
    unknown = sum(counts[word] < min_count for word in val)
    kinds = set(val)
    return {
        "a word seen fewer than min_count times in training is not in the vocabulary either: "
        "it is unknown too": sum(word not in counts for word in val) / n,
        "a word seen exactly min_count times is in the vocabulary: keep the words seen "
        "min_count times or more": sum(counts[word] <= min_count for word in val) / n,
        "count every validation token, repeats included, not the distinct words": (
            sum(counts[word] < min_count for word in kinds) / max(len(kinds), 1)
        ),
        "that is the share of known tokens: return the share of unknown ones": 1 - unknown / n,
        "that is the number of unknown tokens: divide it by the number of validation tokens": float(
            unknown
        ),
        "a share is between 0 and 1, not a percentage": 100 * unknown / n,
    }


def _compare_unk_rate(expected: float, got: Any) -> str | None:
    """``describe_difference``, plus a hint when ``got`` is what a classic slip returns."""
    exercise = _EXERCISES["01.unk_rate"]
    return number_hint(exercise.solution, exercise.case_list, _unk_rate_slips, expected, got)


# --------------------------------------------------------------------------- cases


def _vocabulary(text: str) -> list[str]:
    """The distinct characters of ``text``, sorted: notebook 01's section 2."""
    return sorted(set(text))


def _encode_cases() -> list[tuple[str, list[str]]]:
    """Texts with their own vocabulary, and short texts with a larger vocabulary."""
    texts = ["hello", "", "to be, or not to be", NON_LATIN, RICHARD_III]
    cases = [(text, _vocabulary(text)) for text in texts]
    cases += [("banana", ["a", "b", "n"]), ("no sun", _vocabulary(RICHARD_III))]
    return cases


def _decode_cases() -> list[tuple[list[int], list[str]]]:
    return [(encode(text, vocab), vocab) for text, vocab in _encode_cases()]


def _top_words_cases() -> list[tuple[list[str], int]]:
    """Ties in most cases (only alphabetical order breaks them) and a seeded random sample."""
    rng = random.Random(1)
    groceries = rng.choices(["eggs", "bread", "milk", "cheese", "apples", "dates"], k=40)
    return [
        ("to be or not to be".split(), 2),
        ("b a c b a c d".split(), 3),
        ("the cat sat on the mat the end".split(), 1),
        (RICHARD_III.lower().replace(";", "").split(), 4),
        ("one two two".split(), 5),  # k larger than the number of distinct words
        ([], 3),
        (groceries, 4),
    ]


def _unk_rate_cases() -> list[tuple[list[str], list[str], int]]:
    """Hand-checkable lists, the edge cases, and a real train/validation split of words."""
    from lmcourse.data import load_text, train_val_split  # here: lmcourse.data imports torch
    from lmcourse.tokenizers import WordTokenizer

    train, val = train_val_split(load_text("tiny-shakespeare")[:60_000], 0.1)
    to_be = "to be or not to be".split()
    return [
        (to_be, "to be or not".split(), 2),  # 2 of 4 unknown
        (to_be, "to be or not to sleep".split(), 1),  # only "sleep": 1/6
        (to_be, "be or not to be , perchance to dream".split(), 3),  # none of 9 seen 3 times
        (to_be, "to be to be or".split(), 2),  # repeats count: 1 of 5 ("or")
        (to_be, [], 1),  # no validation tokens: 0.0
        (to_be, "not or not or be".split(), 1),  # all known
        (RICHARD_III.lower().replace(";", " ;").split(), "now is our content".split(), 1),
        (WordTokenizer.split(train, lowercase=True), WordTokenizer.split(val, lowercase=True), 2),
    ]


register(
    Exercise(
        name="01.encode",
        prompt="Turn `text` into a list of ids: each character becomes its index in `vocab`. "
        "Every character of `text` is in `vocab`.",
        solution=encode,
        cases=_encode_cases,
        noun="ids",
    )
)
register(
    Exercise(
        name="01.decode",
        prompt="Undo `encode`: turn a list of `ids` back into the string they stand for, "
        "using the same `vocab`.",
        solution=decode,
        cases=_decode_cases,
        noun="characters",
    )
)
register(
    Exercise(
        name="01.split",
        prompt="Split `data` (a string or a list) into a training part and a validation part, "
        "returned as a pair `(train, val)`. Do not shuffle: the training part is the first "
        "`int((1 - val_fraction) * len(data))` items and the validation part is the rest.",
        solution=split,
        cases=(
            ("abcdefghij", 0.2),
            (list(range(10)), 0.25),
            ("hello world", 0.5),
            (list("to be or not"), 0.1),
            (RICHARD_III, 0.1),
        ),
        noun="items",
        compare=_compare_split,
        signature="split(data: str | list, val_fraction: float) -> tuple",
    )
)
register(
    Exercise(
        name="01.top_words",
        prompt="Count the `words` and return the `k` most frequent as `(word, count)` pairs, "
        "the most frequent first. Break ties alphabetically. If there are fewer than `k` "
        "distinct words, return them all.",
        solution=top_words,
        cases=_top_words_cases,
        noun="pairs",
        compare=_compare_top_words,
    )
)
_EXERCISES = {
    "01.unk_rate": Exercise(
        name="01.unk_rate",
        prompt="Section 5's question, by hand. The vocabulary is every word that occurs at "
        "least `min_count` times in `train_words`. Return the share of the tokens of "
        "`val_words` (repeats included: each occurrence counts) that are not in it, a number "
        "between 0 and 1; if `val_words` is empty, return 0.0.",
        solution=unk_rate,
        cases=_unk_rate_cases,
        noun="numbers",
        compare=_compare_unk_rate,
    ),
}
for _exercise in _EXERCISES.values():
    register(_exercise)
