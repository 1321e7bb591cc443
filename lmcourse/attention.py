"""Attention: scaled dot-product, the causal mask, multi-head self-attention, positions.

One attention head turns T queries into T weighted averages of the values::

    Attention(Q, K, V) = softmax(Q Kᵀ / √D + M) V

where D is the size of a query or key, and the mask M is 0 where a query may look and −∞ where
it may not (the future, for a language model). ``CausalSelfAttention`` runs H such heads side
by side on one sequence and mixes their outputs; it is the attention of every ``GPT`` block.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lmcourse.utils import is_int, is_real

__all__ = [
    "CausalSelfAttention",
    "KVCache",
    "LearnedPositions",
    "causal_mask",
    "scaled_dot_product_attention",
    "sinusoidal_positions",
]


def causal_mask(T: int, S: int | None = None, device: str | torch.device | None = None):
    """The boolean mask that lets query t see keys 0..t only: True on and below the diagonal.

    With S > T keys (a cache of S − T earlier tokens before the T new ones) query t sees keys
    0..S − T + t, so the last query still sees every key.

    Example::

        >>> causal_mask(3).int()
        tensor([[1, 0, 0],
                [1, 1, 0],
                [1, 1, 1]], dtype=torch.int32)
    """
    S = T if S is None else S
    if not is_int(T) or not is_int(S) or T < 1 or S < T:
        raise ValueError(f"causal_mask needs integers 1 <= T <= S, got T={T!r}, S={S!r}.")
    return torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=S - T)  # (T, S)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    return_weights: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q kᵀ / √D, masked) v``, written out step by step.

    1. scores: every query against every key, ``q kᵀ``: (..., T, S)
    2. scale by 1/√D, so the scores keep a variance near 1 whatever the head size
       (without it, large D saturates the softmax: one weight near 1, the rest near 0)
    3. mask: where ``mask`` is False the score becomes −∞, so its weight becomes 0
    4. softmax over the keys: each row is a probability distribution
    5. the output of query t is the weighted average of the values, ``weights @ v``

    The same as ``torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)``
    (a boolean mask, True = may attend), which the tests check.

    Args:
        q: queries, (..., T, D).
        k: keys, (..., S, D).
        v: values, (..., S, Dv).
        mask: boolean, broadcastable to (..., T, S); True where a query may look at a key.
            ``causal_mask(T)`` for a language model. Every query must see at least one key.
        return_weights: also return the attention weights.

    Returns:
        the outputs (..., T, Dv), and with ``return_weights`` the weights (..., T, S), whose
        rows sum to 1.

    Example: one query, two keys; the query matches the second key, so it mostly copies the
    second value (scores 0 and 2/√2 = 1.41, softmax 0.20 and 0.80)::

        >>> q = torch.tensor([[0.0, 2.0]])
        >>> k = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> v = torch.tensor([[10.0], [20.0]])
        >>> out, w = scaled_dot_product_attention(q, k, v, return_weights=True)
        >>> w.round(decimals=2), out.round(decimals=1)
        (tensor([[0.2000, 0.8000]]), tensor([[18.]]))
    """
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"q (..., T, D), k (..., S, D) and v (..., S, Dv) do not fit: "
            f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}."
        )
    D = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(D)  # (..., T, S)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be boolean (True = may attend), got {mask.dtype}.")
        if _broadcast_shape(mask.shape, scores.shape) != scores.shape:  # F.sdpa raises too
            raise ValueError(
                f"mask {tuple(mask.shape)} does not broadcast to the scores (..., T, S) "
                f"{tuple(scores.shape)}."
            )
        scores = scores.masked_fill(~mask, float("-inf"))  # exp(-inf) = 0: no weight
    weights = F.softmax(scores, dim=-1)  # (..., T, S), each row sums to 1
    out = weights @ v  # (..., T, Dv)
    return (out, weights) if return_weights else out


def _broadcast_shape(*shapes: torch.Size) -> torch.Size | None:
    """The shape the given shapes broadcast to, or None when they do not broadcast."""
    try:
        return torch.broadcast_shapes(*shapes)
    except RuntimeError:
        return None


