"""Exercises of notebook 09, "Sampling".

Importing this module registers ``09.apply_temperature``, ``09.top_k``, ``09.top_p`` and
``09.kv_cache_numbers``. The functions below are the reference solutions; they work on plain
Python lists of probabilities, so importing them does not import torch (the tests compare them
with ``lmcourse.sampling``, which works on logits).
"""

import math
import random
from typing import Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import describe_difference, int_as_float
from lmcourse.exercises.slips import close

# --------------------------------------------------------------------------- reference solutions


def apply_temperature(probs: list[float], T: float) -> list[float]:
    """The distribution at temperature T: ``p_i^(1/T) / Σ_j p_j^(1/T)``; one-hot at T = 0.

    Dividing the logits by T is raising the probabilities to the power 1/T (``exp(log p / T)``).
    Computed in logs, relative to the largest, so that a small T cannot underflow every term.
    At T = 0 all the mass goes to the most likely token (the first one, if several tie).
    Probabilities 0.2 and 0.8 at T = 0.5 become 0.04 and 0.64, over 0.68: 1/17 and 16/17::

        >>> [round(x, 4) for x in apply_temperature([0.2, 0.8], 0.5)]
        [0.0588, 0.9412]
    """
    if T == 0:
        best = probs.index(max(probs))
        return [1.0 if i == best else 0.0 for i in range(len(probs))]
    top = math.log(max(probs))
    weights = [math.exp((math.log(p) - top) / T) if p > 0 else 0.0 for p in probs]
    total = sum(weights)
    return [w / total for w in weights]


def top_k(probs: list[float], k: int) -> list[float]:
    """Keep the k largest probabilities (and any tied with the k-th largest), renormalised.

    >>> top_k([0.1, 0.4, 0.2, 0.3], 2)  # 0.4 and 0.3 stay, over 0.7
    [0.0, 0.5714285714285715, 0.0, 0.4285714285714286]
    >>> top_k([0.2, 0.4, 0.2, 0.2], 2)  # three tokens tie for second place: all stay
    [0.2, 0.4, 0.2, 0.2]
    """
    kth = sorted(probs, reverse=True)[min(k, len(probs)) - 1]
    kept = [p if p >= kth else 0.0 for p in probs]
    total = sum(kept)
    return [p / total for p in kept]


def top_p(probs: list[float], p: float) -> list[float]:
    """Nucleus sampling's filter: the fewest most likely tokens whose mass reaches p, renormalised.

    Going down the sorted probabilities, a token is kept while the mass *before* it is still
    below p, so the most likely token is always kept; tokens tied with the last kept one stay.
    With 0.5, 0.3, 0.2 and p = 0.7: 0.5 < 0.7, so the second is kept; 0.8 >= 0.7, so the third
    is not::

        >>> top_p([0.2, 0.5, 0.3], 0.7)  # 0.5 and 0.3 stay, over 0.8
        [0.0, 0.625, 0.37499999999999994]
    """
    mass_before, smallest = 0.0, None
    for q in sorted(probs, reverse=True):
        if mass_before >= p:
            break
        smallest, mass_before = q, mass_before + q
    kept = [q if q >= smallest else 0.0 for q in probs]
    total = sum(kept)
    return [q / total for q in kept]


def kv_cache_numbers(n_layer: int, n_head: int, n_embd: int, tokens: int) -> int:
    """How many numbers a GPT's KV cache holds after ``tokens`` tokens (one sequence).

    Each layer keeps a key and a value per token for each of its H heads, D = C / H numbers
    each, so H · D = C numbers per token for the keys and C for the values: 2 · L · T · C.

    >>> kv_cache_numbers(4, 4, 192, 128)  # 2 * 4 * 128 * 192
    196608
    """
    head_size = n_embd // n_head
    return 2 * n_layer * tokens * n_head * head_size


# --------------------------------------------------------------------------- feedback
# ``check`` calls ``compare(expected, got)``; the hints below also need the case's inputs
# (the probabilities, T, k, p). The cases are fixed and their expected outputs differ, so each
# compare finds its inputs again from the expected output (``_inputs``).


def _inputs(name: str, expected: Any) -> tuple[Any, ...] | None:
    """The arguments of the case of exercise ``name`` whose reference output is ``expected``."""
    solution, cases = _SOLUTIONS[name]
    return next((args for args in cases() if solution(*args) == expected), None)


def _floats(got: Any, n: int) -> list[float] | None:
    """``got`` as a list of n floats, or None when it is not one (the generic message says why)."""
    try:
        values = [float(x) for x in got]
    except (TypeError, ValueError):
        return None
    return values if len(values) == n else None


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))


def _sum_hint(values: list[float], expected: list[float]) -> str | None:
    """Not renormalised, or not a distribution at all: what the sum of ``values`` says."""
    total = sum(values)
    if math.isclose(total, 1.0, rel_tol=1e-6):
        return None
    if total > 0 and _same([v / total for v in values], expected):
        return f"the right shape, but yours sums to {total:.4g}: renormalise, so that it sums to 1"
    return f"yours sums to {total:.4g}: a distribution sums to 1"


