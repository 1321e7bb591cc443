"""Bulk n-gram counting with NumPy: every count an n-gram model needs, computed once.

Tokens are integer ids ``0 .. V-1``. A k-gram ``(w1, ..., wk)`` is packed into one integer,
its *key*, by reading the ids as the digits of a base-V number (last token least significant):

    key(w1 ... wk) = w1·V^(k-1) + ... + w(k-1)·V + wk,   so   key(c w) = key(c)·V + w
                                                          and  key(c) = key(c w) // V.

Sorting keys sorts the k-grams alphabetically (by id), so every k-gram that shares a context
``c`` sits in one contiguous block. Then one ``np.unique`` counts all k-grams of a corpus,
``np.add.reduceat`` sums each block (``count(c •)``), the block length is the number of
distinct followers ``N1+(c •)``, and ``np.searchsorted`` looks up any batch of k-grams at once.
Dropping the first token is ``key % V^(k-1)``, which gives the continuation counts
``N1+(• g)`` (how many distinct tokens precede the (k-1)-gram ``g``) with one more ``np.unique``.

The keys are int64 while ``V**n < 2**62``. A bigger vocabulary or order (a word 5-gram model)
falls back to exact Python integers in object arrays: the same code, about ten times slower.

Example (V = 3, ids a=0, b=1, c=2): the bigrams of ``a b a b c`` are ab, ba, ab, bc with keys
1, 3, 1, 5:

>>> table = CountTable.from_keys(np.array([1, 3, 1, 5]), vocab_size=3)
>>> table.keys.tolist(), table.counts.tolist()   # ab: 2, ba: 1, bc: 1
([1, 3, 5], [2, 1, 1])
>>> table.context_keys.tolist(), table.context_total.tolist(), table.context_types.tolist()
([0, 1], [2, 2], [1, 2])
>>> table.count(np.array([1, 2])).tolist()       # ab seen twice, ac never
[2, 0]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

__all__ = [
    "CountTable",
    "check_strings",
    "count_ngrams",
    "encode_sentences",
    "key_dtype",
    "ngrams",
    "pack",
    "pad",
    "sentence_list",
    "training_tokens",
]

# The largest key must stay below this for int64 arithmetic (key·V + w) not to overflow.
INT64_KEY_LIMIT = 2**62


def key_dtype(vocab_size: int, n: int) -> type:
    """``np.int64`` when every n-gram key fits (``V**n < 2**62``), else ``object`` (Python ints).

    >>> key_dtype(30_000, 3), key_dtype(30_000, 5)
    (<class 'numpy.int64'>, <class 'object'>)
    """
    return np.int64 if vocab_size**n < INT64_KEY_LIMIT else object


def sentence_list(sentences: Iterable[Sequence[str]], what: str) -> list[Sequence[str]]:
    """The sentences as a non-empty list; one bare str is refused (one sentence per char?)."""
    if isinstance(sentences, str):
        raise ValueError(
            f"{what} takes a list of sentences, got one str; for a character model of the "
            f"whole text pass [text]."
        )
    try:
        sentences = list(sentences)
    except TypeError:  # None, a number
        raise TypeError(f"{what} takes a list of sentences (each a str or a list of tokens), "
                        f"got {sentences!r:.40}.") from None  # fmt: skip
    if not sentences:
        raise ValueError(f"{what} needs at least one sentence, got none (empty data).")
    for sentence in sentences:
        if isinstance(sentence, bytes) or not isinstance(sentence, Sequence):  # (a str is one)
            raise TypeError(f"{what} takes sentences that are each a str or a list of tokens, "
                            f"got {sentence!r:.40} ({type(sentence).__name__}).")  # fmt: skip
    return sentences


def check_strings(tokens: Iterable) -> None:
    """Refuse, naming it, the first token that is not a str (``None`` included)."""
    for token in tokens:
        if not isinstance(token, str):
            raise ValueError(f"Tokens must be strings, got {token!r} ({type(token).__name__}).")


def training_tokens(
    sentences: Iterable[Sequence[str]], reserved: Sequence[str]
) -> tuple[list[Sequence[str]], Counter]:
    """The sentences as a list and the count of each token, checked for what ``fit`` refuses:
    empty training data, non-string tokens and the model's ``reserved`` symbols.

    >>> training_tokens(["aba", ["b"]], reserved=["<s>"])
    (['aba', ['b']], Counter({'a': 2, 'b': 2}))
    """
    sentences = sentence_list(sentences, "fit")
    counts = Counter(chain.from_iterable(sentences))
    if not counts:
        raise ValueError(
            f"fit needs at least one non-empty sentence, got {len(sentences)} empty sentences "
            "(empty training data)."
        )
    for special in reserved:
        if special in counts:
            raise ValueError(
                f"The training data contains {special!r}, a symbol reserved for the model's "
                f"padding and unknown tokens {tuple(reserved)!r}. Remove it; for rare words "
                f"use min_count=... instead of replacing them yourself."
            )
    check_strings(counts)
    return sentences, counts


def encode_sentences(
    sentences: Sequence[Sequence[str]], lookup: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """All tokens as one id array (via ``lookup``, which must hold every token) and the lengths.

    >>> ids, lengths = encode_sentences([["a", "b"], "ba", []], {"a": 0, "b": 1})
    >>> ids.tolist(), lengths.tolist()
    ([0, 1, 1, 0], [2, 2, 0])
    """
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    tokens = chain.from_iterable(sentences)
    ids = np.fromiter(map(lookup.__getitem__, tokens), dtype=np.int64, count=int(lengths.sum()))
    return ids, lengths


def pad(
    ids: np.ndarray, lengths: np.ndarray, n: int, bos: int, eos: int
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate ``[bos] * (n-1) + sentence + [eos]`` for every sentence; also each end.

    Returns ``(padded, position_end)``: ``position_end[p]`` is where the sentence that holds
    position ``p`` ends (exclusive), so a k-gram starting at p is inside it iff p + k <= end.

    >>> padded, end = pad(np.array([7, 8, 9]), np.array([2, 1]), n=2, bos=0, eos=1)
    >>> padded.tolist(), end.tolist()
    ([0, 7, 8, 1, 0, 9, 1], [4, 4, 4, 4, 7, 7, 7])
    """
    padded_lengths = lengths + n  # (S,) n-1 BOS and one EOS per sentence
    ends = np.cumsum(padded_lengths)
    starts = ends - padded_lengths
    padded = np.full(int(ends[-1]), bos, dtype=np.int64)
    first_token = np.cumsum(lengths) - lengths  # index in ids of each sentence's first token
    positions = np.repeat(starts + n - 1 - first_token, lengths) + np.arange(len(ids))
    padded[positions] = ids
    padded[ends - 1] = eos
    return padded, np.repeat(ends, padded_lengths)


