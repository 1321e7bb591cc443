"""Tests of lmcourse.sampling."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcourse.sampling import sample_from_probs, top_k_filter, top_p_filter


def test_temperature_zero_is_the_argmax():
    assert sample_from_probs(np.array([0.1, 0.7, 0.2]), temperature=0) == 1


def test_samples_follow_the_distribution():
    probs = np.array([0.1, 0.6, 0.3, 0.0])
    gen = torch.Generator().manual_seed(0)
    draws = np.bincount([sample_from_probs(probs, 1.0, gen) for _ in range(20_000)], minlength=4)
    np.testing.assert_allclose(draws / draws.sum(), probs, atol=0.015)
    assert draws[3] == 0  # probability 0 stays impossible


def test_temperature_sharpens_and_flattens():
    """At T the weights are p ** (1/T), renormalised: T = 0.5 squares them, T = 2 takes roots."""
    probs = np.array([0.2, 0.8])
    for temperature, expected in [
        (0.5, 0.8**2 / (0.2**2 + 0.8**2)),
        (2.0, 0.8**0.5 / (0.2**0.5 + 0.8**0.5)),
    ]:
        gen = torch.Generator().manual_seed(1)
        share = np.mean([sample_from_probs(probs, temperature, gen) for _ in range(20_000)])
        assert abs(share - expected) < 0.015, (temperature, share, expected)


def test_tiny_temperature_does_not_overflow():
    probs = np.array([1e-300, 0.5, 0.5 - 1e-300])
    assert sample_from_probs(probs, 1e-6, torch.Generator().manual_seed(0)) in (1, 2)


def test_seeded_generator_is_reproducible():
    probs = np.full(50, 1 / 50)
    a = [sample_from_probs(probs, 1.0, torch.Generator().manual_seed(5)) for _ in range(3)]
    b = [sample_from_probs(probs, 1.0, torch.Generator().manual_seed(5)) for _ in range(3)]
    assert a == b


# --------------------------------------------------------------------------- top-k and top-p


# Logits with ties: small integers make equal values likely.
LOGITS = st.lists(st.integers(-4, 4).map(float), min_size=1, max_size=12)


def reference_top_p(probs: list[float], p: float) -> set[int]:
    """Plain Python: add tokens from the most likely down until the mass reaches p; add ties."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    kept, mass = [], 0.0
    for i in order:
        if mass >= p and not (kept and math.isclose(probs[i], probs[kept[-1]])):
            break
        kept.append(i)
        mass += probs[i]
    return set(kept)


@settings(max_examples=200, deadline=None)
@given(LOGITS, st.integers(1, 15))
def test_top_k_keeps_the_k_highest_and_every_tie(values, k):
    out = top_k_filter(torch.tensor(values), k)
    kept = {i for i, v in enumerate(out.tolist()) if v != -math.inf}
    kth = sorted(values, reverse=True)[min(k, len(values)) - 1]
    assert kept == {i for i, v in enumerate(values) if v >= kth}
    assert len(kept) >= min(k, len(values))
    assert all(out[i] == values[i] for i in kept)  # kept logits are unchanged


@settings(max_examples=200, deadline=None)
@given(LOGITS, st.floats(0.01, 1.0))
def test_top_p_keeps_the_smallest_set_reaching_p(values, p):
    logits = torch.tensor(values, dtype=torch.float64)
    probs = torch.softmax(logits, dim=-1).tolist()
    kept = {i for i, v in enumerate(top_p_filter(logits, p).tolist()) if v != -math.inf}
    assert kept == reference_top_p(probs, p)
    assert sum(probs[i] for i in kept) >= p - 1e-9  # it reaches p
    assert int(torch.tensor(probs).argmax()) in kept  # never empty


def test_top_p_hand_checked_and_batched():
    probs = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    out = top_p_filter(probs.log(), 0.7).exp()
    torch.testing.assert_close(out, torch.tensor([[0.5, 0.3, 0.0], [0.0, 0.0, 0.8]]))
    assert torch.equal(top_p_filter(probs.log(), 1.0), probs.log())  # p = 1 keeps everything


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_top_k_is_named(k):
    with pytest.raises(ValueError, match="top_k must be an integer >= 1"):
        top_k_filter(torch.zeros(3), k)


@pytest.mark.parametrize("p", [0, -0.1, 1.01, math.nan, "0.5"])
def test_bad_top_p_is_named(p):
    with pytest.raises(ValueError, match=r"top_p must be a number in \(0, 1\]"):
        top_p_filter(torch.zeros(3), p)
