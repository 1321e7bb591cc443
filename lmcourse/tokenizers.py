"""Tokenizers: turn text into a list of integer ids and back.

Two tokenizers, one interface (``encode``, ``decode``, ``vocab_size``, ``save``, ``load``,
``to_dict``; ``lmcourse.bpe.BPETokenizer`` is the third):

- ``CharTokenizer``: one token per character. The vocabulary is the set of characters of
  the training text, so every text over those characters round-trips exactly:
  ``decode(encode(s)) == s``.
- ``WordTokenizer``: one token per word or punctuation mark, for the n-gram notebook. Rare
  words (``min_count``) and words never seen in training become ``<unk>``.

>>> tok = CharTokenizer.from_text("hello")
>>> tok.chars
['e', 'h', 'l', 'o']
>>> tok.encode("hello")
[1, 0, 2, 2, 3]
>>> tok.decode([1, 0, 2, 2, 3])
'hello'
"""

from __future__ import annotations

import json
import operator
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from lmcourse.files import write_text_atomically

__all__ = ["WORD_PATTERN", "CharTokenizer", "WordTokenizer", "tokenizer_from_dict",
           "unknown_characters"]  # fmt: skip

#: How ``WordTokenizer.split`` cuts text into tokens, tried left to right at each position:
#:
#: 1. a word: a run of letters of any script (``[^\W\d_]`` is "a word character that is not a
#:    digit or an underscore"), optionally joined to more letters by single internal
#:    apostrophes or hyphens, so ``o'er``, ``to-night`` and ``Who's`` are one word each;
#: 2. a number: a run of digits;
#: 3. anything else that is not whitespace, one character per token (``?``, ``,``, ``'``, ``_``).
#:
#: Whitespace separates tokens and is dropped. ``"th' earth"`` gives ``th``, ``'``, ``earth``:
#: an apostrophe only joins when letters follow it directly. "Letters" are what Python's ``re``
#: counts as such: combining marks are not (a Devanagari vowel sign, or an accent typed as its
#: own code point after ``e``), so each becomes a token of its own; ``unicodedata.normalize(
#: "NFC", text)`` first puts ``e`` and its accent back together as ``é``. Superscripts such as
#: ``²`` are not digits to ``re`` and join a word (``x²``).
WORD_PATTERN = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*|\d+|\S")

# ``WordTokenizer.decode`` puts no space before closing marks and none after opening ones.
_CLOSING = frozenset(".,;:!?')]")
_OPENING = frozenset("([")


# --------------------------------------------------------------------------- shared helpers


def _describe_char(c: str) -> str:
    """``'é' (U+00E9)``: the repr shows the character, the code point tells look-alikes apart."""
    return f"{c!r} (U+{ord(c):04X})"


def unknown_characters(tokenizer, text: str) -> list[str]:
    """The characters of ``text`` that ``tokenizer`` cannot encode, once each, in order: only a
    ``CharTokenizer`` without ``unk`` has any (a ``WordTokenizer`` maps an unknown word to
    ``unk``, and a ``BPETokenizer`` encodes any text: every byte is a token)."""
    if not isinstance(tokenizer, CharTokenizer) or tokenizer.unk is not None:
        return []
    return [c for c in dict.fromkeys(text) if c not in tokenizer.stoi]


def _check_vocab(entries: Sequence[str], what: str) -> None:
    """Raise ValueError if the vocabulary is empty, has a duplicate, or has a non-string."""
    if len(entries) == 0:
        raise ValueError(f"The vocabulary is empty: a tokenizer needs at least one {what}.")
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            raise ValueError(f"Vocabulary entry {entry!r} at id {i} is not a string.")
        if entry in seen:
            raise ValueError(f"Duplicate vocabulary entry {entry!r} at ids {seen[entry]} and {i}.")
        seen[entry] = i


