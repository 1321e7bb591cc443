"""Tests of lmcourse.attention against torch's fused attention, plain loops and hand arithmetic."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcourse.attention import (
    CausalSelfAttention,
    LearnedPositions,
    causal_mask,
    scaled_dot_product_attention,
    sinusoidal_positions,
)
from lmcourse.utils import count_params


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def random_mask(T, S, seed=0):
    """A random boolean mask whose every row lets its query see at least one key."""
    mask = torch.rand(T, S, generator=torch.Generator().manual_seed(seed)) < 0.5
    mask[torch.arange(T), torch.randint(S, (T,), generator=torch.Generator().manual_seed(seed))] = 1
    return mask


def reference(q, k, v, mask=None):
    """torch's fused attention, and its output for v = identity, which is the weights."""
    eye = torch.eye(k.shape[-2], dtype=q.dtype).expand(*k.shape[:-1], k.shape[-2])  # (..., S, S)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out, F.scaled_dot_product_attention(q, k, eye, attn_mask=mask)


# --------------------------------------------------------------------------- scaled dot-product


@pytest.mark.parametrize(
    "q_shape, k_shape, v_shape, mask",
    [
        ((5, 4), (5, 4), (5, 4), None),
        ((6, 8), (6, 8), (6, 8), causal_mask(6)),
        ((7, 3), (9, 3), (9, 3), random_mask(7, 9)),
        ((2, 3, 5, 8), (2, 3, 5, 8), (2, 3, 5, 8), causal_mask(5)),  # (B, H, T, D)
        ((2, 4, 6), (2, 10, 6), (2, 10, 3), causal_mask(4, 10)),  # S != T, Dv != D, a cache
        ((2, 3, 7, 5), (2, 3, 7, 5), (2, 3, 7, 2), random_mask(7, 7, seed=1)),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_torch_fused_attention(q_shape, k_shape, v_shape, mask, dtype):
    q, k, v = (
        randn(*q_shape, seed=1, dtype=dtype),
        randn(*k_shape, seed=2, dtype=dtype),
        randn(*v_shape, seed=3, dtype=dtype),
    )
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    out_ref, weights_ref = reference(q, k, v, mask)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {}
    torch.testing.assert_close(out, out_ref, **tol)
    torch.testing.assert_close(weights, weights_ref, **tol)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask=mask), out, **tol)


def test_rows_sum_to_one_and_nothing_above_the_diagonal():
    q, k, v = randn(3, 8, 4, seed=1), randn(3, 8, 4, seed=2), randn(3, 8, 4, seed=3)
    _, weights = scaled_dot_product_attention(q, k, v, mask=causal_mask(8), return_weights=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 8))
    assert (weights.triu(diagonal=1) == 0).all()  # exactly 0: exp(-inf)
    assert (weights[..., causal_mask(8)] > 0).all()  # and never 0 on or below it


def test_changing_later_keys_and_values_never_changes_earlier_outputs():
    T = 7
    q, k, v = randn(2, T, 4, seed=1), randn(2, T, 4, seed=2), randn(2, T, 3, seed=3)
    out = scaled_dot_product_attention(q, k, v, mask=causal_mask(T))
    for t in range(T - 1):
        k2, v2 = k.clone(), v.clone()
        k2[:, t + 1 :], v2[:, t + 1 :] = 100.0, -100.0
        out2 = scaled_dot_product_attention(q, k2, v2, mask=causal_mask(T))
        torch.testing.assert_close(out2[:, : t + 1], out[:, : t + 1])
        assert not torch.allclose(out2[:, t + 1 :], out[:, t + 1 :])  # the test can fail


