"""Choosing the next token from a model's distribution: greedy or with a temperature.

The same rule serves every model of the course, from n-gram counts to GPT.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["sample_from_probs"]


def sample_from_probs(
    probs: np.ndarray, temperature: float = 1.0, generator: torch.Generator | None = None
) -> int:
    """The index of the next token: greedy for temperature 0, else a sample from P^(1/T).

    ``P^(1/T)``, renormalised, sharpens the distribution for T < 1 (towards the argmax) and
    flattens it for T > 1 (towards uniform); T = 1 samples from P itself. It is computed in
    logs, ``exp((log p - max log p) / T)``, so a small T cannot overflow, and a token with
    probability 0 stays impossible at every temperature.

    Args:
        probs: probabilities of the V tokens, shape (V,), non-negative.
        temperature: T >= 0.
        generator: a seeded ``torch.Generator`` for reproducible samples.

    Example::

        >>> sample_from_probs(np.array([0.1, 0.7, 0.2]), temperature=0)
        1
    """
    if temperature == 0:
        return int(np.argmax(probs))
    with np.errstate(divide="ignore"):
        logits = np.log(probs) / temperature  # log(p ** (1/T)); log 0 = -inf stays impossible
    weights = np.exp(logits - logits.max())  # subtract the max: no overflow for small T
    return int(torch.multinomial(torch.from_numpy(weights), 1, generator=generator))
