"""Choosing the next token from a model's distribution: greedy, temperature, top-k, top-p.

The same rule serves every model of the course, from n-gram counts to GPT.
"""

from __future__ import annotations

import codecs
import inspect
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from lmcourse.utils import is_int, is_real

__all__ = [
    "check_generate_args",
    "check_temperature",
    "choose_next",
    "entropy_bits",
    "generate",
    "sample_from_probs",
    "stream",
    "streaming_decoder",
    "tempered",
    "top_k_filter",
    "top_p_filter",
]


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
    check_temperature(temperature)
    _check_generator(generator)
    probs = np.asarray(probs.detach().cpu() if isinstance(probs, torch.Tensor) else probs, float)
    if probs.ndim != 1 or not probs.size or (probs < 0).any() or not np.isfinite(probs).all():
        raise ValueError("probs must be a (V,) vector of non-negative, finite probabilities.")
    if probs.sum() <= 0:
        raise ValueError("probs are all 0: no token can be chosen.")
    if temperature == 0:
        return int(np.argmax(probs))
    with np.errstate(divide="ignore", over="ignore"):  # log 0, and x / tiny T: -inf, harmless
        log_probs = np.log(probs)  # log 0 = -inf: stays impossible at every T
        weights = np.exp((log_probs - log_probs.max()) / temperature)  # the max's weight is 1
    return int(torch.multinomial(torch.from_numpy(weights), 1, generator=generator))


def entropy_bits(probs: torch.Tensor) -> float:
    """The entropy of a next-token distribution in bits: H(P) = -Σ p log2 p, with 0 · log 0 = 0.

    0 bits: the next token is certain; log2 V bits: all V tokens are equally likely.

    Example::

        >>> entropy_bits(torch.tensor([0.5, 0.25, 0.25, 0.0]))
        1.5
    """
    if not isinstance(probs, torch.Tensor) or probs.ndim != 1 or not probs.is_floating_point():
        raise ValueError(f"probs must be a 1-D floating-point tensor (V,), got {probs!r:.60}.")
    if probs.min() < 0 or not torch.isclose(probs.sum(), probs.new_tensor(1.0), atol=1e-4):
        raise ValueError("probs must be non-negative and sum to 1 (softmax the logits first).")
    nonzero = probs[probs > 0].double()
    return max(0.0, -(nonzero * nonzero.log2()).sum().item())  # max: no -0.0 for a certainty


def check_temperature(temperature: float) -> None:
    """Refuse a temperature that is not a number >= 0, by name; every sampler calls it first.

    A negative T would sample from P^(1/T) with 1/T < 0, favouring the unlikely tokens.
    """
    if not is_real(temperature) or not 0 <= temperature < math.inf:
        raise ValueError(f"temperature must be a number >= 0, got {temperature!r}.")


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {generator!r:.40}.")


