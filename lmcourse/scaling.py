"""Scale and compute: what training a GPT costs in arithmetic and memory, and how loss scales.

Every figure here comes from the shapes of a ``GPTConfig``; notebook 12 checks each one against
a measurement (PyTorch's FLOP counter, the tensors autograd saves, a trained model's loss).

- Compute. Training on D tokens costs ``training_flops = flops_per_token · D``, about 6·N·D for
  N parameters (``lmcourse.gpt.flops_per_token``: 2N forward, 4N backward, plus attention).
  GPT-3's paper counts 6·N·D (its Table D.1, ``GPT3_TRAIN_COMPUTE``); one petaflop/s-day is
  10^15 · 86,400 FLOPs (``PF_DAY``).
- Memory. Training in float32 with AdamW holds the weights, their gradients and AdamW's two
  moments (4 values per parameter), plus the activations that backward needs, which grow with
  the batch and the context (``activation_values``). Generation holds a cache of every past
  key and value (``kv_cache_bytes``).
- Scaling laws. Loss falls as a power of model size towards a floor, L(N) = a·N^(−α) + c
  (Kaplan et al., 2020); ``fit_power_law`` fits the three numbers. Chinchilla's rule (Hoffmann
  et al., 2022) spends a budget C = 6·N·D on about 20 tokens per parameter
  (``chinchilla_optimal``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from lmcourse.gpt import GPTConfig, flops_per_token, num_params
from lmcourse.utils import is_int, is_real

__all__ = [
    "GPT3_TRAIN_COMPUTE",
    "PF_DAY",
    "activation_values",
    "chinchilla_optimal",
    "fit_power_law",
    "kv_cache_bytes",
    "saved_activation_bytes",
    "training_flops",
    "training_memory",
]

#: One petaflop/s-day: 10^15 floating-point operations a second for a day.
PF_DAY = 1e15 * 24 * 3600

#: GPT-3's training compute as its paper prints it (Brown et al., 2020, Table D.1): parameters
#: in millions, training tokens in billions, total compute in petaflop/s-days. The paper counts
#: 6 FLOPs per parameter per token and leaves attention out.
GPT3_TRAIN_COMPUTE = {
    "gpt3-small": (125, 300, 2.60),
    "gpt3-medium": (356, 300, 7.42),
    "gpt3-large": (760, 300, 15.8),
    "gpt3-xl": (1320, 300, 27.5),
    "gpt3-2.7b": (2650, 300, 55.2),
    "gpt3-6.7b": (6660, 300, 139),
    "gpt3-13b": (12850, 300, 268),
    "gpt3-175b": (174600, 300, 3640),
}


def training_flops(config: GPTConfig, tokens: float) -> float:
    """FLOPs to train ``GPT(config)`` on ``tokens`` tokens: ``flops_per_token(config) · tokens``.

    Example: GPT-3 175B on 300 billion tokens, about 3.2·10^23 FLOPs (3,700 PF-days)::

        >>> from lmcourse.gpt import GPT3_CONFIGS
        >>> round(training_flops(GPT3_CONFIGS["gpt3-175b"], 300e9) / PF_DAY)
        3738
    """
    _check_amount("tokens", tokens, positive=False)
    return flops_per_token(config) * float(tokens)


def _check_amount(name: str, value, positive: bool = True) -> None:
    """A finite real number, > 0 (or >= 0); a bool or a str is refused by name."""
    if not (is_real(value) and math.isfinite(value) and (value > 0 or not positive and value == 0)):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}.")


def _check_count(name: str, value, minimum: int) -> None:
    """An integer of at least ``minimum``; a float, a bool or a str is refused by name."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def activation_values(config: GPTConfig, batch_size: int, tokens: int | None = None) -> int:
    """How many numbers a training forward pass of the course's GPT keeps for backward.

    Per block, the input of every matrix product and LayerNorm that backward needs: the block's
    input and the first LayerNorm's output (2), q, k, v and the attention output (4), the second
    LayerNorm's input and output (2), the MLP's hidden layer before and after GELU (2 × 4):
    16 values per token per channel, plus attention's log-sum-exp, one per head per token. Then
    the embeddings' sum and the last LayerNorm's output (2 per channel) and the log-softmax of
    the logits (V per token). Fused attention keeps no T×T matrix. (With dropout, each
    dropout also keeps its mask: more than this.)

        values = B·T·(L·(16·C + H) + 2·C + V)

    Args:
        config: the model.
        batch_size: B, windows per step.
        tokens: T, tokens per window (default: ``config.block_size``).
    """
    _check_count("batch_size", batch_size, 1)
    T = config.block_size if tokens is None else tokens
    _check_count("tokens", T, 1)
    if T > config.block_size:
        raise ValueError(f"tokens {T} is more than the model's context, {config.block_size}.")
    C, H, L, V = config.n_embd, config.n_head, config.n_layer, config.vocab_size
    return batch_size * T * (L * (16 * C + H) + 2 * C + V)


