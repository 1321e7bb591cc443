"""Exercises of notebook 12, "Scale and compute".

Importing this module registers ``12.train_days``, ``12.adam_memory_gb`` and
``12.kv_cache_tokens``: the back-of-the-envelope sums of training and serving a large model
(how many days on how many accelerators, how much memory AdamW holds, how long a context fits
next to the weights). The reference solutions work on plain Python numbers, so importing them
imports neither torch nor ``lmcourse.scaling`` (the tests compare them with ``lmcourse.scaling``).
"""

import math
import numbers
import operator
from typing import Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import _short, describe_difference, int_as_float
from lmcourse.exercises.slips import number_compare, slip_hint

#: Seconds in a day.
DAY = 24 * 3600

#: Parameter counts that the cases use, from ``lmcourse.gpt.num_params`` (a test checks them):
#: GPT-2 small and XL, GPT-3 175B, and the ``cpu`` and ``gpu`` presets over Shakespeare's 70
#: characters.
GPT2_SMALL, GPT2_XL, GPT3_175B = 124_439_808, 1_557_611_200, 174_604_259_328
CPU_PRESET, GPU_PRESET = 804_736, 10_747_008

# --------------------------------------------------------------------------- reference solutions


def train_days(params: float, tokens: float, gpus: int, peak_flops: float, mfu: float) -> float:
    """Days to train ``params`` parameters on ``tokens`` tokens with ``gpus`` accelerators.

    Training costs 6 FLOPs per parameter per token (2 forward, 4 backward: 6·N·D in all); each
    accelerator has a peak of ``peak_flops`` FLOP/s and reaches the fraction ``mfu`` of it
    (model FLOPs utilisation). GPT-3 175B on 300 billion tokens, 1,024 A100s at 40% of their
    312 TFLOP/s in bf16: about four weeks::

        >>> round(train_days(175e9, 300e9, 1024, 312e12, 0.4), 1)
        28.5
    """
    flops = 6 * params * tokens
    seconds = flops / (gpus * peak_flops * mfu)
    return seconds / DAY


def adam_memory_gb(params: float, bytes_per_weight: int) -> float:
    """Gigabytes (10^9 bytes) of the weights, their gradients and AdamW's two moments.

    Weights and gradients take ``bytes_per_weight`` bytes each (4 in float32, 2 in bf16); AdamW's
    moments stay in float32, 4 bytes each: 2 + 2 + 8 = 12 bytes per parameter with bf16 weights
    and no float32 master copy, 16 in float32. GPT-2 small in float32::

        >>> adam_memory_gb(124_439_808, 4)
        1.991036928
    """
    weights_and_gradients = 2 * bytes_per_weight  # in the precision of the weights
    moments = 2 * 4  # AdamW's first and second moments, always float32
    return params * (weights_and_gradients + moments) / 1e9


