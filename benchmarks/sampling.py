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
brackets); 2 threads (this machine's cores). The measuring is ``lmcourse.sampling``'s
``generation_speed`` and ``next_token_cost``, which notebook 09 plots.
"""

from __future__ import annotations

import argparse

import torch

from lmcourse.cache_speed import generation_speed, next_token_cost
from lmcourse.pretrained import load_pretrained


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
    for new_tokens in args.new_tokens:
        row = generation_speed(model, prompt, new_tokens, args.repeats)
        print(f"| {new_tokens} | {row['cache']:,.0f} | {row['no_cache']:,.0f} | "
              f"{row['speedup']:.2f}x ({row['speedup_min']:.2f}x) |")  # fmt: skip
    print("\n| context L | full forward (ms) | one cached token (ms) | speed-up |")
    print("|---:|---:|---:|---:|")
    lengths = [L for L in (8, 16, 32, 64, 128, 256, 512) if L <= model.config.block_size]
    for row in next_token_cost(model, lengths, repeats=5 * args.repeats):
        print(f"| {row['context']} | {row['full_ms']:.2f} | {row['cached_ms']:.2f} | "
              f"{row['speedup']:.1f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