def _compare_temperature(expected: list[float], got: Any) -> str | None:
    """``describe_difference`` plus the classic slips: p / T, 1/T upside down, no renormalising."""
    difference = describe_difference(expected, got, "probabilities")
    values, args = _floats(got, len(expected)), _inputs("09.apply_temperature", expected)
    if difference is None or values is None or args is None:
        return difference
    probs, T = args
    if T != 0 and _same(values, [q / T for q in probs]):
        hint = (
            "you divided the probabilities by T: it is the logits, the log-probabilities, that "
            "are divided by T, and exp(log p / T) is not p / T"
        )
    elif T == 0:
        hint = "at T = 0 all the probability goes to the most likely token (greedy decoding)"
    elif T != 1 and _same(values, probs):
        hint = (
            "your distribution did not change: dividing every probability by T and "
            "renormalising cancels out; the temperature acts on the log-probabilities"
        )
    elif T != 1 and _same(values, apply_temperature(probs, 1 / T)):
        hint = "the wrong way round: T < 1 must sharpen the distribution and T > 1 flatten it"
    elif any(v != 0 and q == 0 for v, q in zip(values, probs)):
        hint = "a token of probability 0 must stay impossible at every temperature"
    else:
        hint = _sum_hint(values, expected)
    return f"{difference} ({hint})" if hint else difference


def _kept(values: list[float]) -> set[int]:
    return {i for i, v in enumerate(values) if v > 0}


def _filter_hint(values: list[float], expected: list[float], probs: list[float]) -> str | None:
    """Hints shared by top-k and top-p: the order, the renormalising, the ties, the wrong ones."""
    kept, want = _kept(values), _kept(expected)
    if _same(sorted(values), sorted(expected)):
        return "the right numbers in another order: keep every token at its own position"
    if kept == want:
        return _sum_hint(values, expected)
    if not kept:
        return "you kept no token at all: the most likely token is always kept"
    dropped = [i for i in range(len(probs)) if i not in kept]
    if any(probs[i] < probs[j] for i in kept for j in dropped):
        return "keep the most likely tokens: you dropped a token more likely than one you kept"
    if kept < want and max(probs[i] for i in want - kept) == min(probs[i] for i in kept):
        return (
            "you dropped a token tied with the last one you kept: every token with the same "
            "probability stays too, so that the result does not depend on the tokens' order"
        )
    return None


def _compare_top_k(expected: list[float], got: Any) -> str | None:
    difference = describe_difference(expected, got, "probabilities")
    values, args = _floats(got, len(expected)), _inputs("09.top_k", expected)
    if difference is None or values is None or args is None:
        return difference
    probs, k = args
    hint = _filter_hint(values, expected, probs)
    if hint is None:
        kept, want = len(_kept(values)), len(_kept(expected))
        hint = f"with k = {k} you kept {kept} tokens, expected {want} here: off by one?"
    return f"{difference} ({hint})"


def _compare_top_p(expected: list[float], got: Any) -> str | None:
    difference = describe_difference(expected, got, "probabilities")
    values, args = _floats(got, len(expected)), _inputs("09.top_p", expected)
    if difference is None or values is None or args is None:
        return difference
    probs, p = args
    hint = _filter_hint(values, expected, probs)
    if hint is None:
        kept, want = _kept(values), _kept(expected)
        mass = sum(probs[i] for i in kept)
        if len(kept) < len(want):
            hint = (
                f"the tokens you kept have mass {mass:.4g}, less than p = {p:g}: the kept set "
                "must reach p, so the token that crosses p stays too"
            )
        else:
            hint = (
                f"you kept {len(kept)} tokens, but the {len(want)} most likely already reach "
                f"p = {p:g}: a token is needed only while the mass before it is still below p; "
                "< or <=?"
            )
    return f"{difference} ({hint})"


def _compare_cache(expected: int, got: Any) -> str | None:
    if (as_float := int_as_float(expected, got)) is not None:  # n_embd / n_head is a float
        return as_float
    difference = describe_difference(expected, got, "numbers")
    args = _inputs("09.kv_cache_numbers", expected)
    if difference is None or args is None or not isinstance(got, int | float):
        return difference
    n_layer, n_head, _, _ = args
    if got * 2 == expected:
        hint = "the cache holds two tensors in each layer: the keys and the values"
    elif n_head > 1 and got == expected * n_head:
        hint = "a head keeps n_embd / n_head numbers per token, not n_embd"
    elif n_layer > 1 and got * n_layer == expected:
        hint = "every layer has its own keys and values"
    elif got == 4 * expected:
        hint = "count numbers, not bytes"
    else:
        hint = "count per layer, per token: the keys, then the values"
    return f"{difference} ({hint})"


# --------------------------------------------------------------------------- cases


