"""Notebook 07's exercises: the references pass, typical mistakes get specific feedback."""

import math

import pytest
import torch
import torch.nn.functional as F

from lmcourse.attention import causal_mask as package_causal_mask
from lmcourse.attention import scaled_dot_product_attention
from lmcourse.exercises import check, describe, get, names
from lmcourse.exercises.gpt_bugs import (
    exact_gelu,
    fixed_attention,
    fixed_embed,
    gpt_params,
    mlp_params,
)
from lmcourse.gpt import MLP, GPTConfig, num_params
from lmcourse.utils import count_params

# notebook 07's exercises: test_exercises.py lists them and checks each is registered
NOTEBOOK_07 = [name for name in names() if name.startswith("07.")]


def stub(*args):
    raise NotImplementedError


# --------------------------------------------------------------------------- right answers


@pytest.mark.parametrize("V, T, L, C", [(70, 32, 2, 64), (1000, 100, 1, 1), (7, 1, 1, 5)])
def test_gpt_params_equals_the_package_formula_and_a_real_model(V, T, L, C):
    config = GPTConfig(vocab_size=V, block_size=T, n_layer=L, n_head=1, n_embd=C)
    assert gpt_params(V, T, L, C) == num_params(config)
    from lmcourse.gpt import GPT

    assert gpt_params(V, T, L, C) == count_params(GPT(config))


def test_gpt_params_of_every_case_equals_num_params():
    for V, T, L, C in get("07.gpt_params").case_list():
        config = GPTConfig(vocab_size=V, block_size=T, n_layer=L, n_head=1, n_embd=C)
        assert gpt_params(V, T, L, C) == num_params(config)
    assert gpt_params(50257, 1024, 12, 768) == 124_439_808  # GPT-2 small, as HF counts it


def test_mlp_params_counts_the_package_mlp():
    for C in (1, 2, 3, 64):
        config = GPTConfig(vocab_size=2, block_size=2, n_head=1, n_embd=C)
        assert mlp_params(C) == count_params(MLP(config))
    assert mlp_params(2) == 2 * 8 + 8 + 8 * 2 + 2


def test_exact_gelu_equals_torchs_gelu_and_x_times_the_normal_cdf():
    normal = torch.distributions.Normal(0.0, 1.0)  # an independent route: x · Φ(x)
    for (x,) in get("07.exact_gelu").case_list():
        torch.testing.assert_close(exact_gelu(x), F.gelu(x))
        torch.testing.assert_close(exact_gelu(x), x * normal.cdf(x))
    assert check("07.exact_gelu", F.gelu).passed


def test_fixed_attention_equals_the_package_and_pytorch():
    for q, k, v in get("07.fixed_attention").case_list():
        T = q.shape[-2]
        expected = scaled_dot_product_attention(q, k, v, mask=package_causal_mask(T))
        torch.testing.assert_close(fixed_attention(q, k, v), expected)
        torch.testing.assert_close(
            fixed_attention(q, k, v), F.scaled_dot_product_attention(q, k, v, is_causal=True)
        )


def test_fused_pytorch_attention_passes():
    fused = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    assert check("07.fixed_attention", fused).passed


def test_fixed_embed_is_tokens_plus_positions():
    for token_embedding, positions, idx in get("07.fixed_embed").case_list():
        T = idx.shape[1]
        expected = token_embedding.weight[idx] + positions.weight[:T]
        torch.testing.assert_close(fixed_embed(token_embedding, positions, idx), expected)


# --------------------------------------------------------------------------- wrong answers


def block(C: int) -> int:
    return 12 * C * C + 13 * C


def test_gpt_params_counting_the_tied_head_twice(feedback):
    text = feedback("07.gpt_params", lambda V, T, L, C: V * C + gpt_params(V, T, L, C))
    assert "for inputs 1000, 100, 1, 1: expected 1127, got 2127: 1,000 too many" in text
    assert "counted twice" in text


def test_gpt_params_forgetting_the_position_table(feedback):
    text = feedback("07.gpt_params", lambda V, T, L, C: V * C + L * block(C) + 2 * C)
    assert "expected 1127, got 1027: 100 too few" in text
    assert "is a table, a weight or a bias missing?" in text


def test_gpt_params_forgetting_the_biases(feedback):
    no_biases = lambda V, T, L, C: V * C + T * C + L * (12 * C * C + 2 * C) + C  # noqa: E731
    text = feedback("07.gpt_params", no_biases)
    assert "expected 1127, got 1115: 12 too few" in text


def test_gpt_params_forgetting_the_final_layernorm(feedback):
    text = feedback("07.gpt_params", lambda V, T, L, C: V * C + T * C + L * block(C))
    assert "expected 106624, got 106496: 128 too few" in text  # 2C with C = 64


def test_mlp_params_without_biases_or_with_a_c_wide_hidden_layer(feedback):
    assert "expected 42, got 32: 10 too few (is a weight or a bias missing?)" in feedback(
        "07.mlp_params", lambda C: 8 * C * C
    )
    assert "expected 42, got 14: 28 too few" in feedback(
        "07.mlp_params",
        lambda C: 2 * (C * C + C) + C,  # hidden width C, not 4C
    )