def _check_logits(logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.ndim < 1:
        raise ValueError("logits must be a floating-point tensor (..., V).")
    if logits.shape[-1] == 0:
        raise ValueError("logits must have at least one token: V is 0.")


def _row_max(logits: torch.Tensor) -> torch.Tensor:
    """Each row's largest logit, (..., 1); nan or +inf anywhere, or a row of −∞, is refused."""
    row_max = logits.max(dim=-1, keepdim=True).values  # nan if the row has a nan
    if not torch.isfinite(row_max).all():
        raise ValueError("logits must have no nan or +inf, and a finite value in every row.")
    return row_max


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
    if not is_int(k) or k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {k!r}.")
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): the k-th highest
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al., 2020): keep the most likely tokens whose mass reaches p.

    Sort the probabilities in decreasing order and keep a token while the mass *before* it is
    still below p: the kept set is the smallest whose mass reaches p, and it always holds the
    most likely token. Tokens tied with the last kept one are kept too (order-independent).
    p = 1 keeps every token. With the tokens sorted so that P(w_1) ≥ P(w_2) ≥ ...::

        V_p = {w_1, ..., w_k},  k the smallest with P(w_1) + ... + P(w_k) ≥ p
        P'(w) = P(w) / Σ_{v ∈ V_p} P(v)  for w in V_p, else 0   (here: logit −∞)

    Shapes:
        logits: (..., V) -> (..., V), the dropped tokens at −∞.

    Example: probabilities 0.5, 0.3, 0.2; p = 0.7 needs the first two (0.5 < 0.7 <= 0.8)::

        >>> top_p_filter(torch.tensor([0.5, 0.3, 0.2]).log(), p=0.7).exp()
        tensor([0.5000, 0.3000, 0.0000])
    """
    _check_logits(logits)
    if not is_real(p) or not 0 < p <= 1:
        raise ValueError(f"top_p must be a number in (0, 1], got {p!r}.")
    _row_max(logits)  # a nan would make the running sum below meaningless
    if p == 1:  # every token (a float32 running sum can reach 1 before the tail ends)
        return logits
    wide = torch.promote_types(logits.dtype, torch.float32)  # float64 stays float64
    probs = torch.softmax(logits.to(wide), dim=-1)  # (..., V)
    sorted_probs, _ = torch.sort(probs, dim=-1, descending=True)  # (..., V)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # (..., V)
    kept = (mass_before < p).sum(dim=-1, keepdim=True).clamp(min=1)  # (..., 1): how many to keep
    # (clamp: a p under 1e-45 is 0 in float32, and the first token's mass before it, 0, is not < 0)
    threshold = sorted_probs.gather(-1, kept - 1)  # (..., 1): the smallest kept probability
    return logits.masked_fill(probs < threshold, float("-inf"))


# --------------------------------------------------------------------------- generation


def check_generate_args(idx, max_new_tokens, temperature, top_k, top_p, block_size) -> None:
    """Refuse, by name, any argument of ``generate`` a model could not use (GPT's and RNN's)."""
    if not is_int(max_new_tokens) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}.")
    check_temperature(temperature)
    if top_k is not None and (not is_int(top_k) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}.")
    if top_p is not None and (not is_real(top_p) or not 0 < top_p <= 1):
        raise ValueError(f"top_p must be a number in (0, 1] or None, got {top_p!r}.")
    if block_size is not None and (not is_int(block_size) or block_size < 1):
        raise ValueError(f"block_size must be a positive integer or None, got {block_size!r}.")
    if not isinstance(idx, torch.Tensor) or idx.ndim != 2 or idx.dtype != torch.long:
        got = f"{idx.dtype} {tuple(idx.shape)}" if isinstance(idx, torch.Tensor) else type(idx)
        raise ValueError(f"idx must be a (B, T) long tensor of token ids, got {got}.")
    if idx.shape[1] == 0:
        raise ValueError(
            "The prompt is empty: a model needs at least one token to continue. Start from a "
            "newline (the start of a speech) or any character of the vocabulary."
        )


def tempered(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``(logits - max) / T`` for each row: the logits whose softmax is ``P^(1/T)``, renormalised.

    Subtracting the row's maximum leaves the softmax as it is and keeps a tiny T or a huge logit
    from overflowing; a T too small for float32 is divided in float64, so even T = 1e-300
    works. T = 0 is the limit: 0 for the largest logit (and its ties), −∞ for every other.

    Shapes:
        logits: (..., V) -> (..., V), float32 or the logits' wider float type.
    """
    check_temperature(temperature)
    _check_logits(logits)
    dtype = torch.promote_types(logits.dtype, torch.float32)  # float64 stays float64
    shifted = logits.to(dtype) - _row_max(logits)  # (..., V), each row's max now 0
    if temperature == 0:
        return torch.where(shifted == 0, 0.0, -math.inf).to(dtype)
    if temperature < torch.finfo(dtype).tiny:  # T would lose its digits (or be 0) in dtype
        return (shifted.double() / temperature).to(dtype)
    return shifted / temperature


def _check_last_position(logits: torch.Tensor) -> None:
    """Refuse logits that are not (B, V) or (V,): ``model(idx)`` gives (B, T, V), one row of
    logits per position, and only the last position's predict the next token."""
    _check_logits(logits)
    if logits.ndim > 2:
        raise ValueError(
            f"logits must be (B, V) or (V,): the last position's, e.g. `logits[:, -1, :]` of "
            f"model(idx)'s (B, T, V); got shape {tuple(logits.shape)}."
        )