def _to_id_list(ids: Iterable[int], vocab_size: int) -> list[int]:
    """Ids (list, 1-D tensor or array) as a list of Python ints, each checked to be in range."""
    if getattr(ids, "ndim", 1) != 1:
        raise ValueError(f"decode expects a 1-D sequence of ids, got shape {tuple(ids.shape)}.")
    try:
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
    except TypeError:  # None, a number: not a sequence at all
        raise TypeError(f"decode takes a sequence of ids, got {type(ids).__name__}.") from None
    if all(type(i) is int and 0 <= i < vocab_size for i in ids):
        return ids  # the common case, checked in one pass
    out = []  # otherwise convert one by one (numpy ints in a list) and name the first bad id
    for pos, i in enumerate(ids):
        try:
            if isinstance(i, bool):  # True is not the id 1
                raise TypeError
            i = operator.index(i)  # accepts int, numpy and torch integers; refuses 1.0 and "1"
        except TypeError:
            raise ValueError(f"Id {i!r} at position {pos} is not an integer.") from None
        if not 0 <= i < vocab_size:
            raise ValueError(
                f"Id {i} at position {pos} is out of range: ids run from 0 to {vocab_size - 1} "
                f"(vocab_size={vocab_size})."
            )
        out.append(i)
    return out


def _check_text(text: str, what: str = "encode") -> None:
    """``what`` takes a ``str``; bytes (a file opened in binary mode) must be decoded first."""
    if not isinstance(text, str):
        hint = ": decode them first, e.g. data.decode('utf-8')" if isinstance(text, bytes) else ""
        raise TypeError(f"{what} takes a str, got {type(text).__name__}{hint}.")


def _check_dict(data: dict, kind: str, keys: Sequence[str], source: str) -> dict:
    """``data`` if it is a tokenizer of type ``kind`` with every key, else a ValueError."""
    if not isinstance(data, dict):  # (a JSON file of a list, say)
        raise ValueError(f"{source} is not a tokenizer: a {type(data).__name__}, not a dict.")
    if data.get("type") != kind:
        raise ValueError(
            f"{source} holds a tokenizer of type {data.get('type')!r}, not {kind!r}: "
            f"load it with the matching class."
        )
    missing = [key for key in keys if key not in data]
    if missing:
        raise ValueError(f"{source} is not a complete {kind} tokenizer: missing key(s) {missing}.")
    return data