def sinusoidal_positions(T: int, C: int) -> torch.Tensor:
    """The fixed position vectors of "Attention Is All You Need" (Vaswani et al., 2017).

    ``P[t, 2i] = sin(t / 10000^(2i/C))`` and ``P[t, 2i+1] = cos(t / 10000^(2i/C))``: each pair
    of channels is a clock turning at its own speed, from one turn per 2π positions (i = 0) to
    one per 2π·10000 positions, so every position gets a distinct pattern and a fixed offset k
    is the same rotation at every t. (An odd C drops the last cosine.)

    Shapes:
        returns (T, C), float32.

    Example::

        >>> sinusoidal_positions(2, 4)
        tensor([[0.0000, 1.0000, 0.0000, 1.0000],
                [0.8415, 0.5403, 0.0100, 0.9999]])
    """
    if not is_int(T) or not is_int(C) or T < 1 or C < 1:
        raise ValueError(f"sinusoidal_positions needs integers T, C >= 1, got {T!r}, {C!r}.")
    t = torch.arange(T, dtype=torch.float64)[:, None]  # (T, 1)
    i2 = torch.arange(0, C, 2, dtype=torch.float64)  # (ceil(C/2),): the even channels 2i
    angles = t / 10000 ** (i2 / C)  # (T, ceil(C/2))
    P = torch.stack([angles.sin(), angles.cos()], dim=-1).view(T, -1)  # (T, 2·ceil(C/2))
    return P[:, :C].float()  # (T, C)