def test_hand_checkable_two_keys():
    """D = 4, so √D = 2. Scores 2·ln 3 and 0, scaled ln 3 and 0, softmax 3/4 and 1/4;
    the output 3/4 · 4 + 1/4 · 8 = 5."""
    q = torch.tensor([[2 * math.log(3), 0.0, 0.0, 0.0]], dtype=torch.float64)
    k = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    v = torch.tensor([[4.0], [8.0]], dtype=torch.float64)
    out, weights = scaled_dot_product_attention(q, k, v, return_weights=True)
    torch.testing.assert_close(weights, torch.tensor([[0.75, 0.25]], dtype=torch.float64))
    torch.testing.assert_close(out, torch.tensor([[5.0]], dtype=torch.float64))


def test_errors_name_the_problem():
    q, k, v = randn(3, 4), randn(5, 4), randn(5, 2)
    with pytest.raises(ValueError, match="torch.float32"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(3, 5))
    with pytest.raises(ValueError, match=r"do not fit.*\(3, 4\).*\(5, 3\)"):
        scaled_dot_product_attention(q, randn(5, 3), v)
    with pytest.raises(ValueError, match="do not fit"):
        scaled_dot_product_attention(q, k, randn(6, 2))
    for bad in [torch.ones(4, 5, dtype=torch.bool), torch.ones(7, 3, 5, dtype=torch.bool)]:
        with pytest.raises(ValueError, match="does not broadcast"):
            scaled_dot_product_attention(q, k, v, mask=bad)


# --------------------------------------------------------------------------- causal mask


@pytest.mark.parametrize("T, S", [(1, 1), (4, 4), (3, 7), (1, 5)])
def test_causal_mask_with_a_cache(T, S):
    mask = causal_mask(T, S if S != T else None)
    assert mask.shape == (T, S) and mask.dtype == torch.bool
    expected = [[s <= S - T + t for s in range(S)] for t in range(T)]  # query t is token S-T+t
    assert mask.tolist() == expected
    assert mask[-1].all()  # the newest token sees everything


@pytest.mark.parametrize("T, S", [(0, None), (3, 2), (2.0, None), (True, None), (2, 3.5)])
def test_causal_mask_rejects_bad_sizes(T, S):
    with pytest.raises(ValueError, match="1 <= T <= S"):
        causal_mask(T, S)


# --------------------------------------------------------------------------- positions


