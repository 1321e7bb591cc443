"""How much the evaluation windows change a model's score: bits per character, window by window.

    python benchmarks/eval_windows.py                          # the shipped model
    python benchmarks/eval_windows.py --checkpoint runs/cpu    # your own (lmcourse train's)
    python benchmarks/eval_windows.py --chars 20000            # the first 20,000 characters

The leaderboard scores each neural model in windows that do not overlap (``lmcourse.lm.
bits_per_token``): a window's first characters see little or no context, so the score depends on
the window's size. This prints the model's bits per character on its corpus's validation text
(tiny-shakespeare's for the shipped model) in windows of 32, 64 and its whole context, then
with overlapping windows of its context (``stride``): each window scores only its last
``stride`` characters, so every character after the first window sees at least ``context -
stride`` characters before it. The differences are the size of the effect the README's
leaderboard notes; the time is the cost of each way.
"""

from __future__ import annotations

import argparse
import time

import torch

from lmcourse.data import load_text, train_val_split
from lmcourse.lm import bits_per_token
from lmcourse.pretrained import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checkpoint", default="shakespeare-char", help="default: the shipped model"
    )
    parser.add_argument("--chars", type=int, default=None, help="score only this many")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.chars is not None and args.chars < 2:
        parser.error("--chars must be at least 2")
    torch.set_num_threads(args.threads)
    model, tokenizer, info = load_model(args.checkpoint)
    corpus = info["corpus"] or "tiny-shakespeare"  # the validation split of its own text
    _, val = train_val_split(load_text(corpus), 0.1)
    data = torch.tensor(tokenizer.encode(val[: args.chars]))
    T = model.config.block_size
    print(f"{args.checkpoint}: context {T}; {len(data) - 1:,} validation characters of "
          f"{corpus!r} scored\n")  # fmt: skip
    print("| windows | each character sees at least | bits per character | seconds |")
    print("|---|---:|---:|---:|")
    ways = [(f"{w}, not overlapping", w, None, "0") for w in (32, 64, T) if w <= T]
    ways = list(dict.fromkeys(ways))  # (T may be 32 or 64)
    ways += [
        (f"{T}, stride {s}", T, s, f"{T - s} (after the first window)") for s in (T // 2, T // 4)
    ]
    for name, window, stride, context in ways:
        start = time.perf_counter()
        bits = bits_per_token(model, data, window, stride=stride)
        print(f"| {name} | {context} | {bits:.3f} | {time.perf_counter() - start:.1f} |")


if __name__ == "__main__":
    main()
