"""Tests of lmcourse.sampling."""

import numpy as np
import torch

from lmcourse.sampling import sample_from_probs


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