def saved_activation_bytes(model: nn.Module, idx: torch.Tensor, targets: torch.Tensor) -> int:
    """Measure what ``activation_values`` estimates: the bytes autograd saves for backward.

    Runs one forward pass with a hook on every tensor saved for backward and adds up the sizes
    of their storages, each storage once and the model's parameters not at all.
    """
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(idx, targets)
    return sum(saved.values())


def training_memory(config: GPTConfig, batch_size: int, bytes_per_value: int = 4) -> dict:
    """Bytes that training with AdamW holds, by kind, all in ``bytes_per_value`` (4: float32).

    Weights N, gradients N, AdamW's first and second moments 2N, and the activations of one
    step (``activation_values``); ``"total"`` adds them up.
    """
    _check_count("bytes_per_value", bytes_per_value, 1)
    n = num_params(config)
    memory = {
        "weights": n * bytes_per_value,
        "gradients": n * bytes_per_value,
        "AdamW moments": 2 * n * bytes_per_value,
        "activations": activation_values(config, batch_size) * bytes_per_value,
    }
    memory["total"] = sum(memory.values())
    return memory


def kv_cache_bytes(
    config: GPTConfig, batch_size: int, tokens: int, bytes_per_value: int = 4
) -> int:
    """Bytes of a KV cache after ``tokens`` tokens: a key and a value of C per layer per token.

    bytes = 2 · L · B · tokens · C · bytes_per_value
    """
    _check_count("batch_size", batch_size, 1)
    _check_count("tokens", tokens, 0)
    _check_count("bytes_per_value", bytes_per_value, 1)
    return 2 * config.n_layer * batch_size * tokens * config.n_embd * bytes_per_value


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, float]:
    """Fit y = a · x^(−α) + c to points with positive x; return (a, α, c).

    For a fixed floor c, log(y − c) = log a − α·log x is a straight line, fitted by least
    squares; the floor is the one, among 2,000 values from 0 up to just under min(y), whose line
    leaves the smallest squared error in y itself.

    Example: points made from a = 10, α = 0.5, c = 1 give those numbers back::

        >>> xs = [1, 4, 16, 64, 256]
        >>> a, alpha, c = fit_power_law(xs, [10 * x**-0.5 + 1 for x in xs])
        >>> round(a, 2), round(alpha, 3), round(c, 2)
        (10.0, 0.5, 1.0)
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 3:
        raise ValueError(f"x and y must be two lists of the same length, at least 3 points; got "
                         f"shapes {x.shape} and {y.shape}.")  # fmt: skip
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise ValueError("x and y must be positive and finite (a loss above a floor of 0 or more).")
    log_x = np.log(x)
    if np.ptp(log_x) == 0:
        raise ValueError("x needs at least two different values to fit a slope.")

    def fit(c: float) -> tuple[float, float, float]:  # (squared error in y, a, alpha) for c
        slope, intercept = np.polyfit(log_x, np.log(y - c), 1)
        a = math.exp(intercept)
        return float(np.sum((a * x**slope + c - y) ** 2)), a, float(-slope)

    floors = np.linspace(0.0, y.min(), 2001)[:-1]  # the floor stays under every point
    best = min(floors, key=lambda c: fit(c)[0])
    step = floors[1] - floors[0]  # then a finer look around the best floor
    fine = np.linspace(max(best - step, 0.0), min(best + step, y.min() - step / 100), 201)
    c = float(min(fine, key=lambda c: fit(c)[0]))
    _, a, alpha = fit(c)
    return a, alpha, c


def chinchilla_optimal(compute: float, tokens_per_parameter: float = 20.0) -> tuple[float, float]:
    """The model size N and tokens D that spend ``compute`` FLOPs as Chinchilla advises.

    With C = 6·N·D and D = k·N (k ≈ 20 tokens per parameter, Hoffmann et al., 2022):
    N = √(C / 6k), D = k·N.

        >>> n, d = chinchilla_optimal(5.76e23)  # Chinchilla's own budget: 70B params, 1.4T tokens
        >>> round(n / 1e9), round(d / 1e12, 1)
        (69, 1.4)
    """
    _check_amount("compute", compute)
    _check_amount("tokens_per_parameter", tokens_per_parameter)
    n = math.sqrt(compute / (6 * tokens_per_parameter))
    return n, tokens_per_parameter * n
