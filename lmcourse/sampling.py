"""Choosing the next token from a model's distribution: greedy, temperature, top-k, top-p.

The same rule serves every model of the course, from n-gram counts to GPT.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["sample_from_probs", "top_k_filter", "top_p_filter"]


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


def _check_logits(logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.ndim < 1:
        raise ValueError("logits must be a floating-point tensor (..., V).")


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` highest logits of each row; the others become −∞ (probability 0).

    Ties at the boundary are all kept: every token whose logit equals the k-th highest stays,
    so the result never depends on the order of tied tokens (and may keep more than k).

    Shapes:
        logits: (..., V) -> (..., V).

    Example::

        >>> top_k_filter(torch.tensor([1.0, 3.0, 2.0, 3.0]), k=1)
        tensor([-inf, 3., -inf, 3.])
    """
    _check_logits(logits)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {k!r}.")
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): the k-th highest
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al., 2020): keep the most likely tokens whose mass reaches p.

    Sort the probabilities in decreasing order and keep a token while the mass *before* it is
    still below p: the kept set is the smallest whose mass reaches p, and it always holds the
    most likely token. Tokens tied with the last kept one are kept too (order-independent).
    p = 1 keeps every token.

    Shapes:
        logits: (..., V) -> (..., V), the dropped tokens at −∞.

    Example: probabilities 0.5, 0.3, 0.2; p = 0.7 needs the first two (0.5 < 0.7 <= 0.8)::

        >>> top_p_filter(torch.tensor([0.5, 0.3, 0.2]).log(), p=0.7).exp()
        tensor([0.5000, 0.3000, 0.0000])
    """
    _check_logits(logits)
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p <= 1:
        raise ValueError(f"top_p must be a number in (0, 1], got {p!r}.")
    probs = torch.softmax(logits.float(), dim=-1)  # (..., V)
    sorted_probs, _ = torch.sort(probs, dim=-1, descending=True)  # (..., V)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # (..., V)
    kept = (mass_before < p).sum(dim=-1, keepdim=True)  # (..., 1): how many to keep, >= 1
    threshold = sorted_probs.gather(-1, kept - 1)  # (..., 1): the smallest kept probability
    return logits.masked_fill(probs < threshold, float("-inf"))