def ngrams(padded: np.ndarray, position_end: np.ndarray, k: int) -> np.ndarray:
    """Every k-gram that lies inside one padded sentence, one per row: shape (N_k, k).

    >>> padded, end = pad(np.array([7, 8]), np.array([2]), n=2, bos=0, eos=1)
    >>> ngrams(padded, end, 2).tolist()
    [[0, 7], [7, 8], [8, 1]]
    """
    windows = np.lib.stride_tricks.sliding_window_view(padded, k)  # (T - k + 1, k), a view
    inside = np.arange(len(windows)) + k <= position_end[: len(windows)]
    return windows[inside]


def pack(grams: np.ndarray, vocab_size: int, dtype: type) -> np.ndarray:
    """The base-V key of each row of ``grams`` (N, k); a row of length 0 has key 0.

    >>> pack(np.array([[0, 1], [2, 2]]), vocab_size=3, dtype=np.int64).tolist()
    [1, 8]
    """
    keys = np.zeros(len(grams), dtype=dtype)
    for j in range(grams.shape[1]):
        keys = keys * vocab_size + grams[:, j].astype(dtype)
    return keys


def _lookup(sorted_keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row of each query in ``sorted_keys`` (clipped to a valid row) and whether it is there."""
    rows = np.minimum(np.searchsorted(sorted_keys, queries), len(sorted_keys) - 1)
    return rows, np.asarray(sorted_keys[rows] == queries, dtype=bool)


@dataclass(frozen=True)
class CountTable:
    """Counts of the distinct k-grams of one order, sorted by key, grouped by context.

    Attributes:
        keys: sorted distinct k-gram keys, shape (U,).
        counts: how often each occurs, shape (U,) (or, for a continuation table, how many
            distinct tokens precede it).
        context_keys: sorted distinct context keys (``key // V``), shape (C,).
        context_total: ``count(c •)``, the sum of ``counts`` over each context's block, (C,).
        context_types: ``N1+(c •)``, the number of distinct k-grams in the block, (C,).
    """

    keys: np.ndarray
    counts: np.ndarray
    context_keys: np.ndarray
    context_total: np.ndarray
    context_types: np.ndarray

    @classmethod
    def from_keys(cls, keys: np.ndarray, vocab_size: int) -> CountTable:
        """Count the keys (one per k-gram occurrence) and summarise each context's block."""
        keys, counts = np.unique(keys, return_counts=True)
        contexts = keys // vocab_size
        block_starts = np.flatnonzero(np.r_[True, contexts[1:] != contexts[:-1]])
        block_lengths = np.diff(np.r_[block_starts, len(keys)])
        total = np.add.reduceat(counts, block_starts)
        return cls(keys, counts, contexts[block_starts], total, block_lengths)

    def count(self, keys: np.ndarray) -> np.ndarray:
        """The count of each queried key; 0 for a key that is not in the table."""
        rows, found = _lookup(self.keys, keys)
        return np.where(found, self.counts[rows], 0)

    def context_stats(self, context_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(count(c •), N1+(c •))`` for each queried context; ``(0, 0)`` for an unseen one."""
        rows, found = _lookup(self.context_keys, context_keys)
        return np.where(found, self.context_total[rows], 0), np.where(
            found, self.context_types[rows], 0
        )


def count_ngrams(
    padded: np.ndarray, position_end: np.ndarray, n: int, vocab_size: int
) -> tuple[dict[int, CountTable], dict[int, CountTable]]:
    """Raw counts of every order 1..n, and continuation counts of orders 1..n-1.

    ``raw[k]`` counts the k-grams of the padded sentences; ``continuation[k].counts`` holds
    ``N1+(• g)``, the number of distinct tokens x with ``count(x g) > 0``, for each k-gram g
    that has one: a distinct (k+1)-gram ``x g`` with its first token dropped is one vote for g.
    """
    dtype = key_dtype(vocab_size, n)
    raw = {}
    for k in range(1, n + 1):
        keys = pack(ngrams(padded, position_end, k), vocab_size, dtype)  # (N_k,)
        raw[k] = CountTable.from_keys(keys, vocab_size)
    continuation = {
        k: CountTable.from_keys(raw[k + 1].keys % vocab_size**k, vocab_size) for k in range(1, n)
    }
    return raw, continuation
