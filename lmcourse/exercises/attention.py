"""Exercises of notebook 06, "Attention".

Importing this module registers ``06.causal_mask``, ``06.attention_weights`` and
``06.attention_params``. The functions below are the reference solutions; they work on plain
Python lists, so importing them does not import torch.
"""

import math
import random

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import describe_difference

# --------------------------------------------------------------------------- reference solutions


def causal_mask(T: int, S: int) -> list[list[bool]]:
    """The mask for T new queries after S - T cached keys: query t sees keys 0..S - T + t.

    The keys are the S - T tokens of a cache (notebook 09) followed by the T new tokens, so
    new query t is the token at position S - T + t, and sees itself and everything before it.
    Two new tokens after three cached ones::

        >>> causal_mask(2, 5)
        [[True, True, True, True, False], [True, True, True, True, True]]
    """
    return [[s <= S - T + t for s in range(S)] for t in range(T)]


def attention_weights(q: list[list[float]], k: list[list[float]]) -> list[list[float]]:
    """Causal attention weights: ``softmax_s(q_t · k_s / √D)`` over the keys s <= t, 0 after t.

    Two tokens, D = 4 (√D = 2): query 1 scores key 0 with 2·ln 3 and key 1 with 0, scaled ln 3
    and 0, so its weights are 3/4 and 1/4; query 0 sees only key 0::

        >>> q = [[0.0, 0.0, 0.0, 0.0], [2 * math.log(3), 0.0, 0.0, 0.0]]
        >>> k = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
        >>> [[round(w, 6) for w in row] for row in attention_weights(q, k)]
        [[1.0, 0.0], [0.75, 0.25]]
    """
    D = len(q[0])
    weights = []
    for t, query in enumerate(q):
        scores = [sum(a * b for a, b in zip(query, k[s])) / math.sqrt(D) for s in range(t + 1)]
        top = max(scores)  # subtracting the largest score keeps exp from overflowing
        exps = [math.exp(score - top) for score in scores]
        weights.append([e / sum(exps) for e in exps] + [0.0] * (len(k) - t - 1))
    return weights


def attention_params(n_embd: int, bias: bool = True) -> int:
    """Parameters of ``CausalSelfAttention(n_embd, n_head, bias=bias)``, whatever n_head is.

    ``c_attn`` maps C to 3C (queries, keys, values) and ``c_proj`` maps C to C: 4C² weights,
    plus 3C + C = 4C biases.

    >>> attention_params(64)  # 4 * 64**2 + 4 * 64
    16640
    """
    return 4 * n_embd * n_embd + (4 * n_embd if bias else 0)


# --------------------------------------------------------------------------- feedback


def _mask_slips(T: int, S: int) -> list[tuple[list[list[bool]], str]]:
    """What the classic slips return for T new queries and S keys, each with its hint."""
    past = S - T  # the cached keys

    def table(rows: int, columns: int, sees) -> list[list[bool]]:
        return [[sees(t, s) for s in range(columns)] for t in range(rows)]

    return [
        (table(T, T, lambda t, s: s <= t),
         f"one row per new query, one column per key: T rows of S, here {T} of {S}, for the "
         f"new tokens come after {past} cached ones"),
        (table(T, S, lambda t, s: s <= t),
         f"new query t is the token at position S - T + t (here {past} + t): it sees every "
         "cached key, then the new ones up to itself"),
        (table(S, S, lambda t, s: s <= t),
         "only the T new tokens are queries: yours has a row for every key; the mask is the "
         "last T rows of the (S, S) one"),
        (table(S, T, lambda t, s: t <= past + s),
         "yours is transposed: row t is query t, column s is key s, T rows of S"),
        (table(T, S, lambda t, s: s < past + t),
         "a query may see its own key: keep s = S - T + t"),
        (table(T, S, lambda t, s: s <= past + t + 1),
         "query t may not see the key after its own: the very token it has to predict"),
        (table(T, S, lambda t, s: s > past + t),
         "True must mean 'may look': yours marks the forbidden keys, the convention of "
         "nn.MultiheadAttention's attn_mask"),
    ]  # fmt: skip