class LearnedPositions(nn.Module):
    """GPT's position vectors: one learned vector of size C per position 0..block_size − 1.

    ``weight`` is a (block_size, C) table, initialised N(0, 0.02²) like GPT-2's ``wpe`` (from
    ``generator`` when one is given); the forward pass returns rows ``start .. start + T − 1``.
    It is ``nn.Embedding(block_size, C)`` applied to ``arange(start, start + T)``, with a
    message that names the context when T is too long. Unlike sinusoids it cannot go past
    ``block_size``.

    Shapes:
        forward(T, start=0) -> (T, C): the vectors of positions start .. start + T − 1.
    """

    def __init__(self, block_size: int, C: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        weight = torch.randn(block_size, C, generator=generator) * 0.02  # (block_size, C)
        self.weight = nn.Parameter(weight)

    def forward(self, T: int, start: int = 0) -> torch.Tensor:
        if T < 0 or start < 0:  # weight[:-1] would silently return block_size - 1 rows
            raise ValueError(f"T and start must be >= 0, got T={T!r}, start={start!r}.")
        block_size = self.weight.shape[0]
        if start + T > block_size:
            what = (
                f"a sequence of {T} tokens is longer than"
                if start == 0
                else (f"positions {start}..{start + T - 1} are past")
            )
            raise ValueError(
                f"{what} the model's context, block_size = {block_size}: crop it to its last "
                f"{block_size} tokens."
            )
        return self.weight[start : start + T]  # (T, C)

    def extra_repr(self) -> str:
        return "block_size={}, C={}".format(*self.weight.shape)


class KVCache:
    """The keys and values of the tokens seen so far, in every layer: (B, H, S, D) each.

    A causal model never changes what it computed for earlier tokens, so when it generates one
    token at a time, each new token needs only its own query, key and value; the keys and
    values of the S tokens before it are read from here instead of being computed again. The
    cache grows by the new tokens at each forward pass (``GPT.forward(..., cache=cache)``).

    Example::

        >>> cache = KVCache(n_layer=2)
        >>> k = v = torch.zeros(1, 4, 3, 8)  # (B, H, T, D): 3 tokens
        >>> K, V = cache.update(0, k, v)
        >>> len(cache), K.shape[2]
        (3, 3)
    """

    def __init__(self, n_layer: int, capacity: int | None = None) -> None:
        self._keys: list[torch.Tensor | None] = [None] * n_layer  # (B, H, room, D) buffers
        self._values: list[torch.Tensor | None] = [None] * n_layer
        self.lengths = [0] * n_layer  # tokens stored per layer
        self.capacity = capacity  # room to reserve at once (the model's context), if known

    def __len__(self) -> int:
        """S, the number of tokens cached (those of the first layer, which is updated first)."""
        return self.lengths[0]

    @property
    def keys(self) -> list[torch.Tensor | None]:
        """The cached keys of each layer, (B, H, S, D) (None for a layer not reached yet)."""
        return [None if b is None else b[:, :, :n] for b, n in zip(self._keys, self.lengths)]

    @property
    def values(self) -> list[torch.Tensor | None]:
        """The cached values of each layer, (B, H, S, D)."""
        return [None if b is None else b[:, :, :n] for b, n in zip(self._values, self.lengths)]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Append the new tokens' keys and values (B, H, T, D); return all (B, H, S + T, D).

        The buffers are reserved once (``capacity`` tokens, or what is needed, doubled when it
        is outgrown), so a step copies only its own T tokens, not the S before them.
        """
        B, H, T, D = k.shape
        S = self.lengths[layer]
        old_k, old_v = self._keys[layer], self._values[layer]
        if old_k is None or S + T > old_k.shape[2]:
            room = max(self.capacity or 0, S + T if old_k is None else 2 * (S + T))
            new_k, new_v = k.new_empty(B, H, room, D), v.new_empty(B, H, room, D)
            if S:
                new_k[:, :, :S], new_v[:, :, :S] = old_k[:, :, :S], old_v[:, :, :S]
            self._keys[layer], self._values[layer] = new_k, new_v
        keys, values = self._keys[layer], self._values[layer]
        keys[:, :, S : S + T] = k
        values[:, :, S : S + T] = v
        self.lengths[layer] = S + T
        return keys[:, :, : S + T], values[:, :, : S + T]  # views of the filled part


class CausalSelfAttention(nn.Module):
    """H causal attention heads over one sequence, as in GPT-2, with GPT-2's parameter names.

    ``c_attn`` computes the queries, keys and values of all heads in one matrix product; each
    head attends over its own D = C/H channels; ``c_proj`` mixes the heads' outputs::

        q, k, v = split(x W_attn + b_attn)              (B, T, C) each, then (B, H, T, D)
        y_h = softmax(q_h k_hᵀ / √D + causal mask) v_h   for each head h
        out = concat(y_1 .. y_H) W_proj + b_proj         (B, T, C)

    The fast path calls PyTorch's fused ``F.scaled_dot_product_attention`` (the same numbers,
    less memory, no T×T matrix kept); ``return_attn=True`` takes the written-out path of
    ``scaled_dot_product_attention`` so the weights can be returned.

    Args:
        n_embd: C, the width of the model.
        n_head: H, the number of heads; C must be a multiple of H.
        dropout: dropout on the attention weights and on the output, in [0, 1).
        bias: biases in ``c_attn`` and ``c_proj``.

    With a ``KVCache`` the keys and values of the S − T tokens before these T are read from it
    (and these T are added to it): query t then sees the cached tokens and the new ones up to t.

    Shapes:
        x: (B, T, C) -> (B, T, C); with ``return_attn`` also the weights (B, H, T, S), S = T
        without a cache.
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if not is_int(n_head) or n_head < 1 or not is_int(n_embd) or n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd!r}) must be a multiple of n_head ({n_head!r}).")
        if not is_real(dropout) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}.")
        self.n_head, self.dropout = n_head, dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)  # q, k, v of all heads at once
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)  # mixes the heads
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        return_attn: bool = False,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        B, T, C = x.shape
        H = self.n_head
        # c_attn's 3C outputs are [q | k | v], each [head 0 | ... | head H-1] of D = C / H
        qkv = self.c_attn(x).view(B, T, 3, H, C // H)  # (B, T, 3, H, D): q, k, v of each head
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 × (B, H, T, D)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, H, S, D): the cached tokens, then these T
        S = k.shape[2]
        if return_attn:
            y, weights = scaled_dot_product_attention(
                q, k, v, mask=causal_mask(T, S, device=x.device), return_weights=True
            )  # (B, H, T, D), (B, H, T, S)
            y = self.attn_dropout(weights) @ v if self.training and self.dropout else y
        else:
            p = self.dropout if self.training else 0.0
            # T = S: the usual causal mask; T = 1: one new token may see every key
            mask = None if T in (1, S) else causal_mask(T, S, device=x.device)
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=p, is_causal=mask is None and T > 1
            )  # (B, H, T, D)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): the heads side by side
        y = self.c_proj(y)  # (B, T, C)
        y = self.resid_dropout(y) if self.training else y  # (in eval: the same y, one call less)
        return (y, weights) if return_attn else y

    def extra_repr(self) -> str:
        return f"n_head={self.n_head}, dropout={self.dropout}"
