"""What the KV cache saves: generation timed with and without it, and the cost of one token.

Notebook 09 plots these measurements and ``benchmarks/sampling.py`` prints them. Timing is
noisy on a shared machine, so both functions repeat and take medians, and the cached and
uncached runs alternate, so that each pair sees the same conditions.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from lmcourse.attention import KVCache
from lmcourse.sampling import check_generate_args, generate
from lmcourse.utils import is_int

__all__ = ["generation_speed", "next_token_cost"]


def _seconds(device: torch.device, fn, *args, **kwargs) -> float:
    """Wall-clock seconds of ``fn(*args, **kwargs)``, waiting for a GPU to finish its work."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def generation_speed(
    model: nn.Module, idx: torch.Tensor, max_new_tokens: int, repeats: int = 3, seed: int = 0
) -> dict:
    """Tokens per second of ``generate`` with and without the KV cache, and the speed-up.

    The two run in pairs, back to back, after one warm-up pair: a shared machine's speed
    drifts, and a pair sees the same conditions, so the speed-up is the median of the pairs'
    ratios (``speedup_min``: the lowest pair). Both generate the same tokens (same seed).

    Returns:
        ``{"cache": tokens/s, "no_cache": tokens/s, "speedup": x, "speedup_min": x}``, the
        speeds being medians over ``repeats`` runs.
    """
    if not is_int(repeats) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}.")
    check_generate_args(idx, max_new_tokens, 1.0, None, None, None)
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1 to measure a speed, got {max_new_tokens}.")

    def seconds(use_cache: bool) -> float:
        generator = torch.Generator().manual_seed(seed)
        return _seconds(idx.device, generate, model, idx, max_new_tokens, generator=generator,
                        use_cache=use_cache)  # fmt: skip

    seconds(True), seconds(False)  # warm-up: first calls allocate and pick kernels
    pairs = [(seconds(True), seconds(False)) for _ in range(repeats)]  # (cached, uncached)
    return {
        "cache": max_new_tokens / statistics.median(c for c, _ in pairs),
        "no_cache": max_new_tokens / statistics.median(n for _, n in pairs),
        "speedup": statistics.median(n / c for c, n in pairs),
        "speedup_min": min(n / c for c, n in pairs),
    }


def next_token_cost(
    model: nn.Module,
    lengths: list[int],
    repeats: int = 20,
    generator: torch.Generator | None = None,
) -> list[dict]:
    """The cost of predicting the token after L tokens, for each context length L.

    Without the cache the model runs over all L tokens: its cost grows with L. With the cache
    it runs over the newest token only, reading the L − 1 cached keys and values (the cache
    reserved for the whole context, as ``generate`` does): its cost hardly grows. Random
    tokens; medians of ``repeats`` timings, in milliseconds.

    Returns:
        one ``{"context": L, "full_ms": ..., "cached_ms": ..., "speedup": ...}`` per length.
    """
    block_size = model.config.block_size
    if not is_int(repeats) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}.")
    if bad := [L for L in lengths if not is_int(L) or not 2 <= L <= block_size]:
        limit = f"the model's block_size ({block_size})"
        raise ValueError(f"context lengths must be integers from 2 to {limit}, got {bad}.")
    device = next(model.parameters()).device
    rows = []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for L in lengths:
                idx = torch.randint(model.config.vocab_size, (1, L), generator=generator).to(device)
                model(idx)  # warm-up for this shape
                full = [_seconds(device, model, idx) for _ in range(repeats)]
                cached = []
                for _ in range(repeats):
                    cache = KVCache(model.config.n_layer, capacity=block_size)
                    model(idx[:, :-1], cache=cache)  # the first L - 1 tokens, cached
                    cached.append(_seconds(device, model, idx[:, -1:], cache=cache))  # the L-th
                full_ms = 1000 * statistics.median(full)
                cached_ms = 1000 * statistics.median(cached)
                rows.append({"context": L, "full_ms": full_ms, "cached_ms": cached_ms,
                             "speedup": full_ms / cached_ms})  # fmt: skip
    finally:
        model.train(was_training)
    return rows
