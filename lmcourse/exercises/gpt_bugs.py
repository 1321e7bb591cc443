"""Exercises of notebook 07, "Building GPT": parameter counts, and a broken GPT3 snippet fixed.

Importing this module registers ``07.gpt_params``, ``07.mlp_params``, ``07.exact_gelu``,
``07.fixed_embed`` and ``07.fixed_attention``. The functions below are the reference solutions.

The last two fix the blog-style ``GPT3`` snippet of notebook 07. Its attention uses ``math``
without importing it (bug 1) and reads ``self.embed_dim``, which ``__init__`` never set (bug 2);
its forward adds the positional-encoding *module* to a tensor (bug 3); and its attention has no
causal mask (bug 4). ``fixed_embed`` is the input of the first block with bug 3 fixed,
``fixed_attention`` the attention with bugs 1, 2 and 4 fixed. Their cases build small torch
tensors and modules only when checked: importing ``lmcourse.exercises`` must not import torch
(notebook 00 checks the environment with it).
"""

import math
from typing import Any

from lmcourse.exercises.core import Exercise, describe_difference, register

# --------------------------------------------------------------------------- reference solutions


def gpt_params(V: int, T: int, L: int, C: int) -> int:
    """Parameters of a GPT with biases and a tied output head (vocabulary V, context T).

    Embeddings V·C (tokens) + T·C (positions); per block: 2 LayerNorms (2·2C), attention
    (C·3C + 3C, then C·C + C), MLP (C·4C + 4C, then 4C·C + C); the final LayerNorm 2C. The
    output head is the token table again: not counted twice.

    >>> gpt_params(1000, 100, 1, 1)  # 1000 + 100 + (4 + 6 + 2 + 8 + 5) + 2
    1127
    """
    block = 2 * 2 * C + (3 * C * C + 3 * C) + (C * C + C) + (4 * C * C + 4 * C) + (4 * C * C + C)
    return V * C + T * C + L * block + 2 * C


def mlp_params(C: int) -> int:
    """Parameters of GPT's MLP, ``c_proj(GELU(c_fc(x)))``: C -> 4C -> C, with biases.

    >>> mlp_params(2)  # c_fc: 2·8 + 8, c_proj: 8·2 + 2
    42
    """
    return (C * 4 * C + 4 * C) + (4 * C * C + C)


def exact_gelu(x: Any) -> Any:
    """The exact GELU, x·Φ(x) with Φ the standard normal's distribution function, elementwise::

        GELU(x) = x · Φ(x) = 0.5 · x · (1 + erf(x / √2))

    It is ``F.gelu(x)``, nanoGPT's activation. GPT-2 uses the tanh approximation (notebook 07,
    section 1), which differs from it by up to about 5e-4.
    """
    return 0.5 * x * (1 + (x / math.sqrt(2)).erf())


def fixed_embed(token_embedding: Any, positions: Any, idx: Any) -> Any:
    """The input of the snippet's first block, bug 3 fixed: token vectors + position vectors.

    ``token_embedding`` is an ``nn.Embedding(V, C)``, ``positions`` a ``LearnedPositions``
    (``positions(T)`` is a (T, C) table), ``idx`` a (B, T) long tensor; returns (B, T, C).
    """
    T = idx.shape[1]
    return token_embedding(idx) + positions(T)  # (B, T, C) + (T, C): broadcast over B


def fixed_attention(q: Any, k: Any, v: Any) -> Any:
    """The snippet's attention, fixed: scaled by √D (D = q's last size), query t sees keys 0..t.

    ``q``, ``k``, ``v``: (..., T, D) tensors; returns (..., T, D).
    """
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, T)
    future = scores.new_ones(T, T).triu(diagonal=1).bool()  # True above the diagonal
    weights = scores.masked_fill(future, float("-inf")).softmax(dim=-1)  # rows sum to 1
    return weights @ v  # (..., T, D)


# --------------------------------------------------------------------------- cases


def _embed_cases() -> list[tuple[Any, ...]]:
    """Small seeded embedding tables, position tables and token ids (torch imported here)."""
    import torch

    from lmcourse.attention import LearnedPositions

    cases = []
    for seed, (V, C, block_size, B, T) in enumerate([(5, 4, 6, 1, 3), (11, 8, 8, 2, 8)]):
        generator = torch.Generator().manual_seed(seed)
        token_embedding = torch.nn.Embedding(V, C).requires_grad_(False)  # no grad_fn shown
        positions = LearnedPositions(block_size, C).requires_grad_(False)
        token_embedding.weight.copy_(torch.randn(V, C, generator=generator).round(decimals=1))
        positions.weight.copy_(torch.randn(block_size, C, generator=generator).round(decimals=1))
        idx = torch.randint(V, (B, T), generator=generator)
        cases.append((token_embedding, positions, idx))
    return cases