def test_gpt_params_returning_a_float_gets_a_type_message(feedback):
    text = feedback("07.gpt_params", lambda V, T, L, C: float(gpt_params(V, T, L, C)))
    assert (
        "expected the int 106624, got the float 106624.0 (the right number: return it as an int)"
        in text
    )


def tanh_gelu(x):
    return F.gelu(x, approximate="tanh")


@pytest.mark.parametrize(
    "activation, hint",
    [
        (tanh_gelu, "that is GPT-2's tanh approximation"),
        (lambda x: 0.5 * x * (1 + torch.erf(x)), "is the √2 missing?"),
        (lambda x: x * torch.erf(x / math.sqrt(2)), "is the 1 + or the / 2 missing?"),
        (F.relu, "that is ReLU"),
    ],
)
def test_gelu_mistakes_are_named(activation, hint, feedback):
    text = feedback("07.exact_gelu", activation)
    assert "3 of 3 cases fail" in text and hint in text


def test_gelu_with_another_mistake_gets_the_plain_difference(feedback):
    text = feedback("07.exact_gelu", lambda x: x * torch.sigmoid(1.702 * x))  # a cheaper cousin
    assert "expected" in text and "(that is" not in text and "missing?" not in text


def unmasked_attention(q, k, v):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # the snippet's bug: no mask
    return scores.softmax(dim=-1) @ v


def mask_after_softmax(q, k, v):
    T = q.shape[-2]
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)
    return (weights * torch.ones(T, T, dtype=q.dtype).tril()) @ v  # zeroed, not renormalised


def strict_mask(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    allowed = torch.ones(T, T, dtype=torch.bool).tril(diagonal=-1)  # off by one: no diagonal
    return scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1) @ v


def unscaled(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0)


def test_fixed_attention_without_a_mask_sees_the_future(feedback):
    text = feedback("07.fixed_attention", unmasked_attention)
    assert "3 of 3 cases fail" in text
    assert "the last position is right but earlier ones are not" in text and "future" in text


def test_fixed_attention_masking_the_weights_after_the_softmax(feedback):
    text = feedback("07.fixed_attention", mask_after_softmax)
    assert "must sum to 1: mask the scores before the softmax" in text
    assert "the future" not in text


def test_fixed_attention_with_a_mask_off_by_one_gives_nan(feedback):
    text = feedback("07.fixed_attention", strict_mask)
    assert "got nan (NaN:" in text and "the diagonal must stay visible" in text


def test_fixed_attention_without_the_scale_gets_the_plain_difference(feedback):
    text = feedback("07.fixed_attention", unscaled)
    assert "at index (1, 0): expected" in text  # the first position is v[0] with any scale
    assert not any(hint in text for hint in ("future", "sum to 1", "NaN"))


def test_fixed_attention_in_float32_gets_a_dtype_message(feedback):
    text = feedback("07.fixed_attention", lambda q, k, v: fixed_attention(q, k, v).float())
    assert "expected dtype torch.float64, got dtype torch.float32" in text


def test_fixed_embed_with_the_snippets_bug(feedback):
    added_module = feedback("07.fixed_embed", lambda emb, pos, idx: emb(idx) + pos)
    assert "TypeError: unsupported operand type(s) for +: 'Tensor' and 'LearnedPos" in added_module


def test_fixed_embed_adding_the_whole_position_table(feedback):
    whole_table = feedback("07.fixed_embed", lambda emb, pos, idx: emb(idx) + pos.weight)
    assert "1 of 2 cases fails" in whole_table  # right only when T is the whole context
    assert (
        "RuntimeError: The size of tensor a (3) must match the size of tensor b (6" in whole_table
    )


def test_fixed_embed_with_the_batch_size_for_the_number_of_positions(feedback):
    text = feedback("07.fixed_embed", lambda emb, pos, idx: emb(idx) + pos(len(idx)))
    assert "position 0 is right, later ones are not" in text  # B = 1: one vector for all


def test_fixed_embed_without_positions(feedback):
    text = feedback("07.fixed_embed", lambda emb, pos, idx: emb(idx))
    assert "2 of 2 cases fail" in text and "at index (0, 0, 0): expected" in text


def test_embed_dim_never_set_is_reported_with_the_line(feedback):
    def snippet_attention(q, k, v):
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.embed_dim)
        return scores.softmax(dim=-1) @ v

    text = feedback("07.fixed_attention", snippet_attention)
    assert "AttributeError" in text and "embed_dim" in text
    assert "in `scores = q @ k.transpose(-2, -1) / math.sqrt(q.embed_dim)`" in text


# --------------------------------------------------------------------------- no solution shown


@pytest.mark.parametrize("name", NOTEBOOK_07)
def test_feedback_and_describe_never_show_the_solution_code(name):
    import ast
    import inspect
    import textwrap

    source = textwrap.dedent(inspect.getsource(get(name).solution))
    function = ast.parse(source).body[0]
    body = function.body[1:] if ast.get_docstring(function) else function.body
    lines = source.splitlines()
    code = [lines[i].strip() for node in body for i in range(node.lineno - 1, node.end_lineno)]
    solution_lines = [line for line in code if len(line) > 20]
    assert solution_lines
    attempts = [stub, lambda *args: 42, lambda *args: [[True]], unmasked_attention]
    messages = [line for fn in attempts for line in check(name, fn).messages]
    messages += describe(name).splitlines()
    for line in solution_lines:
        assert not any(line in message for message in messages), line
