"""Tests of lmcourse.cache_speed: what the KV cache saves, measured."""

import math

import pytest
import torch

from lmcourse.cache_speed import generation_speed, next_token_cost
from lmcourse.gpt import GPT, GPTConfig


def _tiny_gpt(block_size: int) -> GPT:
    config = GPTConfig(vocab_size=11, block_size=block_size, n_layer=2, n_head=2, n_embd=16)
    return GPT(config, generator=torch.Generator().manual_seed(0))


def test_generation_speed_times_cached_and_uncached_generation_in_pairs():
    model = _tiny_gpt(block_size=8)
    model.train()
    calls = []  # (tokens passed, whether a cache came with them), one per forward pass
    model.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(
            (args[0].shape[1], kwargs.get("cache") is not None)
        ),
        with_kwargs=True,
    )
    result = generation_speed(model, torch.zeros(1, 3, dtype=torch.long), 5, repeats=2)
    assert set(result) == {"cache", "no_cache", "speedup", "speedup_min"}
    assert all(v > 0 and math.isfinite(v) for v in result.values())
    assert result["speedup_min"] <= result["speedup"]
    # a warm-up pair and 2 measured pairs, each: 5 tokens with the cache, then 5 without
    cached_run = [(3, True), (1, True), (1, True), (1, True), (1, True)]
    uncached_run = [(3, False), (4, False), (5, False), (6, False), (7, False)]
    assert calls == (cached_run + uncached_run) * 3
    assert model.training  # the mode it came in with


def test_next_token_cost_reads_the_cache_for_one_new_token():
    model = _tiny_gpt(block_size=16)
    calls = []
    model.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(
            (args[0].shape[1], None if kwargs.get("cache") is None else len(kwargs["cache"]))
        ),
        with_kwargs=True,
    )
    rows = next_token_cost(model, [4, 16], repeats=3)
    assert [r["context"] for r in rows] == [4, 16]
    for r in rows:
        assert r["full_ms"] > 0 and r["cached_ms"] > 0
        assert r["speedup"] == pytest.approx(r["full_ms"] / r["cached_ms"])
    # per length: a warm-up and 3 full passes, then 3 × (the first L - 1 cached, the L-th)
    expected = []
    for L in (4, 16):
        expected += [(L, None)] * 4 + [(L - 1, 0), (1, L - 1)] * 3
    assert calls == expected


@pytest.mark.parametrize(
    "lengths, repeats, message",
    [([1], 3, "from 2 to the model's block_size"), ([17], 3, "block_size \\(16\\)"),
     ([4.0], 3, "integers"), ([4], 0, "repeats")],
)  # fmt: skip
def test_next_token_cost_names_bad_input(lengths, repeats, message):
    model = _tiny_gpt(block_size=16)
    with pytest.raises(ValueError, match=message):
        next_token_cost(model, lengths, repeats=repeats)
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        generation_speed(model, torch.zeros(1, 2, dtype=torch.long), 0)
