"""Generation speed with and without the KV cache, on the shipped model, on the CPU.

    python benchmarks/sampling.py                # the table and the speed-up by context length
    python benchmarks/sampling.py --repeats 5

Two tables:

1. tokens/s generating 256 and 1024 new tokens after a one-line prompt, with the cache and
   without it (the same tokens: ``tests/test_sampling.py`` checks that), and the speed-up;
2. the cost of predicting one token after a context of L tokens: a full forward pass over the
   L tokens (no cache) against a one-token pass that reads the L − 1 cached keys and values.
   The cache pays more the longer the context.

Medians of ``--repeats`` runs (the speed-up: of pairs run back to back, with the lowest pair in
brackets); 2 threads (this machine's cores).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lmcourse.attention import KVCache
from lmcourse.pretrained import load_pretrained
from lmcourse.sampling import generate


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def generation_table(
    model, prompt: torch.Tensor, repeats: int, lengths: tuple[int, ...] = (256, 1024)
) -> list[dict]:
    """tokens/s with and without the cache, measured in pairs run back to back.

    The machine's speed drifts with its neighbours; a pair sees the same conditions, so the
    speed-up is the median of the pairs' ratios, not a ratio of medians taken minutes apart.
    """
    rows = []
    for new_tokens in lengths:

        def seconds(use_cache: bool, new_tokens=new_tokens) -> float:
            start = time.perf_counter()
            generate(model, prompt, new_tokens, generator=torch.Generator().manual_seed(0),
                     use_cache=use_cache)  # fmt: skip
            return time.perf_counter() - start

        seconds(True), seconds(False)  # warm-up
        pairs = [(seconds(True), seconds(False)) for _ in range(repeats)]
        rows.append({
            "new_tokens": new_tokens,
            "cache": new_tokens / statistics.median(c for c, _ in pairs),
            "no_cache": new_tokens / statistics.median(n for _, n in pairs),
            "speedup": statistics.median(n / c for c, n in pairs),
            "speedup_min": min(n / c for c, n in pairs),
        })  # fmt: skip
    return rows


def context_table(model, repeats: int) -> list[dict]:
    rows = []
    block_size = model.config.block_size
    lengths = [L for L in (8, 16, 32, 64, 128, 256, 512) if L <= block_size]
    for L in lengths:
        idx = torch.randint(model.config.vocab_size, (1, L), generator=torch.Generator())

        def full(idx=idx):
            with torch.no_grad():
                model(idx)

        def cached(idx=idx):
            cache = KVCache(model.config.n_layer, capacity=block_size)  # as generate reserves it
            with torch.no_grad():
                model(idx[:, :-1], cache=cache)
            start = time.perf_counter()
            with torch.no_grad():
                model(idx[:, -1:], cache=cache)
            return time.perf_counter() - start

        full_s = _median_seconds(full, repeats * 5)
        cached_s = statistics.median(cached() for _ in range(repeats * 5))
        rows.append({"context": L, "full_ms": 1000 * full_s, "cached_ms": 1000 * cached_s})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, nargs="+", default=[256, 1024])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer, info = load_pretrained("shakespeare-char")
    prompt = torch.tensor([tokenizer.encode("ROMEO:\n")])
    print(f"shipped model: {info['parameters']:,} parameters, context {model.config.block_size}, "
          f"{args.threads} threads\n")  # fmt: skip
    print("| new tokens | with the cache (tokens/s) | without (tokens/s) | speed-up (lowest) |")
    print("|---:|---:|---:|---:|")
    for row in generation_table(model, prompt, args.repeats, tuple(args.new_tokens)):
        print(f"| {row['new_tokens']} | {row['cache']:,.0f} | {row['no_cache']:,.0f} | "
              f"{row['speedup']:.1f}x ({row['speedup_min']:.1f}x) |")  # fmt: skip
    print("\n| context L | full forward (ms) | one cached token (ms) | speed-up |")
    print("|---:|---:|---:|---:|")
    for row in context_table(model, args.repeats):
        print(f"| {row['context']} | {row['full_ms']:.2f} | {row['cached_ms']:.2f} | "
              f"{row['full_ms'] / row['cached_ms']:.1f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