class JsonFile:
    """``save`` and ``load`` for a tokenizer with ``to_dict`` and ``from_dict``: a JSON file."""

    def save(self, path: str | os.PathLike) -> None:
        """Write ``to_dict()`` as UTF-8 JSON, atomically (``é`` stays readable in the file)."""
        write_text_atomically(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Read a file written by ``save``; a missing file, a folder, a malformed file is named."""
        if Path(path).is_dir():  # (checked first: on Windows, reading a folder is "denied")
            raise IsADirectoryError(f"'{path}' is a folder; pass the path of a tokenizer file.")
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"'{path}' is not a tokenizer file: not valid JSON ({err}).") from err
        except FileNotFoundError:  # where it looked, not errno's "[Errno 2] No such file"
            raise FileNotFoundError(f"No such tokenizer file: '{path}' (looked for "
                                    f"{Path(path).resolve()}).") from None  # fmt: skip
        return cls.from_dict(data, f"'{path}'")


def tokenizer_from_dict(data: dict, source: str = "the tokenizer"):
    """Any of the course's tokenizers from its ``to_dict()``, by its ``"type"``: char, word, bpe.

    Checkpoints keep their tokenizer this way (``lmcourse.checkpoint``). A dict of an unknown
    type, or a damaged one, raises ``ValueError`` naming ``source``.
    """
    from lmcourse.bpe import BPETokenizer  # (bpe imports this module)

    kinds = {"char": CharTokenizer, "word": WordTokenizer, "bpe": BPETokenizer}
    kind = data.get("type") if isinstance(data, dict) else None
    if kind not in kinds:
        raise ValueError(f"{source} is of an unknown type, {kind!r} (known: {', '.join(kinds)}).")
    return kinds[kind].from_dict(data, source)


# --------------------------------------------------------------------------- characters


class CharTokenizer(JsonFile):
    """One token per character; token id = position of the character in ``chars``.

    Args:
        chars: the vocabulary in id order, one character per entry (a string works too).
        unk: optional character of ``chars`` that stands in for characters outside the
            vocabulary. Without it, encoding an unknown character raises ``ValueError``.

    Example (``from_text`` sorts the distinct characters: ``e`` < ``h`` < ``l`` < ``o``):

    >>> tok = CharTokenizer.from_text("hello")
    >>> tok.stoi
    {'e': 0, 'h': 1, 'l': 2, 'o': 3}
    >>> tok.encode("hole")
    [1, 3, 2, 0]
    >>> CharTokenizer.from_text("hello", unk="?").encode("help!")
    [1, 0, 2, 4, 4]
    """

    def __init__(self, chars: Sequence[str], unk: str | None = None) -> None:
        chars = list(chars)
        _check_vocab(chars, "character")
        for i, c in enumerate(chars):
            if len(c) != 1:
                raise ValueError(f"Vocabulary entry {c!r} at id {i} is not a single character.")
        if unk is not None and unk not in chars:
            raise ValueError(f"unk={unk!r} is not in the vocabulary; it must be one of chars.")
        self.chars = chars
        self.unk = unk
        self.stoi = {c: i for i, c in enumerate(chars)}  # string -> id
        self.itos = dict(enumerate(chars))  # id -> string

    @classmethod
    def from_text(cls, text: str, unk: str | None = None) -> CharTokenizer:
        """Vocabulary = the sorted distinct characters of ``text``, then ``unk`` if it is new.

        Appending ``unk`` last means the text's characters get the same ids with or without it.
        """
        if unk is not None and (not isinstance(unk, str) or len(unk) != 1):
            raise ValueError(f"unk must be a single character, got {unk!r}.")
        _check_text(text, "from_text")  # (set(None) would say "'NoneType' is not iterable")
        chars = sorted(set(text))
        if unk is not None and unk not in chars:
            chars.append(unk)
        return cls(chars, unk=unk)

    @property
    def vocab_size(self) -> int:
        """Number of distinct tokens, ``V`` in the models' shapes."""
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """The id of every character of ``text``: ``len(encode(text)) == len(text)``."""
        _check_text(text)
        if self.unk is not None:
            unk_id = self.stoi[self.unk]
            return [self.stoi.get(c, unk_id) for c in text]
        try:
            return [self.stoi[c] for c in text]  # the fast path: one dict lookup per character
        except KeyError:
            pos = next(i for i, c in enumerate(text) if c not in self.stoi)
        raise ValueError(
            f"Character {_describe_char(text[pos])} at position {pos} is not in the vocabulary "
            f"(vocab_size={self.vocab_size}). Build the tokenizer from text that contains it, "
            f"or pass unk= to map unknown characters to a stand-in."
        )

    def decode(self, ids: Iterable[int]) -> str:
        """The text for ``ids``: a list of ints or a 1-D tensor or array of integers."""
        return "".join([self.itos[i] for i in _to_id_list(ids, self.vocab_size)])

    def to_dict(self) -> dict:
        """``{"type": "char", "chars": [...], "unk": ...}``: what ``save`` and checkpoints keep."""
        return {"type": "char", "chars": self.chars, "unk": self.unk}

    @classmethod
    def from_dict(cls, data: dict, source: str = "the tokenizer") -> CharTokenizer:
        """The tokenizer of ``to_dict``; a malformed one raises ``ValueError`` naming ``source``."""
        data = _check_dict(data, "char", ["chars", "unk"], source)
        if not isinstance(data["chars"], list):
            raise ValueError(f"{source}: 'chars' must be a list of characters.")
        try:
            return cls(data["chars"], unk=data["unk"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source} is not a valid char tokenizer: {err}") from err

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CharTokenizer):
            return NotImplemented
        return self.chars == other.chars and self.unk == other.unk

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        unk = "" if self.unk is None else f", unk={self.unk!r}"
        return f"CharTokenizer(vocab_size={self.vocab_size}{unk})"


# --------------------------------------------------------------------------- words


class WordTokenizer(JsonFile):
    """One token per word, number or punctuation mark (see ``WORD_PATTERN``).

    Args:
        words: the vocabulary in id order; ``words[0]`` must be ``unk``.
        unk: the token that stands in for every word outside the vocabulary.
        lowercase: lowercase text before splitting it (``"The"`` and ``"the"`` become one word).
        counts: the training counts, kept by ``from_text`` for plots (not saved by ``save``).

    Example (counts: the 3, cat 2, "," 2, dog 1; ``min_count=2`` drops ``dog``; the tie
    between "," and "cat" is broken by code point):

    >>> tok = WordTokenizer.from_text("the cat, the dog, the cat", min_count=2)
    >>> tok.words
    ['<unk>', 'the', ',', 'cat']
    >>> tok.encode("the dog, the cat")
    [1, 0, 2, 1, 3]
    >>> tok.decode([1, 0, 2, 1, 3])
    'the <unk>, the cat'
    """

    def __init__(self, words: Sequence[str], unk: str = "<unk>", lowercase: bool = False,
                 counts: Counter[str] | None = None) -> None:  # fmt: skip
        words = list(words)
        _check_vocab(words, "word")
        if words[0] != unk:
            raise ValueError(f"words[0] must be the unk token {unk!r}, got {words[0]!r}.")
        if "" in words:
            raise ValueError(f"The empty string is not a word (id {words.index('')}).")
        self.words = words
        self.unk = unk
        self.lowercase = lowercase
        self.counts = counts
        self.stoi = {w: i for i, w in enumerate(words)}  # string -> id
        self.itos = dict(enumerate(words))  # id -> string

    @staticmethod
    def split(text: str, lowercase: bool = False) -> list[str]:
        """Cut text into words, numbers and single punctuation marks; drop whitespace.

        >>> WordTokenizer.split("Who's there? 'Tis 12 o'clock, to-night.")
        ["Who's", 'there', '?', "'", 'Tis', '12', "o'clock", ',', 'to-night', '.']
        """
        if lowercase:
            text = text.lower()
        return WORD_PATTERN.findall(text)

    @classmethod
    def from_text(cls, text: str, lowercase: bool = False, min_count: int = 1,
                  unk: str = "<unk>") -> WordTokenizer:  # fmt: skip
        """Vocabulary = ``unk``, then every word seen ``min_count`` times or more.

        Words are sorted by count, most frequent first; ties alphabetically (by code point),
        so the order never depends on where a word first appears.
        """
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}.")
        if not isinstance(unk, str) or not unk:
            raise ValueError(f"unk must be a non-empty string, got {unk!r}.")
        _check_text(text, "from_text")
        counts = Counter(cls.split(text, lowercase))
        kept = [w for w, n in counts.items() if n >= min_count and w != unk]
        kept.sort(key=lambda w: (-counts[w], w))
        return cls([unk, *kept], unk=unk, lowercase=lowercase, counts=counts)

    @property
    def vocab_size(self) -> int:
        """Number of distinct tokens, ``unk`` included."""
        return len(self.words)

    def tokenize(self, text: str) -> list[str]:
        """``split(text)`` with every out-of-vocabulary word replaced by ``unk``."""
        return [w if w in self.stoi else self.unk for w in self.split(text, self.lowercase)]

    def encode(self, text: str) -> list[int]:
        """The id of every token of ``text``; unknown words get the ``unk`` id, 0."""
        _check_text(text)
        return [self.stoi.get(w, 0) for w in self.split(text, self.lowercase)]

    def decode(self, ids: Iterable[int]) -> str:
        """Join the words with single spaces, but none before ``.,;:!?')]`` or after ``([``.

        So ``split(decode(encode(s))) == split(s)`` for text whose words are all known.
        """
        words = [self.itos[i] for i in _to_id_list(ids, self.vocab_size)]
        pieces = []
        for i, word in enumerate(words):
            if i > 0 and word not in _CLOSING and words[i - 1] not in _OPENING:
                pieces.append(" ")
            pieces.append(word)
        return "".join(pieces)

    def unk_rate(self, text: str) -> float:
        """Fraction of the tokens of ``text`` that are out of vocabulary (0.0 for no tokens)."""
        tokens = self.split(text, self.lowercase)
        unknown = sum(w not in self.stoi for w in tokens)
        return unknown / len(tokens) if tokens else 0.0

    def to_dict(self) -> dict:
        """``{"type": "word", "words": [...], "unk": ..., "lowercase": ...}`` (not the counts)."""
        return {"type": "word", "words": self.words, "unk": self.unk, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, data: dict, source: str = "the tokenizer") -> WordTokenizer:
        """The tokenizer of ``to_dict``; a malformed one raises ``ValueError`` naming ``source``."""
        data = _check_dict(data, "word", ["words", "unk", "lowercase"], source)
        if not isinstance(data["words"], list) or not isinstance(data["lowercase"], bool):
            raise ValueError(f"{source}: 'words' must be a list and 'lowercase' true or false.")
        try:
            return cls(data["words"], unk=data["unk"], lowercase=data["lowercase"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source} is not a valid word tokenizer: {err}") from err

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WordTokenizer):
            return NotImplemented
        return (self.words, self.unk, self.lowercase) == (other.words, other.unk, other.lowercase)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"WordTokenizer(vocab_size={self.vocab_size}, lowercase={self.lowercase})"
