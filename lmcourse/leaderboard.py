"""The course's leaderboard: every model family on the same validation text, in bits per character.

The leaderboard is the table under "## Leaderboard" in the course's ``README.md``; each row names
the notebook (or command) that produced it, and a test checks that its figures are in that
notebook's committed outputs. This module reads that table, so notebook 16 draws the table that
the README shows rather than a copy of it:

    entries = read_leaderboard()           # the README next to the package (a clone of the course)
    front = pareto_front(entries)          # the models no other beats on both size and bits

Bits per character (bpc) is the cross-entropy of the model on the validation text, in bits, per
character of that text: ``H = -(1/N) Σ log₂ p(cᵢ | c<ᵢ)``. A model with 1 bit less halves the
per-character perplexity ``2^H``. Sizes are parameters, or the stored counts of a count model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Entry",
    "family",
    "pareto_front",
    "parse_leaderboard",
    "read_leaderboard",
    "short_name",
]

#: The columns of the README's table, in order.
COLUMNS = ("model", "bits per character", "parameters", "training time", "scored in windows of",
           "produced by")  # fmt: skip

#: Families, in the course's order, with a pattern of the words that name them in a row's model
#: column; a name that matches two families belongs to the later one ("neural bigram").
FAMILIES = {
    "counting": r"\b(uniform|unigram|bigram|trigram|\d+-gram|n-gram)\b",
    "feed-forward": r"\b(neural bigram|MLP)\b",
    "recurrent": r"\b(RNN|GRU|LSTM)\b",
    "transformer": r"\b(GPT|transformer)\b",
}


@dataclass(frozen=True)
class Entry:
    """One row of the leaderboard.

    Attributes:
        model: what the model is, as the README names it.
        bits: bits per character on the validation text.
        size: parameters, or stored counts for a count model (``size_unit`` says which).
        size_unit: ``"parameters"`` or ``"counts"``.
        seconds: training time on the course's 2-core CPU (None: nothing to train, or a time
            given only as a bound, "< 1 s").
        time: the training time as the README writes it.
        window: the window the model was scored in.
        produced_by: the notebook or command that made the row.
    """

    model: str
    bits: float
    size: int
    size_unit: str
    seconds: float | None
    time: str
    window: str
    produced_by: str

    @property
    def family(self) -> str:
        return family(self.model)


def family(model: str) -> str:
    """The family of a model named in the leaderboard: counting, feed-forward, recurrent or
    transformer (the later family wins: "GPT ... over BPE tokens" is a transformer)."""
    found = [name for name, pattern in FAMILIES.items() if re.search(pattern, model)]
    if not found:
        raise ValueError(f"{model!r} names no known family ({', '.join(FAMILIES)}).")
    return found[-1]


def short_name(model: str) -> str:
    """A label for a plot: the model's name up to its first comma or bracket, with the preset,
    "BPE" and a learning rate kept, so that rows of one kind stay apart ("GPT (cpu)",
    "GPT (cpu, BPE)", "vanilla RNN (lr 1e-2)")."""
    base = re.split(r" \(|, ", model)[0]
    extras = [m[1] for m in re.finditer(r"`(\w+)` preset", model)] + ["BPE"] * ("BPE" in model)
    extras += re.findall(r"\blr [\d.e-]+", model)
    return f"{base} ({', '.join(extras)})" if extras else base


def read_leaderboard(readme: str | Path | None = None) -> list[Entry]:
    """The leaderboard of ``readme``; by default the course's ``README.md``: the one next to the
    package (an editable install of a clone, as Binder's), else ``README.md`` in the working
    folder or the folder above it (``notebooks/``'s parent)."""
    if readme is not None:
        candidates = [Path(readme)]
    else:
        package_root = Path(__file__).resolve().parents[1]
        candidates = [package_root / "README.md", Path("README.md"), Path("../README.md")]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        tried = ", ".join(str(p) for p in candidates)
        raise FileNotFoundError(
            f"no README.md at {tried}: the leaderboard is the table in the course repository's "
            "README.md. Pass its path: read_leaderboard('path/to/README.md')."
        )
    return parse_leaderboard(path.read_text(encoding="utf-8"))


def parse_leaderboard(markdown: str) -> list[Entry]:
    """The rows of the first table under a ``## Leaderboard`` heading of ``markdown``."""
    if "\n## Leaderboard" not in "\n" + markdown:
        raise ValueError("the text has no '## Leaderboard' section.")
    section = ("\n" + markdown).split("\n## Leaderboard", 1)[1].split("\n## ", 1)[0]
    lines = section.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("|")), len(lines))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip().startswith("|")),
               len(lines))  # fmt: skip
    lines = [line.strip() for line in lines[start:end]]  # the first table only
    if len(lines) < 3:
        raise ValueError("the Leaderboard section has no table with rows.")
    if not all(re.fullmatch(r":?-+:?", cell) for cell in _cells(lines[1])):
        raise ValueError(f"the leaderboard's second line must be its |---| rule, got {lines[1]!r}.")
    header = _cells(lines[0])
    if len(header) != len(COLUMNS) or not all(
        h.lower().startswith(c) for h, c in zip(header, COLUMNS)
    ):
        raise ValueError(f"the leaderboard's columns must be {COLUMNS}, got {tuple(header)}.")
    return [_entry(_cells(line), number) for number, line in enumerate(lines[2:], start=1)]


def pareto_front(entries: list[Entry]) -> list[Entry]:
    """The entries that no other entry beats on both size and bits, smallest first.

    An entry is dominated when another is at least as small and at least as good, and better
    on one of the two; equal entries do not dominate each other.
    """

    def dominates(a: Entry, b: Entry) -> bool:
        return a.size <= b.size and a.bits <= b.bits and (a.size < b.size or a.bits < b.bits)

    front = [e for e in entries if not any(dominates(other, e) for other in entries)]
    return sorted(front, key=lambda e: (e.size, e.bits, e.model))


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _entry(cells: list[str], number: int) -> Entry:
    if len(cells) != len(COLUMNS):
        raise ValueError(f"leaderboard row {number} has {len(cells)} cells, not {len(COLUMNS)}: "
                         f"{' | '.join(cells)!r}")  # fmt: skip
    model, bits, size, time, window, produced_by = cells
    try:
        bits_value = float(bits.strip("*"))
        size_match = re.fullmatch(r"([\d,]+)( counts)?", size)
        size_value = int(size_match[1].replace(",", ""))
    except (ValueError, TypeError) as error:
        raise ValueError(f"leaderboard row {number} ({model}): bits {bits!r} and size {size!r} "
                         f"must be numbers ({error}).") from None  # fmt: skip
    if not (math.isfinite(bits_value) and bits_value >= 0):
        raise ValueError(f"leaderboard row {number} ({model}): bits must be >= 0, got {bits!r}.")
    unit = "counts" if size_match[2] else "parameters"
    return Entry(model, bits_value, size_value, unit, _seconds(time, number), time, window,
                 produced_by)  # fmt: skip


def _seconds(time: str, number: int) -> float | None:
    """Seconds from "54 s", "0.4 s (counting)", "< 1 s (counting)", "27 min" or "none"."""
    if time == "none" or time.startswith("<"):  # nothing to train, or only a bound
        return None
    match = re.fullmatch(r"([\d.]+) (s|min)( \(.*\))?", time)
    if not match:
        raise ValueError(f"leaderboard row {number}: cannot read the training time {time!r}.")
    return float(match[1]) * (60 if match[2] == "min" else 1)