def _gelu_cases() -> list[tuple[Any, ...]]:
    """Seeded float64 tensors: a few values, then (B, T, C) activations with large ones too."""
    import torch

    generator = torch.Generator().manual_seed(3)
    return [
        (torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0], dtype=torch.float64),),
        (4 * torch.randn(2, 3, 8, generator=generator, dtype=torch.float64),),
        (torch.linspace(-10, 10, 41, dtype=torch.float64),),
    ]


def _attention_cases() -> list[tuple[Any, ...]]:
    """Seeded float64 queries, keys and values: (T, D), then batched and multi-head shapes."""
    import torch

    generator = torch.Generator().manual_seed(7)
    shapes = [(3, 2), (2, 5, 4), (2, 3, 6, 8)]  # (T, D), (B, T, D), (B, H, T, D)
    return [
        tuple(
            torch.randn(shape, generator=generator, dtype=torch.float64).round(decimals=1)
            for _ in "qkv"
        )
        for shape in shapes
    ]


# --------------------------------------------------------------------------- feedback


def _count_difference(expected: int, got: Any, missing: str) -> str | None:
    """The default message, and by how much the count is off: a hint at which part."""
    difference = describe_difference(expected, got, "parameters")
    if difference is None or not isinstance(got, int) or isinstance(got, bool):
        return difference
    off = got - expected
    if off > 0:
        return f"{difference}: {off:,} too many (is something counted twice?)"
    return f"{difference}: {-off:,} too few (is {missing} missing?)"


def _compare_gpt_count(expected: int, got: Any) -> str | None:
    return _count_difference(expected, got, "a table, a weight or a bias")


def _compare_mlp_count(expected: int, got: Any) -> str | None:
    return _count_difference(expected, got, "a weight or a bias")


def _compare_gelu(expected: Any, got: Any) -> str | None:
    """Tensor comparison, with a hint when ``got`` is a near miss: tanh GELU, √2, ReLU."""
    difference = describe_difference(expected, got, "values")
    if difference is None or tuple(expected.shape) != tuple(getattr(got, "shape", ())):
        return difference
    x = _gelu_input(expected)
    others = {
        "that is GPT-2's tanh approximation; the exact GELU uses erf": (
            0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)).tanh())
        ),
        "Φ(x) = (1 + erf(x / √2)) / 2: is the √2 missing?": 0.5 * x * (1 + x.erf()),
        "Φ(x) = (1 + erf(x / √2)) / 2: is the 1 + or the / 2 missing?": x
        * (x / math.sqrt(2)).erf(),
        "that is ReLU, max(0, x); GELU bends smoothly below 0": x.clamp(min=0),
    }
    for hint, other in others.items():
        if describe_difference(other, got) is None:
            return f"{difference} ({hint})"
    return difference


def _gelu_input(output: Any) -> Any:
    """The case's input, found again from GELU's output (the cases' outputs all differ)."""
    for (x,) in _gelu_cases():
        if (
            tuple(x.shape) == tuple(output.shape)
            and describe_difference(output, exact_gelu(x)) is None
        ):
            return x
    raise ValueError("not the output of a 07.exact_gelu case")


def _compare_embed(expected: Any, got: Any) -> str | None:
    """Tensor comparison, with a hint when only position 0 is right (one vector for all)."""
    difference = describe_difference(expected, got, "values")
    if difference is None or tuple(expected.shape) != tuple(getattr(got, "shape", ())):
        return difference
    if describe_difference(expected[:, :1], got[:, :1]) is None:
        return (
            f"{difference} (position 0 is right, later ones are not: does every position get "
            "its own vector?)"
        )
    return difference


def _as_bools(rows: Any) -> list[list[bool]] | None:
    """``rows`` with each 0/1 number as a bool, or None when it is not a table of numbers."""
    try:
        return [[bool(x) for x in row if x in (0, 1)] for row in rows]
    except TypeError:
        return None