@pytest.mark.parametrize("T, C", [(1, 1), (5, 4), (7, 5), (16, 33), (50, 128)])
def test_sinusoids_equal_the_formula_written_as_a_loop(T, C):
    P = sinusoidal_positions(T, C)
    assert P.shape == (T, C) and P.dtype == torch.float32
    for t in range(T):
        for c in range(C):
            angle = t / 10000 ** (2 * (c // 2) / C)
            expected = math.sin(angle) if c % 2 == 0 else math.cos(angle)
            assert abs(P[t, c].item() - expected) < 1e-6, (t, c)


def test_sinusoid_dot_products_depend_only_on_the_offset():
    P = sinusoidal_positions(80, 64).double()
    for k in [0, 1, 3, 10]:
        dots = (P[: 80 - k] * P[k:]).sum(-1)  # P[t]·P[t+k] for every t
        torch.testing.assert_close(dots, torch.full_like(dots, dots[0].item()), rtol=0, atol=1e-4)
    assert (P[0] * P[1]).sum() > (P[0] * P[10]).sum()  # nearer positions look more alike


@pytest.mark.parametrize("T, C", [(0, 4), (4, 0), (2.0, 4), (3, True)])
def test_sinusoids_reject_bad_sizes(T, C):
    with pytest.raises(ValueError, match="T, C >= 1"):
        sinusoidal_positions(T, C)


def test_learned_positions():
    wpe = LearnedPositions(block_size=8, C=5)
    assert wpe(3).shape == (3, 5) and wpe(8).shape == (8, 5)
    torch.testing.assert_close(wpe(3), wpe.weight[:3])
    assert wpe.weight.requires_grad and count_params(wpe) == 40
    with pytest.raises(ValueError, match="block_size = 8"):
        wpe(9)
    with pytest.raises(ValueError, match=">= 0"):
        wpe(-1)


# --------------------------------------------------------------------------- multi-head


def make_attention(C=12, H=3, seed=0, **kwargs):
    torch.manual_seed(seed)  # nn.Linear draws its initial weights from the global generator
    return CausalSelfAttention(C, H, **kwargs).eval()


def per_head_loop(attn, x):
    """The same computation written with one loop over heads and plain torch operations."""
    B, T, C = x.shape
    H = attn.n_head
    D = C // H
    W, b = attn.c_attn.weight, attn.c_attn.bias  # (3C, C), (3C,)
    future = torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)
    heads = []
    for h in range(H):
        rows = [slice(part * C + h * D, part * C + (h + 1) * D) for part in range(3)]
        q, k, v = (x @ W[r].T + b[r] for r in rows)  # (B, T, D) each
        scores = (q @ k.transpose(1, 2) / math.sqrt(D)).masked_fill(future, -math.inf)
        heads.append(torch.softmax(scores, dim=-1) @ v)  # (B, T, D)
    return torch.cat(heads, dim=-1) @ attn.c_proj.weight.T + attn.c_proj.bias  # (B, T, C)


def test_equals_a_plain_loop_over_heads():
    attn = make_attention(C=12, H=3).double()
    x = randn(2, 6, 12, dtype=torch.float64)
    torch.testing.assert_close(attn(x), per_head_loop(attn, x), rtol=1e-12, atol=1e-12)


def test_fused_path_equals_written_out_path_and_weights_are_causal():
    attn = make_attention(C=16, H=4, dropout=0.1)  # eval(): no dropout
    x = randn(3, 9, 16)
    y_fused = attn(x)
    y, weights = attn(x, return_attn=True)
    torch.testing.assert_close(y_fused, y)
    assert weights.shape == (3, 4, 9, 9)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 9))
    assert (weights.triu(diagonal=1) == 0).all()


@settings(max_examples=25, deadline=None)
@given(
    B=st.integers(1, 2),
    T=st.integers(2, 8),
    H=st.integers(1, 3),
    D=st.integers(1, 4),
    t=st.integers(0, 6),
    seed=st.integers(0, 2**16),
)
def test_a_future_change_never_changes_an_earlier_output(B, T, H, D, t, seed):
    t = t % (T - 1)  # a position with a future
    attn = make_attention(C=H * D, H=H, seed=seed)
    x = randn(B, T, H * D, seed=seed)
    x2 = x.clone()
    x2[:, t + 1 :] = randn(B, T - t - 1, H * D, seed=seed + 1)
    for return_attn in (False, True):
        y, y2 = attn(x, return_attn=return_attn), attn(x2, return_attn=return_attn)
        y, y2 = (y[0], y2[0]) if return_attn else (y, y2)
        torch.testing.assert_close(y2[:, : t + 1], y[:, : t + 1])


def test_parameters_and_bad_settings():
    assert count_params(CausalSelfAttention(32, 4)) == 4 * 32**2 + 4 * 32  # q, k, v, proj
    assert count_params(CausalSelfAttention(32, 4, bias=False)) == 4 * 32**2
    for n_embd, n_head in [(10, 3), (12, 0), (12.0, 3)]:
        with pytest.raises(ValueError, match="multiple of n_head"):
            CausalSelfAttention(n_embd, n_head)
    for dropout in [1.0, -0.1, "0.1"]:
        with pytest.raises(ValueError, match="dropout"):
            CausalSelfAttention(12, 3, dropout=dropout)


def test_learned_positions_draw_from_the_generator_they_are_given():
    first, second = (LearnedPositions(8, 4, generator=torch.Generator().manual_seed(1))
                     for _ in range(2))  # fmt: skip
    assert torch.equal(first.weight, second.weight)
    assert first.weight.std().item() < 0.05  # N(0, 0.02²)
