"""Notebook 06's exercises: the references agree with the package, typical mistakes are named."""

import math

import pytest
import torch

from lmcourse import attention
from lmcourse.exercises import check, get
from lmcourse.exercises.attention import attention_params, attention_weights, causal_mask
from lmcourse.utils import count_params

NAMES = ["06.causal_mask", "06.attention_weights", "06.attention_params"]


def test_references_pass_and_agree_with_the_package():
    for name in NAMES:
        assert check(name, get(name).solution).passed, name
    for T, S in [(1, 1), (4, 4), (6, 6), (1, 5), (3, 7), (5, 6)]:
        assert causal_mask(T, S) == attention.causal_mask(T, S).tolist()
    for q, k in get("06.attention_weights").case_list():
        q, k = torch.tensor(q, dtype=torch.float64), torch.tensor(k, dtype=torch.float64)
        _, expected = attention.scaled_dot_product_attention(
            q, k, k, mask=attention.causal_mask(len(q)), return_weights=True
        )
        torch.testing.assert_close(
            torch.tensor(attention_weights(q.tolist(), k.tolist()), dtype=torch.float64), expected
        )
    for C, bias in [(64, True), (48, False)]:
        assert attention_params(C, bias) == count_params(
            attention.CausalSelfAttention(C, 4, bias=bias)
        )


def test_hand_checkable_weights():
    q = [[0.0, 0.0, 0.0, 0.0], [2 * math.log(3), 0.0, 0.0, 0.0]]  # D = 4: scores / 2
    k = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
    (first, zero), (three_quarters, quarter) = attention_weights(q, k)
    assert (first, zero) == (1.0, 0.0)
    assert math.isclose(three_quarters, 0.75) and math.isclose(quarter, 0.25)


# --------------------------------------------------------------------------- mistakes


def weights_with(scale=math.sqrt, sees=lambda s, t: s <= t):
    """The learner's attention weights, with a scale and a mask that may be wrong."""

    def weights(q, k):
        rows = []
        for t, query in enumerate(q):
            scores = [sum(a * b for a, b in zip(query, key)) / scale(len(query)) for key in k]
            exps = [math.exp(x) if sees(s, t) else 0.0 for s, x in enumerate(scores)]
            rows.append([e / sum(exps) for e in exps])
        return rows

    return weights


def test_forgetting_the_scale_is_named(feedback):
    text = feedback("06.attention_weights", weights_with(scale=lambda D: 1.0))
    assert "too peaked: divide the scores by √D" in text
    assert "for inputs [[0.0, 0.0, 0.0, 0.0], [2.19" in text  # the hand-checkable case


def test_dividing_by_d_instead_of_its_square_root_is_named(feedback):
    text = feedback("06.attention_weights", weights_with(scale=lambda D: D))
    assert "too flat" in text


def test_a_strict_triangle_leaves_the_first_query_nothing_to_see(feedback):
    text = feedback("06.attention_weights", weights_with(sees=lambda s, t: s < t))
    assert "ZeroDivisionError" in text  # row 0: every weight masked


def test_seeing_one_token_into_the_future_is_named(feedback):
    text = feedback("06.attention_weights", weights_with(sees=lambda s, t: s <= t + 1))
    assert "row 0 gives weight to a later key: mask the keys s > 0" in text


def test_forgetting_the_mask_is_named(feedback):
    text = feedback("06.attention_weights", weights_with(sees=lambda s, t: True))
    assert "gives weight to a later key" in text


def test_the_mask_by_hand_and_as_the_last_rows_of_the_square_one():
    assert causal_mask(2, 5) == [[True, True, True, True, False], [True] * 5]
    assert causal_mask(1, 4) == [[True] * 4]  # one new token sees every cached one and itself
    for T, S in [(1, 1), (3, 3), (2, 6)]:
        assert causal_mask(T, S) == causal_mask(S, S)[S - T :]


def learner_mask(T, S):
    past = S - T  # the cached keys
    return [[s <= past + t for s in range(S)] for t in range(T)]


def mask_where(sees, rows="T", columns="S"):
    """A learner's mask: ``sees(t, s, past)`` for ``rows`` x ``columns`` entries."""

    def mask(T, S):
        n_rows, n_columns = {"T": T, "S": S}[rows], {"T": T, "S": S}[columns]
        return [[sees(t, s, S - T) for s in range(n_columns)] for t in range(n_rows)]

    return mask


def test_a_learners_mask_passes():
    assert check("06.causal_mask", learner_mask)
    assert check("06.causal_mask", lambda T, S: attention.causal_mask(T, S).tolist())


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (mask_where(lambda t, s, past: s <= t, columns="T"), "T rows of S, here 2 of 5, for"),
        (mask_where(lambda t, s, past: s <= t), "new query t is the token at position S - T + t"),
        (mask_where(lambda t, s, past: s <= t, rows="S"), "the last T rows of the (S, S) one"),
        (mask_where(lambda t, s, past: t <= past + s, rows="S", columns="T"), "transposed"),
        (mask_where(lambda t, s, past: s < past + t), "a query may see its own key"),
        (mask_where(lambda t, s, past: s <= past + t + 1), "the very token it has to predict"),
        (mask_where(lambda t, s, past: s > past + t), "attn_mask"),
        (mask_where(lambda t, s, past: int(s <= past + t)), "each entry should be True or False"),
    ],
)
def test_mask_slips_get_their_hints(feedback, wrong, hint):
    assert hint in feedback("06.causal_mask", wrong)


def test_forgetting_the_biases_or_the_output_projection(feedback):
    text = feedback("06.attention_params", lambda C, bias=True: 4 * C * C)
    assert "for inputs 64, True: expected 16640, got 16384" in text
    assert "3 of 5 cases fail" in text
    text = feedback("06.attention_params", lambda C, bias=True: 3 * C * C + (3 * C if bias else 0))
    assert "for inputs 64, False: expected 16384, got 12288" in text


def test_a_numpy_mask_of_booleans_passes():
    import numpy as np

    def mask_numpy(T, S):
        return [list(row) for row in np.tril(np.ones((T, S), dtype=bool), k=S - T)]  # np.bool_

    assert check("06.causal_mask", mask_numpy)