def _compare_attention(expected: Any, got: Any) -> str | None:
    """Tensor comparison, with hints for a missing mask, a mask after the softmax, NaN rows."""
    difference = describe_difference(expected, got, "values")
    if difference is None or tuple(expected.shape) != tuple(getattr(got, "shape", ())):
        return difference
    if got.isnan().any().item():
        return (
            f"{difference} (NaN: after your mask some row of scores is all −∞, a position "
            "that may see nothing; the diagonal must stay visible)"
        )
    last_right = describe_difference(expected[..., -1, :], got[..., -1, :]) is None
    if not last_right:
        return difference
    # The first query may see only the first key, so its output is the first value: a
    # multiple of it below 1 means weights zeroed after the softmax, rows no longer summing to 1.
    first, first_got = expected[..., 0, :], got[..., 0, :]  # (..., D)
    scale = (first * first_got).sum(-1, keepdim=True) / first.square().sum(-1, keepdim=True)
    proportional = (first_got - scale * first).abs().max().item() < 1e-6
    if proportional and 0 < scale.min().item() and scale.max().item() < 1 - 1e-6:
        return (
            f"{difference} (each row of weights must sum to 1: mask the scores before the "
            "softmax, not the weights after it)"
        )
    return (
        f"{difference} (the last position is right but earlier ones are not: do they still "
        "see later positions, the future?)"
    )


# --------------------------------------------------------------------------- registry

register(
    Exercise(
        name="07.gpt_params",
        prompt="Return the number of parameters of a GPT (with biases, GPT-2's layout) with "
        "vocabulary V, context T, L blocks and width C: the token and position tables; in each "
        "block two LayerNorms (a weight and a bias each), attention (q, k and v in one C -> 3C "
        "linear layer, then a C -> C output projection) and the MLP (C -> 4C -> C); the final "
        "LayerNorm; and the output head, which is tied to the token table.",
        solution=gpt_params,
        cases=[
            (70, 32, 2, 64),
            (1000, 100, 1, 1),
            (10, 8, 3, 16),
            (50257, 1024, 12, 768),
            (50257, 2048, 96, 12288),
            (7, 1, 1, 5),
        ],
        noun="parameters",
        compare=_compare_gpt_count,
    )
)
register(
    Exercise(
        name="07.mlp_params",
        prompt="Return the number of parameters of one GPT MLP of width C: a linear layer C -> "
        "4C and a linear layer 4C -> C, each with a weight matrix and a bias (GELU has none).",
        solution=mlp_params,
        cases=[(64,), (2,), (1,), (768,), (12288,), (3,)],
        noun="parameters",
        compare=_compare_mlp_count,
    )
)
register(
    Exercise(
        name="07.exact_gelu",
        prompt="Write the exact GELU, nanoGPT's activation, for a tensor x of any shape, "
        "elementwise: x · Φ(x), where Φ(x) = (1 + erf(x / √2)) / 2 is the probability that a "
        "standard normal variable is below x (`torch.erf` computes erf). Write it with tensor "
        "operations, not with F.gelu.",
        solution=exact_gelu,
        cases=_gelu_cases,
        noun="values",
        compare=_compare_gelu,
        signature="exact_gelu(x: Tensor) -> Tensor",
    )
)
register(
    Exercise(
        name="07.fixed_embed",
        prompt="Fix the first lines of the snippet's forward (bug 3): return what its first "
        "block receives, the token vectors of `idx` plus the position vectors of the T "
        "positions, which the `positions` module returns when called with T. `idx` is (B, T); "
        "the result is (B, T, C).",
        solution=fixed_embed,
        cases=_embed_cases,
        noun="values",
        compare=_compare_embed,
        signature="fixed_embed(token_embedding: nn.Embedding, positions: LearnedPositions, "
        "idx: Tensor) -> Tensor",
    )
)
register(
    Exercise(
        name="07.fixed_attention",
        prompt="Fix the snippet's `attention(q, k, v)` (bugs 1, 2 and 4) as a function: "
        "scaled dot-product attention, `softmax(q kᵀ / √D) v` with D the size of a head (the "
        "last dimension of q), in which query t may only look at keys 0..t. q, k and v are "
        "(..., T, D) tensors (any leading batch and head dimensions); return (..., T, D).",
        solution=fixed_attention,
        cases=_attention_cases,
        noun="values",
        compare=_compare_attention,
        signature="fixed_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor",
    )
)