def _compare_masks(expected: list[list[bool]], got) -> str | None:
    """``describe_difference`` plus the classic slips: no room for the cache, the whole (S, S)
    mask, the transpose, the diagonal, one step too far, True for forbidden."""
    difference = describe_difference(expected, got, "rows")
    if difference is None:
        return None
    try:
        rows = [list(row) for row in got]
    except TypeError:
        return difference
    if not all(isinstance(x, bool) for row in rows for x in row):
        return f"{difference} (each entry should be True or False)"
    T, S = len(expected), len(expected[0])
    for slip, hint in _mask_slips(T, S):
        if rows == slip:
            return f"{difference} ({hint})"
    return difference


def _compare_weights(expected: list[list[float]], got) -> str | None:
    """``describe_difference`` plus a hint: the future, a row's sum, or the 1/√D scale."""
    difference = describe_difference(expected, got, "rows")
    if difference is None:
        return None
    try:
        rows = [[float(w) for w in row] for row in got]
    except (TypeError, ValueError):
        return difference
    if [len(row) for row in rows] != [len(row) for row in expected]:
        return difference
    for t, row in enumerate(rows):
        if any(math.isnan(w) for w in row):
            return f"{difference} (row {t} has nan: query {t} sees keys 0..{t}, itself included)"
        if any(w != 0 for w in row[t + 1 :]):
            return f"{difference} (row {t} gives weight to a later key: mask the keys s > {t})"
        if not math.isclose(sum(row), 1.0, rel_tol=1e-6):
            return f"{difference} (row {t} sums to {sum(row):.4g}, not 1)"
    peaks = [(max(row) - max(e)) for row, e in zip(rows, expected) if len(row) > 1]
    if peaks and all(p >= -1e-12 for p in peaks):
        return f"{difference} (your weights are too peaked: divide the scores by √D)"
    if peaks and all(p <= 1e-12 for p in peaks):
        return f"{difference} (your weights are too flat: divide the scores by √D, no more)"
    return difference


# --------------------------------------------------------------------------- cases


def _weights_cases() -> list[tuple[list[list[float]], list[list[float]]]]:
    rng = random.Random(6)
    cases = [
        ([[0.0, 0.0, 0.0, 0.0], [2 * math.log(3), 0.0, 0.0, 0.0]],
         [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]),
        ([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 1.0], [2.0, -1.0]]),
    ]  # fmt: skip
    for T, D in [(4, 4), (5, 9), (3, 1)]:
        vectors = [[[round(rng.gauss(0, 1), 2) for _ in range(D)] for _ in range(T)]
                   for _ in range(2)]  # fmt: skip
        cases.append(tuple(vectors))
    return cases


register(
    Exercise(
        name="06.causal_mask",
        prompt="When a model generates text it keeps the keys of the tokens it has already "
        "read in a cache (notebook 09) and computes queries only for the T new tokens: the S "
        "keys are the S - T cached tokens followed by the T new ones (section 4's "
        "CausalSelfAttention calls causal_mask(T, S) for this). Return that mask as T rows of S "
        "booleans: row t is new query t, column s is key s, and `mask[t][s]` is True when "
        "query t may look at key s, that is, at itself and at every earlier token. With S = T "
        "(no cache) it is section 3's mask.",
        solution=causal_mask,
        cases=[(2, 5), (1, 1), (3, 3), (1, 4), (3, 5), (4, 9), (2, 2)],
        noun="rows",
        compare=_compare_masks,
    )
)
register(
    Exercise(
        name="06.attention_weights",
        prompt="Given T queries `q` and T keys `k` (lists of T vectors of size D), return the "
        "causal attention weights as T rows of T floats: for s <= t, `w[t][s]` is the softmax "
        "over s of the scaled scores `q[t]·k[s] / √D`; for s > t (the future), `w[t][s]` is 0. "
        "Every row sums to 1.",
        solution=attention_weights,
        cases=_weights_cases,
        noun="rows",
        compare=_compare_weights,
    )
)
register(
    Exercise(
        name="06.attention_params",
        prompt="Return the number of parameters of `CausalSelfAttention(n_embd, n_head, "
        "bias=bias)`: `c_attn` is a linear layer from C = n_embd to 3C (the queries, keys and "
        "values of all heads), `c_proj` a linear layer from C to C; with `bias`, each linear "
        "layer also has one bias per output. (Why does n_head not matter?)",
        solution=attention_params,
        cases=[(64, True), (64, False), (768, True), (1, True), (12, False)],
        noun="parameters",
    )
)
