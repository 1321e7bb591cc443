"""Byte-level byte-pair encoding (BPE): the tokenizer of GPT-2, trained from scratch.

Characters give a small vocabulary and long sequences; words give short sequences and a
vocabulary with no end (and ``<unk>`` for every word never seen). BPE sits between them. It
starts from the 256 possible bytes of UTF-8 text, so every text can be encoded and nothing is
ever unknown, and then learns merges from a training text (Sennrich et al. 2016, after Gage's
1994 compression algorithm):

    repeat vocab_size - 256 times:
        (a, b) = the most frequent pair of adjacent tokens in the training text
        replace every (a, b) by a new token, id 256, 257, ...: its bytes are bytes(a) + bytes(b)

Each merge saves one token per occurrence of its pair, so the first merges (space + ``t``,
``h`` + ``e``) shorten the text most. Before counting, the text is cut into chunks by
GPT-2's pattern (a word with the space before it, a number, a run of punctuation, spaces), and
pairs are counted only inside chunks: no token ever spans the end of one word and the start of
the next.

Encoding a new text replays what training learned: in each chunk, start from its bytes and
repeatedly merge the adjacent pair that was learned first (the lowest merge index), until no
adjacent pair is a merge. This is GPT-2's own encoder; ``decode`` joins the tokens' bytes.

>>> tok = train_bpe("low lower lowest", vocab_size=259)
>>> [tok.token_text(i) for i in range(256, 259)]
['lo', 'low', ' low']
>>> tok.encode("lowly")
[257, 108, 121]
>>> tok.decode([257, 108, 121])
'lowly'
"""

from __future__ import annotations

import heapq
import operator
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from lmcourse.tokenizers import JsonFile, _check_dict, _check_text, _to_id_list
from lmcourse.utils import is_int

__all__ = ["GPT2_SPLIT_PATTERN", "BPETokenizer", "merge_pair", "pair_counts", "split_text",
           "train_bpe"]  # fmt: skip

#: GPT-2's pre-tokenization,
#: ``'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+``,
#: written for Python's ``re``: a contraction, a run of letters with the space before it, a run
#: of digits, a run of other symbols, spaces that a word does not take. ``\p{L}`` (letters) and
#: ``\p{N}`` (numbers) exist only in the ``regex`` package; ``[^\W\d_]`` and ``\d`` say the
#: same on ASCII text. ``re``'s ``\s`` also matches the separators ``\x1c``-``\x1f``, which
#: GPT-2's does not, so whitespace is written ``[^\S\x1c-\x1f]``. The splits are GPT-2's on
#: ASCII text and nearly so beyond it: ``re`` counts the 1,131 numbers of Unicode's categories No
#: and Nl (``²``, ``½``, ``Ⅻ``) as letters, ``regex`` as numbers (the plays have none of them).
GPT2_SPLIT_PATTERN = (
    r"'(?:[sdmt]|ll|ve|re)"  # a contraction: 's 't 'd 'm 'll 've 're
    r"| ?[^\W\d_]+"  # letters, with the space before them
    r"| ?\d+"  # digits, with the space before them
    r"| ?(?:[^\s\w]|[_\x1c-\x1f])+"  # anything else but whitespace
    r"|[^\S\x1c-\x1f]+(?![\S\x1c-\x1f])"  # whitespace up to (not incl.) a word's space
    r"|[^\S\x1c-\x1f]+"  # whitespace at the end of the text
)

_BYTES = 256  # ids 0..255 are the single bytes; merge i makes id 256 + i