def choose_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The next token of each row: the argmax for temperature 0, else a sample.

    ``softmax(filter(logits / T))``: the temperature first (``tempered``: the ``P^(1/T)``
    rule of ``sample_from_probs``), then top-k, then top-p on the tempered distribution.

    Shapes:
        logits: (B, V) -> (B, 1) long; (V,) -> (1,).
    """
    check_temperature(temperature)
    _check_last_position(logits)  # (B, V) or (V,), not model(idx)'s (B, T, V)
    _check_generator(generator)
    if temperature == 0:
        _row_max(logits)  # refuses nan and +inf, as sampling does
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    logits = tempered(logits, temperature)  # (B, V)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1)  # (B, V)
    if generator is not None:
        probs = probs.to(generator.device)  # a CPU generator samples on the CPU
    return torch.multinomial(probs, 1, generator=generator).to(logits.device)  # (B, 1)


def _context_size(model: nn.Module, block_size: int | None) -> int | None:
    if block_size is not None:
        return block_size
    return getattr(getattr(model, "config", None), "block_size", None)


def _can_cache(model: nn.Module) -> bool:
    """Whether the model can continue from a ``KVCache`` (GPT can; other models recompute)."""
    return "cache" in inspect.signature(model.forward).parameters


def stream(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    block_size: int | None = None,
) -> Iterator[torch.Tensor]:
    """``generate``, one step at a time: yields each new token (B, 1) as soon as it is chosen.

    Same arguments and the same tokens as ``generate`` (which is this, concatenated).
    """
    check_generate_args(idx, max_new_tokens, temperature, top_k, top_p, block_size)
    from lmcourse.attention import KVCache  # (imports torch.nn only; here to keep this light)

    _check_generator(generator)
    model_context = _context_size(model, None)
    if block_size is not None and model_context is not None and block_size > model_context:
        raise ValueError(f"block_size {block_size} is more than the model's {model_context}.")
    block_size = _context_size(model, block_size)
    cached = use_cache and _can_cache(model)
    if block_size is not None:  # when the window is full, keep this many tokens (see generate)
        keep = max(block_size // 2, 1) if _can_cache(model) else block_size
    start = 0 if block_size is None else max(0, idx.shape[1] - block_size)  # the window's start
    cache = None
    was_training = model.training
    model.eval()  # no dropout; the mode comes back when the generator ends or is closed
    try:
        for _ in range(max_new_tokens):
            if block_size is not None and idx.shape[1] - start > block_size:
                start = idx.shape[1] - keep  # the window is full: move it
                cache = None  # the positions moved: the cached keys are stale
            # inference mode (no autograd bookkeeping at all), only around the model: a
            # generator is suspended at each yield, and the caller's code must not run in it
            with torch.inference_mode():
                if not cached:
                    logits, _ = model(idx[:, start:])  # (B, T, V), the whole window again
                elif cache is None:
                    cache = KVCache(model.config.n_layer, capacity=block_size)
                    logits, _ = model(idx[:, start:], cache=cache)  # the window, cached
                else:
                    logits, _ = model(idx[:, -1:], cache=cache)  # only the newest token
                next_idx = choose_next(logits[:, -1], temperature, top_k, top_p, generator)
            next_idx = next_idx.clone()  # (B, 1), an ordinary tensor again, usable anywhere
            idx = torch.cat([idx, next_idx], dim=1)  # (B, T + 1)
            yield next_idx
    finally:
        model.train(was_training)


def generate(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    block_size: int | None = None,
) -> torch.Tensor:
    """Extend every row of ``idx`` by ``max_new_tokens`` tokens sampled from ``model``.

    Each step turns the model's last logits into the next token with ``choose_next``:
    temperature (0 = greedy), then top-k, then top-p. Works for every model with the LM
    interface; a ``GPT`` keeps its keys and values in a ``KVCache`` (``use_cache=True``), so
    each step computes one new token instead of the whole context: the same tokens, faster.

    The context policy, for a model with a maximum context (``block_size``, by default
    ``model.config.block_size``): it first sees the prompt's last ``block_size`` tokens, and
    the window grows with each new token until it is full. Then a model that can use a cache
    (GPT) restarts from the last ``block_size // 2`` tokens and grows again, with and without
    the cache, so that both give the same tokens: sliding by one token would shift every
    position, and since GPT's positions are absolute, every cached key would be stale, the cost
    of no cache at all. Other models (which recompute the window anyway) slide by one token.

    Args:
        model: any LM with the ``forward(idx, targets) -> (logits, loss)`` interface.
        idx: the prompts, (B, T) long with T >= 1, on the model's device.
        max_new_tokens: how many tokens to add (>= 0).
        temperature: T >= 0; below 1 sharper, above 1 flatter, 0 greedy.
        top_k: keep only the k most likely tokens (None: all).
        top_p: keep only the most likely tokens whose mass reaches p, in (0, 1] (None: all).
        generator: a seeded ``torch.Generator`` (on ``idx``'s device, or the CPU).
        use_cache: use a ``KVCache`` when the model supports one.
        block_size: the model's maximum context (None: ``model.config.block_size`` if any).

    Shapes:
        idx: (B, T) -> (B, T + max_new_tokens), the prompt unchanged at the start.
    """
    new = list(stream(model, idx, max_new_tokens, temperature, top_k, top_p, generator,
                      use_cache, block_size))  # fmt: skip
    return torch.cat([idx, *new], dim=1)


def streaming_decoder(tokenizer):
    """``text_of(ids, final=False)``: the text that each new token adds, as it comes.

    A BPE token may end inside a character (``é`` is two bytes in UTF-8, and a token can hold
    one of them): its bytes wait for the rest of the character instead of printing as '�'.
    """
    if not hasattr(tokenizer, "decode_bytes"):
        return lambda ids, final=False: tokenizer.decode(ids)
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return lambda ids, final=False: utf8.decode(tokenizer.decode_bytes(ids), final)