def kv_cache_tokens(
    n_layer: int, n_embd: int, bytes_per_value: int, memory_bytes: float, batch_size: int
) -> int:
    """The longest context whose KV cache, for ``batch_size`` sequences, fits in the memory.

    Each token leaves, in each layer, a key and a value of ``n_embd`` numbers, for every
    sequence of the batch; a token fits only whole. GPT-2 small in float16, 16 GB, one sequence::

        >>> kv_cache_tokens(12, 768, 2, 16e9, 1)  # 36,864 bytes a token
        434027
    """
    bytes_per_token = 2 * n_layer * n_embd * bytes_per_value * batch_size
    return int(memory_bytes // bytes_per_token)


# --------------------------------------------------------------------------- feedback
# ``check`` calls ``compare(expected, got)``; the hints also need the case's inputs, so each
# compare tries the cases whose reference output is ``expected`` and names the classic slips
# that return what the learner's function returned (all of them, when two slips coincide).


def _days_slips(N: float, D: float, G: int, P: float, m: float) -> list[tuple[str, float]]:
    days = 6 * N * D / (G * P * m) / DAY
    return [
        (
            "2·N·D counts the forward pass alone: training also runs backward, which costs "
            "twice the forward, so 6 FLOPs per parameter per token in all",
            days / 3,
        ),
        ("training costs 6 FLOPs per parameter per token (2 forward, 4 backward)", days / 6),
        (
            "the accelerators reach only the fraction mfu of their peak: a lower mfu must take "
            "longer",
            days * m,
        ),
        (
            "a lower mfu takes longer, not shorter: the cluster does only mfu times its peak "
            "FLOP/s, so the time grows as mfu falls",
            days * m * m,
        ),
        (
            "the cluster's FLOP/s is the product of gpus, peak_flops and mfu: divide by the "
            "whole product (a / b * c is (a / b) · c, not a / (b · c))",
            6 * N * D / G * P * m / DAY,
        ),
        ("the work is shared by all the gpus: each does only its part", days * G),
        ("that is in seconds: a day has 24 · 3600 = 86,400 of them", days * DAY),
        ("that is in hours: a day has 24", days * 24),
        ("that is in minutes: a day has 1,440", days * 1440),
        (
            "a day is 24 · 3600 seconds: divide by both (x / 24 * 3600 multiplies by 3600)",
            6 * N * D / (G * P * m) / 24 * 3600,
        ),
        ("that is in years: the task asks for days", days / 365),
    ]


def _memory_slips(N: float, b: int) -> list[tuple[str, float]]:
    return [
        (
            "AdamW's two moments stay in float32, 4 bytes each, whatever the precision of the "
            "weights",
            N * 4 * b / 1e9,
        ),
        (
            "backward leaves a gradient for every weight, in the weights' precision: count the "
            "gradients too",
            N * (b + 8) / 1e9,
        ),
        ("a GB is 10^9 bytes; 2^30 bytes is a GiB (a gibibyte)", N * (2 * b + 8) / 2**30),
        (
            "AdamW keeps two moments per parameter, the running means of the gradients and of "
            "their squares",
            N * (2 * b + 4) / 1e9,
        ),
        (
            "count the weights, the gradients and the two moments only: no float32 copy of the "
            "weights",
            N * (2 * b + 12) / 1e9,
        ),
        ("that is the weights alone: training also holds gradients and moments", N * b / 1e9),
        ("that is in bytes: a GB is 10^9 bytes", N * (2 * b + 8)),
        ("that is in megabytes (10^6 bytes): a GB is 10^9 bytes", N * (2 * b + 8) / 1e6),
    ]


def _tokens_slips(L: int, C: int, b: int, M: float, B: int) -> list[tuple[str, int]]:
    per_token = 2 * L * C * b * B
    round_down = (
        "round down, not up nor to the nearest: a token whose keys and values do not all fit "
        "cannot be cached"
    )
    return [
        (
            "each layer caches two vectors per token: its key and its value",
            int(M // (L * C * b * B)),
        ),
        (
            "the memory holds a cache for each of the batch_size sequences: the context is "
            "what each of them gets",
            int(M // (2 * L * C * b)),
        ),
        ("every layer keeps its own keys and values", int(M // (2 * C * b * B))),
        (
            "memory_bytes counts bytes, and each cached number takes bytes_per_value of them",
            int(M // (2 * L * C * B)),
        ),
        (round_down, math.ceil(M / per_token)),
        (round_down, round(M / per_token)),
        ("one more token still fits", int(M // per_token) - 1),
    ]


def _compare_tokens(expected: int, got: Any) -> str | None:
    """Exactly the int; a float is named as such, a fraction of a token asked to round down."""
    difference = describe_difference(expected, got, "tokens")
    if difference is None or not isinstance(got, numbers.Real) or isinstance(got, bool):
        return difference
    notes = []
    if not isinstance(got, numbers.Integral):
        difference = f"expected the int {expected}, got the float {_short(got)}"
        if not math.isfinite(got):
            return difference
        if not float(got).is_integer():
            notes.append("a context is a whole number of tokens: round down to one")
        elif int(got) == expected:
            return int_as_float(expected, float(got))
        got = math.floor(got)
    if got != expected:
        fallback = (
            "find the bytes one token takes in the caches of the whole batch, then how many "
            "whole tokens fit in the memory"
        )
        notes.append(
            slip_hint(_SOLUTIONS, "12.kv_cache_tokens", expected, got, operator.eq) or fallback
        )
    return f"{difference} ({'; '.join(notes)})"


# --------------------------------------------------------------------------- cases


def _days_cases() -> list[tuple[float, float, int, float, float]]:
    return [
        (175e9, 300e9, 1024, 312e12, 0.4),  # GPT-3 on 1,024 A100s (bf16 peak), 40% MFU
        (70e9, 1.4e12, 1024, 312e12, 0.4),  # Chinchilla's 70B on 1.4 trillion tokens
        (GPT2_SMALL, 300e9, 8, 312e12, 0.35),  # GPT-2 small as nanoGPT trains it, 8 A100s
        (GPT2_XL, 32e9, 8, 989e12, 0.45),  # GPT-2 XL on 8 H100s (bf16 dense peak)
        (GPT3_175B, 300e9, 10_000, 125e12, 0.2),  # the paper's cluster: 10,000 V100s
        (CPU_PRESET, 1.536e6, 1, 2e11, 0.05),  # the cpu preset: 2,000 steps of 12 × 64 tokens
        (GPU_PRESET, 81.92e6, 1, 312e12, 0.3),  # the gpu preset on one A100
        (1e9, 20e9, 1, 1e15, 1.0),  # one petaflop/s at its peak: the answer in PF-days
        (7e9, 2e12, 512, 989e12, 0.5),
        (1e8, 0.0, 4, 312e12, 0.4),  # no tokens, no time
    ]


def _memory_cases() -> list[tuple[float, int]]:
    return [
        (GPT2_SMALL, 4),  # float32: 16 bytes per parameter
        (GPT2_SMALL, 2),  # bf16 weights and gradients: 12 bytes
        (GPT2_XL, 4),
        (GPT2_XL, 2),
        (GPT3_175B, 2),  # about 2 TB: far more than one accelerator holds
        (70e9, 2),
        (7e9, 1),  # 8-bit weights and gradients: 10 bytes
        (CPU_PRESET, 4),
        (GPU_PRESET, 8),  # float64: 24 bytes
        (1, 4),
        (0, 2),
    ]


def _tokens_cases() -> list[tuple[int, int, int, float, int]]:
    return [
        (12, 768, 2, 16e9, 1),  # GPT-2 small in float16 on a 16 GB card
        (48, 1600, 4, 24e9, 8),  # GPT-2 XL in float32 on a 24 GB card, 8 sequences
        (96, 12288, 2, 80e9, 1),  # GPT-3 175B, a whole 80 GB A100 for the cache
        (96, 12288, 2, 8 * 80e9 - 350e9, 8),  # 8 A100s, after 350 GB of bf16 weights
        (4, 192, 4, 1e6, 1),  # the shipped model's size, 1 MB
        (6, 384, 4, 2**30, 64),  # the gpu preset, 1 GiB, its batch of 64
        (1, 8, 1, 100.0, 3),  # 48 bytes a token: 2 tokens, 4 bytes left over
        (12, 768, 2, 37_748_736.0, 1),  # exactly GPT-2's full context of 1,024 tokens
        (12, 768, 2, 37_748_735.0, 1),  # one byte less: 1,023
        (12, 768, 2, 1000.0, 1),  # less than one token
        (12, 768, 2, 0.0, 3),
    ]


_SOLUTIONS = {
    "12.train_days": (train_days, _days_cases, _days_slips),
    "12.adam_memory_gb": (adam_memory_gb, _memory_cases, _memory_slips),
    "12.kv_cache_tokens": (kv_cache_tokens, _tokens_cases, _tokens_slips),
}

register(
    Exercise(
        name="12.train_days",
        prompt="How many days does it take to train a model of `params` parameters on `tokens` "
        "tokens, with `gpus` accelerators of `peak_flops` FLOP/s each, that reach the fraction "
        "`mfu` (model FLOPs utilisation, between 0 and 1) of their peak? Count 6·N·D FLOPs for "
        "training: 2 per parameter per token forward, 4 backward. Checked to within a relative "
        "1e-6.",
        solution=train_days,
        cases=_days_cases,
        noun="numbers",
        compare=number_compare(
            _SOLUTIONS,
            "12.train_days",
            "work out the FLOPs of training, the FLOP/s the whole cluster really reaches, the "
            "seconds that takes, then turn the seconds into days",
        ),
    )
)
register(
    Exercise(
        name="12.adam_memory_gb",
        prompt="How many gigabytes (10^9 bytes) do the weights, their gradients and AdamW's two "
        "moments take for a model of `params` parameters? Weights and gradients take "
        "`bytes_per_weight` bytes each (4 in float32, 2 in bf16); AdamW's moments are always "
        "float32, 4 bytes each, and there is no float32 master copy of the weights: bf16 weights "
        "give 2 + 2 + 8 = 12 bytes per parameter; float32: 16. Checked to within a relative 1e-6.",
        solution=adam_memory_gb,
        cases=_memory_cases,
        noun="numbers",
        compare=number_compare(
            _SOLUTIONS,
            "12.adam_memory_gb",
            "add up the bytes per parameter (weights, gradients, two moments), multiply by the "
            "parameters, then turn bytes into GB",
        ),
    )
)
register(
    Exercise(
        name="12.kv_cache_tokens",
        prompt="Generation keeps a KV cache: in each of `n_layer` layers, a key and a value of "
        "`n_embd` numbers for every token so far, for each of the `batch_size` sequences, each "
        "number taking `bytes_per_value` bytes. Return the longest context, in whole tokens "
        "(an int), whose cache fits in `memory_bytes` bytes.",
        solution=kv_cache_tokens,
        cases=_tokens_cases,
        noun="tokens",
        compare=_compare_tokens,
    )
)