def split_text(text: str, pattern: str | None = GPT2_SPLIT_PATTERN) -> list[str]:
    """The chunks of ``text`` that BPE merges inside but never across; they join to ``text``.

    >>> split_text("Hello world, it's 2024!")
    ['Hello', ' world', ',', ' it', "'s", ' 2024', '!']
    """
    _check_text(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:  # a lone surrogate such as '\ud800': no UTF-8 bytes at all
        c = text[err.start]
        raise ValueError(
            f"Character {c!r} (U+{ord(c):04X}) at position {err.start} is a lone surrogate, "
            "not a character: it has no UTF-8 bytes."
        ) from None
    _check_pattern(pattern)
    if pattern is None:
        return [text] if text else []
    chunks = [match.group(0) for match in re.finditer(pattern, text)]
    if "".join(chunks) != text:
        raise ValueError(
            f"The pattern {pattern!r} leaves out characters of the text: its matches must "
            "cover the whole text, or the tokens could not spell it back."
        )
    return chunks


def pair_counts(ids: Sequence[int]) -> dict[tuple[int, int], int]:
    """How often each pair of adjacent ids occurs; overlapping pairs count: (1,1,1) has 2.

    >>> pair_counts([1, 2, 3, 1, 2])
    {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    """
    return dict(Counter(zip(ids, ids[1:])))


def merge_pair(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each occurrence of ``pair`` in ``ids`` by ``new_id``, left to right.

    >>> merge_pair([1, 2, 3, 1, 2], (1, 2), 9)
    [9, 3, 9]
    >>> merge_pair([1, 1, 1], (1, 1), 9)  # occurrences that overlap: the leftmost wins
    [9, 1]
    """
    a, b = pair
    out, i = [], 0
    while i < len(ids):
        if ids[i] == a and i + 1 < len(ids) and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _pair(i: int, pair) -> tuple[int, int]:
    """Merge ``i`` as a pair of two integer ids; a float, a bool or a string is refused."""
    try:
        a, b = pair
        if isinstance(a, bool) or isinstance(b, bool):
            raise TypeError
        return operator.index(a), operator.index(b)
    except (TypeError, ValueError):
        raise ValueError(f"Merge {i} must be a pair of two integer ids, got {pair!r}.") from None


def _check_pattern(pattern: str | None) -> None:
    """Refuse a ``pattern`` that is neither None nor a regular expression, by name."""
    if pattern is None:
        return
    if not isinstance(pattern, str):
        raise ValueError(f"pattern must be a str or None, got {type(pattern).__name__}.")
    try:
        re.compile(pattern)
    except re.error as err:
        raise ValueError(f"pattern {pattern!r} is not a regular expression: {err}.") from None


def _check_vocab_size(vocab_size: int) -> None:
    if not is_int(vocab_size) or vocab_size < _BYTES:  # a NumPy integer is an integer too
        raise ValueError(
            f"vocab_size must be an integer of at least {_BYTES} (the single bytes, before any "
            f"merge), got {vocab_size!r}."
        )


def train_bpe(text: str, vocab_size: int, pattern: str | None = GPT2_SPLIT_PATTERN) -> BPETokenizer:
    """Learn ``vocab_size - 256`` merges from ``text``; return the tokenizer they make.

    Each step merges the most frequent adjacent pair over all chunks (a chunk that occurs k
    times counts k times); of pairs with the same count, the smallest ``(a, b)`` wins, so
    the result never depends on the order of a dictionary.

    Counting every pair again after each merge costs a pass over the whole text per merge. The
    same merges come faster from counting once and then correcting the counts: a merge changes
    only the chunks that contain its pair, so only their pairs are taken out and put back.
    Distinct chunks are few (about 15,000 in a million characters of Shakespeare), so each is
    stored once with its number of occurrences.

    Args:
        text: the training text.
        vocab_size: 256 single bytes plus the number of merges to learn.
        pattern: how to cut the text into chunks (``split_text``); None: one chunk, the text.

    Raises:
        ValueError: ``vocab_size`` below 256, or more merges than the text has pairs for.
    """
    _check_vocab_size(vocab_size)
    chunk_counts = Counter(split_text(text, pattern))
    words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]  # each distinct chunk once
    freqs = list(chunk_counts.values())
    counts: Counter[tuple[int, int]] = Counter()  # pair -> occurrences in the whole text
    where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> words with it
    for w, ids in enumerate(words):
        for pair in zip(ids, ids[1:]):
            counts[pair] += freqs[w]
            where[pair].add(w)
    heap = [(-n, pair) for pair, n in counts.items()]  # most frequent, then smallest, on top
    heapq.heapify(heap)
    merges: list[tuple[int, int]] = []
    while len(merges) < vocab_size - _BYTES:
        while heap and counts.get(heap[0][1], 0) != -heap[0][0]:
            heapq.heappop(heap)  # a stale entry: that pair's count has changed since
        if not heap:
            raise ValueError(
                f"The text has no pair of adjacent tokens left after {len(merges)} merges, so "
                f"vocab_size can be at most {_BYTES + len(merges)} for it (got {vocab_size}): "
                "use a smaller vocab_size or a longer text."
            )
        pair = heap[0][1]
        new_id = _BYTES + len(merges)
        merges.append(pair)
        changed = set()
        for w in where.pop(pair):
            old = words[w]
            for p in zip(old, old[1:]):  # take the word's pairs out ...
                counts[p] -= freqs[w]
                changed.add(p)
            words[w] = new = merge_pair(old, pair, new_id)
            for p in zip(new, new[1:]):  # ... and put the merged word's pairs back
                counts[p] += freqs[w]
                where[p].add(w)
                changed.add(p)
        for p in changed:
            if counts[p] > 0:
                heapq.heappush(heap, (-counts[p], p))
            else:
                del counts[p]
                where.pop(p, None)
    return BPETokenizer(merges, pattern)


class BPETokenizer(JsonFile):
    """A byte-level BPE tokenizer: ``merges[i] = (a, b)`` makes token ``256 + i``.

    Same interface as the course's other tokenizers (``encode``, ``decode``, ``vocab_size``,
    ``save``, ``load``). It never meets an unknown character: any text is UTF-8 bytes, and
    every byte is a token. ``decode(encode(s)) == s`` for every string ``s`` of Unicode
    characters (a lone surrogate such as ``'\\ud800'`` is not one, and is refused by name).

    Args:
        merges: the learned pairs, in the order they were learned (``train_bpe``).
        pattern: the chunking pattern used in training (``split_text``); None: none.
    """

    def __init__(
        self, merges: Sequence[tuple[int, int]], pattern: str | None = GPT2_SPLIT_PATTERN
    ) -> None:
        self.merges = [_pair(i, pair) for i, pair in enumerate(merges)]
        _check_pattern(pattern)
        self.pattern = pattern
        self.vocab = [bytes([i]) for i in range(_BYTES)]  # id -> its bytes
        for i, (a, b) in enumerate(self.merges):
            new_id = _BYTES + i
            if not (0 <= a < new_id and 0 <= b < new_id):
                raise ValueError(
                    f"Merge {i} {(a, b)} uses an id that does not exist yet: merge {i} makes "
                    f"id {new_id}, so it can only join ids 0 to {new_id - 1}."
                )
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}  # pair -> its merge index
        if len(self.ranks) < len(self.merges):
            pair = next(p for i, p in enumerate(self.merges) if self.ranks[p] != i)
            raise ValueError(f"The pair {pair} is merged twice: a pair can only be merged once.")
        self._cache: dict[str, list[int]] = {}  # chunk -> its ids (text repeats its words)

    @property
    def vocab_size(self) -> int:
        """256 single bytes plus one token per merge."""
        return _BYTES + len(self.merges)

    def encode_chunk(self, chunk: str) -> list[int]:
        """One chunk's ids: its bytes, merged pair by pair in the order training learned them."""
        ids = self._cache.get(chunk)
        if ids is None:
            ids = list(chunk.encode("utf-8"))
            while len(ids) >= 2:
                pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, len(self.ranks)))
                if pair not in self.ranks:
                    break  # no adjacent pair was ever merged: done
                ids = merge_pair(ids, pair, _BYTES + self.ranks[pair])
            if len(self._cache) < 100_000:
                self._cache[chunk] = ids
        return list(ids)

    def encode(self, text: str) -> list[int]:
        """``text`` as token ids: each chunk of ``split_text`` encoded on its own."""
        return [i for chunk in split_text(text, self.pattern) for i in self.encode_chunk(chunk)]

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes the tokens stand for, joined."""
        return b"".join(self.vocab[i] for i in _to_id_list(ids, self.vocab_size))

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; bytes that are not valid UTF-8 (half a character) become '�'."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_text(self, token_id: int) -> str:
        """One token as printable text, for tables: ``'\\n'`` for a newline, and ``'\\xe2'``
        for a byte that is only part of a character (``—`` is the 3 bytes e2 80 94)."""
        (token_id,) = _to_id_list([token_id], self.vocab_size)
        text = self.vocab[token_id].decode("utf-8", errors="backslashreplace")
        return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)

    def truncated(self, vocab_size: int) -> BPETokenizer:
        """The tokenizer of the first ``vocab_size - 256`` merges: a smaller vocabulary."""
        _check_vocab_size(vocab_size)
        if vocab_size > self.vocab_size:
            raise ValueError(
                f"vocab_size {vocab_size} is more than this tokenizer's {self.vocab_size}: it "
                f"has only {len(self.merges)} merges."
            )
        return BPETokenizer(self.merges[: vocab_size - _BYTES], self.pattern)

    def to_dict(self) -> dict:
        """``{"type": "bpe", "pattern": ..., "merges": [(a, b), ...]}``: all ``save`` keeps."""
        return {"type": "bpe", "pattern": self.pattern, "merges": self.merges}

    @classmethod
    def from_dict(cls, data: dict, source: str = "the tokenizer") -> BPETokenizer:
        """The tokenizer of ``to_dict``; a damaged one raises ``ValueError`` naming ``source``."""
        data = _check_dict(data, "bpe", ["pattern", "merges"], source)
        if not isinstance(data["merges"], list | tuple):
            raise ValueError(f"{source} is a damaged tokenizer: 'merges' must be a list of pairs "
                             f"of ids, got {type(data['merges']).__name__}.")  # fmt: skip
        try:
            return cls([tuple(pair) for pair in data["merges"]], data["pattern"])
        except (TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"{source} is a damaged tokenizer: {err}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BPETokenizer):
            return NotImplemented
        return self.merges == other.merges and self.pattern == other.pattern

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        split = "GPT-2's split" if self.pattern == GPT2_SPLIT_PATTERN else repr(self.pattern)
        return f"BPETokenizer(vocab_size={self.vocab_size}, pattern={split})"
