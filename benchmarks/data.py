"""How fast the corpus loads and tokenizes.

    python benchmarks/data.py

Prints a table: loading the Shakespeare corpus the first time (cleaning the markdown, with an
empty cache folder), from the disk cache (a new Python process), and from memory (the same
process); encoding and decoding it with the character tokenizer; splitting it into words; and
sampling batches. The goal of the foundation issue: < 1 s for every load after the first.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

import torch

from lmcourse import data
from lmcourse.tokenizers import CharTokenizer, WordTokenizer

_LOAD_IN_NEW_PROCESS = (
    "import time; from lmcourse.data import load_text; t = time.perf_counter(); "
    "load_text('shakespeare'); print(time.perf_counter() - t)"
)


def median_seconds(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_in_new_process(cache: str) -> float:
    """Seconds for load_text in a fresh interpreter (lmcourse imported, nothing loaded yet)."""
    env = {"LMCOURSE_CACHE_DIR": cache, "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_IN_NEW_PROCESS],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        rows.append(("load, first time (clean + write cache)", load_in_new_process(cache), "—"))
        disk = statistics.median(load_in_new_process(cache) for _ in range(3))
        rows.append(("load from the disk cache (new process)", disk, "< 1 s"))
    text = data.load_text("shakespeare")
    rows.append(
        (
            "load from memory (same process)",
            median_seconds(lambda: data.load_text("shakespeare")),
            "< 1 s",
        )
    )
    tok = CharTokenizer.from_text(text)
    rows.append(
        ("CharTokenizer.encode, whole corpus", median_seconds(lambda: tok.encode(text), 3), "—")
    )
    ids = tok.encode(text)
    rows.append(
        ("CharTokenizer.decode, whole corpus", median_seconds(lambda: tok.decode(ids), 3), "—")
    )
    rows.append(
        (
            "WordTokenizer.split, whole corpus",
            median_seconds(lambda: WordTokenizer.split(text), 3),
            "—",
        )
    )
    tokens = torch.tensor(ids)
    gen = torch.Generator().manual_seed(0)
    batch = median_seconds(lambda: data.get_batch(tokens, 64, 256, generator=gen), 50)
    rows.append(("get_batch, 64 x 256 tokens", batch, "—"))

    print(f"corpus: {len(text):,} characters; torch threads: {torch.get_num_threads()}\n")
    print("| operation | seconds (median) | goal |")
    print("|---|---:|---|")
    for name, seconds, goal in rows:
        print(f"| {name} | {seconds:.3g} | {goal} |")  # 3 digits: a load from memory is µs


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # --help
    main()