def _random_distribution(rng: random.Random, V: int, ties: bool) -> list[float]:
    if ties:  # small integer counts: equal counts give exactly equal probabilities
        counts = [rng.randint(0, 4) for _ in range(V)]
        counts[rng.randrange(V)] += 1  # at least one token is possible
    else:
        counts = [rng.expovariate(1.0) ** 2 for _ in range(V)]
    total = sum(counts)
    return [c / total for c in counts]


def _temperature_cases() -> list[tuple[list[float], float]]:
    rng = random.Random(9)
    cases = [
        ([0.2, 0.8], 0.5),
        ([0.1, 0.2, 0.3, 0.4], 2.0),
        ([0.5, 0.25, 0.25], 0.0),
        ([0.6, 0.3, 0.1, 0.0], 0.7),
        ([0.1, 0.2, 0.3, 0.4], 1.0),
        ([0.25, 0.25, 0.25, 0.25], 0.3),
    ]
    for T in (0.25, 0.8, 1.5):
        cases.append((_random_distribution(rng, 6, False), T))
    return cases


def _top_k_cases() -> list[tuple[list[float], int]]:
    rng = random.Random(90)
    cases = [
        ([0.1, 0.4, 0.2, 0.3], 2),
        ([0.2, 0.4, 0.2, 0.2], 2),  # three tokens tie for second place
        ([0.5, 0.3, 0.2], 1),
        ([0.5, 0.2, 0.3], 3),
        ([0.3, 0.5, 0.2], 5),  # k larger than the vocabulary: keep everything
        ([0.1, 0.3, 0.3, 0.3], 1),
    ]
    for V, k, ties in [(8, 3, True), (10, 4, False), (6, 2, True)]:
        cases.append((_random_distribution(rng, V, ties), k))
    return cases


def _top_p_cases() -> list[tuple[list[float], float]]:
    rng = random.Random(900)
    cases = [
        ([0.2, 0.5, 0.3], 0.7),
        ([0.5, 0.25, 0.15, 0.1], 0.75),  # 0.5 + 0.25 reaches 0.75 exactly: two tokens
        ([0.05, 0.9, 0.05], 0.5),  # the most likely token alone is enough
        ([0.4, 0.3, 0.3], 0.5),  # a tie at the boundary: all three stay
        ([0.1, 0.2, 0.3, 0.4], 1.0),  # p = 1 keeps everything
    ]
    for V, p, ties in [(8, 0.9, False), (8, 0.8, True), (12, 0.5, False)]:
        cases.append((_random_distribution(rng, V, ties), p))
    return cases


def _cache_cases() -> list[tuple[int, int, int, int]]:
    return [
        (4, 4, 192, 128),  # the shipped model, a full context
        (1, 1, 8, 1),
        (2, 4, 32, 10),
        (6, 6, 384, 256),  # the gpu preset
        (12, 12, 768, 1024),  # GPT-2 small
        (96, 96, 12288, 2048),  # GPT-3
    ]


_SOLUTIONS = {
    "09.apply_temperature": (apply_temperature, _temperature_cases),
    "09.top_k": (top_k, _top_k_cases),
    "09.top_p": (top_p, _top_p_cases),
    "09.kv_cache_numbers": (kv_cache_numbers, _cache_cases),
}

register(
    Exercise(
        name="09.apply_temperature",
        prompt="Given the probabilities of the next token (a list that sums to 1) and a "
        "temperature T >= 0, return the distribution that sampling at temperature T draws from: "
        "dividing the logits by T raises every probability to the power 1/T, then the result is "
        "renormalised to sum to 1. At T = 0 (greedy) all the probability goes to the most likely "
        "token (the first one if several tie).",
        solution=apply_temperature,
        cases=_temperature_cases,
        noun="probabilities",
        compare=_compare_temperature,
    )
)
register(
    Exercise(
        name="09.top_k",
        prompt="Top-k filtering: keep the k largest probabilities, set all the others to 0, and "
        "renormalise the kept ones to sum to 1; return a list in the tokens' order. Every token "
        "tied with the k-th largest is kept too (so more than k may stay), and a k larger than "
        "the vocabulary keeps every token.",
        solution=top_k,
        cases=_top_k_cases,
        noun="probabilities",
        compare=_compare_top_k,
    )
)
register(
    Exercise(
        name="09.top_p",
        prompt="Top-p (nucleus) filtering: keep the smallest set of most likely tokens whose "
        "total probability reaches p (>= p), set all the others to 0, and renormalise the kept "
        "ones; return a list in the tokens' order. The most likely token is always kept, and a "
        "token tied with the least likely kept one is kept too.",
        solution=top_p,
        cases=_top_p_cases,
        noun="probabilities",
        compare=_compare_top_p,
    )
)
register(
    Exercise(
        name="09.kv_cache_numbers",
        prompt="How many numbers does the KV cache of a GPT (n_layer blocks, n_head heads, width "
        "n_embd) hold after `tokens` tokens of one sequence? Every layer keeps, for each head, "
        "the key and the value of every token seen, vectors of n_embd / n_head numbers each.",
        solution=kv_cache_numbers,
        cases=_cache_cases,
        noun="numbers",
        compare=_compare_cache,
    )
)
