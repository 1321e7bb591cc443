"""Tests for lmcourse.rnn: parity with torch.nn's cells and layers, gradcheck, LM invariants."""

import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lmcourse.rnn import (
    CELLS,
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RecurrentLM,
    RecurrentLMConfig,
    RNNCell,
)

TOL = {torch.float32: {"atol": 1e-5, "rtol": 1e-5}, torch.float64: {"atol": 1e-10, "rtol": 1e-10}}
DTYPES = [torch.float32, torch.float64]

# kind: (our cell, torch's cell, our layers, torch's layers, keyword arguments for all four)
KINDS = {
    "rnn_tanh": (RNNCell, nn.RNNCell, RNN, nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNNCell, nn.RNNCell, RNN, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTMCell, nn.LSTMCell, LSTM, nn.LSTM, {}),
    "gru": (GRUCell, nn.GRUCell, GRU, nn.GRU, {}),
}


# ------------------------------------------------------------------------- helpers


def cell_pair(kind, C, H, bias=True, dtype=torch.float64, seed=0):
    """Our cell and torch's, with torch's weights copied into ours."""
    ours_cls, theirs_cls, _, _, kwargs = KINDS[kind]
    torch.manual_seed(seed)  # torch.nn draws its initial weights from the global generator
    theirs = theirs_cls(C, H, bias=bias, **kwargs).to(dtype)
    ours = ours_cls(C, H, bias=bias, **kwargs).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def layers_pair(kind, C, H, num_layers, bias=True, dtype=torch.float64, seed=0):
    """Our multi-layer module and torch's (batch_first=True), with torch's weights in ours."""
    _, _, ours_cls, theirs_cls, kwargs = KINDS[kind]
    torch.manual_seed(seed)  # torch.nn draws its initial weights from the global generator
    theirs = theirs_cls(C, H, num_layers=num_layers, bias=bias, batch_first=True, **kwargs)
    ours = ours_cls(C, H, num_layers=num_layers, bias=bias, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours.to(dtype), theirs.to(dtype)


def random_state(kind, shape, dtype, gen):
    """A random h, or (h, c) for an LSTM."""
    h = torch.randn(shape, dtype=dtype, generator=gen)
    return (h, torch.randn(shape, dtype=dtype, generator=gen)) if kind == "lstm" else h


def flat(tree):
    """The tensors of a tensor, or of nested tuples of tensors, in order."""
    return [tree] if isinstance(tree, torch.Tensor) else [t for part in tree for t in flat(part)]


def leaf_copy(tree):
    """A copy of the inputs that are leaves of a new graph (same nesting)."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().clone().requires_grad_()
    return tuple(leaf_copy(part) for part in tree)


def assert_parity(ours, theirs, inputs, tol):
    """Same outputs, and the same gradients of one random linear function of the outputs with
    respect to every input and every parameter."""
    ours_in, theirs_in = leaf_copy(inputs), leaf_copy(inputs)
    ours_out, theirs_out = ours(*ours_in), theirs(*theirs_in)
    torch.testing.assert_close(ours_out, theirs_out, **tol)
    gen = torch.Generator().manual_seed(1)
    cotangents = [torch.randn(t.shape, dtype=t.dtype, generator=gen) for t in flat(theirs_out)]
    torch.autograd.backward(flat(ours_out), cotangents)
    torch.autograd.backward(flat(theirs_out), cotangents)
    for a, b in zip(flat(ours_in), flat(theirs_in), strict=True):
        torch.testing.assert_close(a.grad, b.grad, **tol)
    theirs_params = dict(theirs.named_parameters())
    assert list(dict(ours.named_parameters())) == list(theirs_params)
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, theirs_params[name].grad, **tol)


def tiny_lm(cell="lstm", impl="scratch", num_layers=1, vocab_size=7, dtype=torch.float64, seed=0):
    sizes = {"embedding_dim": 5, "hidden_size": 6, "num_layers": num_layers}
    config = RecurrentLMConfig(vocab_size, cell, impl=impl, **sizes)
    return RecurrentLM(config, torch.Generator().manual_seed(seed)).to(dtype).eval()


def random_ids(B, T, V=7, seed=0):
    return torch.randint(V, (B, T), generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------- parity with torch.nn


@pytest.mark.parametrize("given_state", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_cell_matches_torch(kind, bias, dtype, given_state):
    ours, theirs = cell_pair(kind, C=4, H=5, bias=bias, dtype=dtype)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, dtype=dtype, generator=gen)  # (B, C)
    inputs = (x, random_state(kind, (3, 5), dtype, gen)) if given_state else (x,)
    assert_parity(ours, theirs, inputs, TOL[dtype])


@pytest.mark.parametrize("given_state", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_layers_match_torch(kind, num_layers, bias, dtype, given_state):
    ours, theirs = layers_pair(kind, C=4, H=5, num_layers=num_layers, bias=bias, dtype=dtype)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 6, 4, dtype=dtype, generator=gen)  # (B, T, C)
    state = random_state(kind, (num_layers, 3, 5), dtype, gen)  # (L, B, H)
    assert_parity(ours, theirs, (x, state) if given_state else (x,), TOL[dtype])


@settings(max_examples=12, deadline=None)
@given(
    kind=st.sampled_from(list(KINDS)),
    sizes=st.tuples(*[st.integers(1, 4)] * 5),  # B, T, C, H, L
    seed=st.integers(0, 2**16),
)
def test_layers_match_torch_for_random_shapes(kind, sizes, seed):
    B, T, C, H, L = sizes
    ours, theirs = layers_pair(kind, C, H, num_layers=L, seed=seed)
    x = torch.randn(B, T, C, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    assert_parity(ours, theirs, (x,), TOL[torch.float64])


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_parameter_names_shapes_and_repr_are_torchs(kind, bias):
    ours, theirs = layers_pair(kind, C=3, H=4, num_layers=3, bias=bias)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]
    assert repr(ours) == repr(theirs).replace(", batch_first=True", "")
    ours, theirs = cell_pair(kind, C=3, H=4, bias=bias)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_initialisation_is_torchs_uniform(kind):
    H = 64
    ours = KINDS[kind][2](16, H, num_layers=2)
    bound = H**-0.5
    values = torch.cat([p.flatten() for p in ours.parameters()])
    assert values.abs().max() <= bound
    assert values.abs().max() > 0.99 * bound  # it fills the whole interval
    assert abs(values.mean()) < 0.02 * bound and abs(values.std() - bound / 3**0.5) < 0.02 * bound
    again = KINDS[kind][2](16, H, num_layers=2)
    ours.reset_parameters(torch.Generator().manual_seed(3))
    again.reset_parameters(torch.Generator().manual_seed(3))
    for p, q in zip(ours.parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q)


def _gradcheck(module, x, state):
    """gradcheck of module(x, state) with respect to x, the state and every parameter."""
    names = [name for name, _ in module.named_parameters()]
    n = len(flat(state))  # 1, or 2 for an LSTM's (h, c)

    def call(x, *rest):
        state = rest[0] if n == 1 else tuple(rest[:n])
        weights = dict(zip(names, rest[n:], strict=True))
        return tuple(flat(torch.func.functional_call(module, weights, (x, state))))

    inputs = flat(leaf_copy((x, state, tuple(module.parameters()))))
    return torch.autograd.gradcheck(call, tuple(inputs))


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_cells(kind):
    ours, _ = cell_pair(kind, C=3, H=4)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, dtype=torch.float64, generator=gen)
    assert _gradcheck(ours, x, random_state(kind, (2, 4), torch.float64, gen))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gradcheck_two_layers(kind):
    ours, _ = layers_pair(kind, C=2, H=3, num_layers=2)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 2, dtype=torch.float64, generator=gen)
    assert _gradcheck(ours, x, random_state(kind, (2, 2, 3), torch.float64, gen))


def test_one_cell_step_is_one_step_of_the_layer():
    cell, layer = LSTMCell(3, 4), LSTM(3, 4)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x = torch.randn(2, 1, 3, generator=torch.Generator().manual_seed(0))  # (B, T = 1, C)
    output, (h_n, c_n) = layer(x)
    h, c = cell(x[:, 0])
    torch.testing.assert_close((output[:, 0], h_n[0], c_n[0]), (h, h, c))


# ------------------------------------------------------------------------- the language model


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_lm_scratch_equals_torch_with_copied_weights(cell, num_layers):
    scratch = tiny_lm(cell, "scratch", num_layers, dtype=torch.float32)
    theirs = tiny_lm(cell, "torch", num_layers, dtype=torch.float32, seed=1)
    assert list(scratch.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict(scratch.state_dict())
    idx, targets = random_ids(3, 8), random_ids(3, 8, seed=1)
    (logits, loss), (logits_t, loss_t) = scratch(idx, targets), theirs(idx, targets)
    assert logits.shape == (3, 8, 7) and loss.shape == ()
    torch.testing.assert_close((logits, loss), (logits_t, loss_t), **TOL[torch.float32])
    loss.backward()
    loss_t.backward()
    grads_t = {name: p.grad for name, p in theirs.named_parameters()}
    for name, p in scratch.named_parameters():
        torch.testing.assert_close(p.grad, grads_t[name], **TOL[torch.float32])


def test_lm_initialisation_follows_the_generator():
    scratch, theirs = tiny_lm("gru", "scratch", 2), tiny_lm("gru", "torch", 2)
    for (name, p), (other, q) in zip(scratch.state_dict().items(), theirs.state_dict().items()):
        assert name == other and torch.equal(p, q)  # same order, same draws: same weights
    assert not torch.equal(tiny_lm(seed=1).lm_head.weight, tiny_lm(seed=2).lm_head.weight)
    bound = 6**-0.5  # U(-1/√H, 1/√H), H = 6, as torch.nn initialises them
    assert all(
        p.abs().max() <= bound for p in [*scratch.rnn.parameters(), *scratch.lm_head.parameters()]
    )
    with pytest.raises(TypeError, match="config must be a RecurrentLMConfig, got int"):
        RecurrentLM(7)


@pytest.mark.parametrize("impl", ["scratch", "torch"])
def test_lm_loss_is_the_mean_cross_entropy(impl):
    lm = tiny_lm("gru", impl)
    idx, targets = random_ids(2, 5), random_ids(2, 5, seed=1)
    logits, loss = lm(idx, targets)
    log_probs = torch.log_softmax(logits, dim=-1)  # (B, T, V)
    by_hand = -log_probs.gather(-1, targets[..., None]).mean()  # -log p(target), averaged
    torch.testing.assert_close(loss, by_hand)
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(10, 7), targets.reshape(10)))
    assert lm(idx)[1] is None


@pytest.mark.parametrize("impl", ["scratch", "torch"])
@pytest.mark.parametrize("cell", CELLS)
def test_lm_is_causal(cell, impl):
    lm = tiny_lm(cell, impl, num_layers=2)
    idx = random_ids(2, 9)
    logits, _ = lm(idx)
    for t in (0, 4, 8):
        changed = idx.clone()
        changed[:, t:] = (changed[:, t:] + 1) % 7  # a different future from t on
        new_logits, _ = lm(changed)
        torch.testing.assert_close(new_logits[:, :t], logits[:, :t], rtol=0, atol=0)
        assert not torch.allclose(new_logits[:, t:], logits[:, t:])


@pytest.mark.parametrize("impl", ["scratch", "torch"])
@pytest.mark.parametrize("cell", CELLS)
def test_lm_state_carries_across_calls(cell, impl):
    lm = tiny_lm(cell, impl, num_layers=2)
    a, b = random_ids(2, 4), random_ids(2, 3, seed=1)
    whole, _ = lm.forward_with_state(torch.cat([a, b], dim=1))
    first, state = lm.forward_with_state(a)
    second, _ = lm.forward_with_state(b, state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    torch.testing.assert_close(lm(b, state=state)[0], second)


@pytest.mark.parametrize("impl", ["scratch", "torch"])
@pytest.mark.parametrize("cell", CELLS)
def test_greedy_generation_with_state_equals_rerunning_the_sequence(cell, impl):
    lm = tiny_lm(cell, impl)
    idx = random_ids(2, 3)
    rerun = idx
    for _ in range(6):  # the slow way: the whole sequence again at every step
        logits, _ = lm(rerun)
        rerun = torch.cat([rerun, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(lm.generate(idx, 6, temperature=0), rerun)


def test_sampling_with_state_equals_rerunning_the_sequence():
    lm, idx = tiny_lm("lstm"), random_ids(3, 2)
    rerun, gen = idx, torch.Generator().manual_seed(5)
    for _ in range(8):
        probs = torch.softmax(lm(rerun)[0][:, -1] / 0.7, dim=-1)
        rerun = torch.cat([rerun, torch.multinomial(probs, 1, generator=gen)], dim=1)
    generated = lm.generate(idx, 8, temperature=0.7, generator=torch.Generator().manual_seed(5))
    assert torch.equal(generated, rerun)


def test_generate_is_deterministic_with_a_seeded_generator():
    lm, idx = tiny_lm("gru", "torch"), random_ids(2, 4)
    runs = [lm.generate(idx, 10, generator=torch.Generator().manual_seed(0)) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    assert runs[0].shape == (2, 14) and torch.equal(runs[0][:, :4], idx)
    assert runs[0].min() >= 0 and runs[0].max() < 7
    assert torch.equal(lm.generate(idx, 0), idx)


def test_dropout_acts_in_training_mode_only():
    config = RecurrentLMConfig(vocab_size=7, embedding_dim=4, hidden_size=16, dropout=0.5)
    lm, idx = RecurrentLM(config, torch.Generator().manual_seed(0)), random_ids(2, 5)
    assert not torch.equal(lm(idx)[0], lm(idx)[0])
    lm.eval()
    assert torch.equal(lm(idx)[0], lm(idx)[0])


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "field, value",
    [
        ("vocab_size", 0),
        ("vocab_size", 2.5),
        ("embedding_dim", 0),
        ("hidden_size", -1),
        ("num_layers", True),
        ("cell", "transformer"),
        ("impl", "jax"),
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("dropout", "0.1"),
    ],
)
def test_bad_config_names_the_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"^{field} must be .*, got {re.escape(repr(value))}\.$"):
        RecurrentLMConfig(**{"vocab_size": 5, field: value})


@pytest.mark.parametrize(
    "idx, message",
    [
        (torch.zeros(2, 3), r"idx must be a \(B, T\) torch.long tensor of token ids"),
        (torch.zeros(3, dtype=torch.long), r"idx must .* got torch.int64 \(3,\)"),
        (torch.zeros(2, 0, dtype=torch.long), r"with B, T >= 1"),
        (
            torch.tensor([[0, 7]]),
            r"idx must be ids in \[0, 7\) \(the model's vocab_size\), got 0..7",
        ),
        (torch.tensor([[-1, 2]]), r"idx must be ids in \[0, 7\)"),
        ([[0, 1]], r"idx must be a \(B, T\) tensor of token ids, got list"),
    ],
)
def test_bad_idx_is_a_clear_value_error(idx, message):
    lm = tiny_lm()
    with pytest.raises(ValueError, match=message):
        lm(idx)
    with pytest.raises(ValueError, match=message):
        lm.generate(idx, 2)


def test_bad_targets_generate_arguments_and_states():
    lm, idx = tiny_lm(), random_ids(2, 3)
    with pytest.raises(ValueError, match=r"targets must have shape \(2, 3\) \(idx's\)"):
        lm(idx, targets=random_ids(2, 4))
    with pytest.raises(ValueError, match=r"targets must be ids in \[0, 7\)"):
        lm(idx, targets=idx + 5)
    with pytest.raises(ValueError, match="temperature must be a number >= 0, got -1"):
        lm.generate(idx, 3, temperature=-1)
    with pytest.raises(ValueError, match="max_new_tokens must be an integer >= 0, got -1"):
        lm.generate(idx, -1)
    with pytest.raises(ValueError, match=r"max_new_tokens must be an integer >= 0, got 2\.0"):
        lm.generate(idx, 2.0)
    with pytest.raises(ValueError, match=r"c must have shape \(1, 2, 6\), got \(1, 3, 6\)"):
        lm(idx, state=(torch.zeros(1, 2, 6), torch.zeros(1, 3, 6)))


def test_bad_module_inputs():
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"x must be \(B, T, C\), C=3, got \(2, 3\)"):
        GRU(3, 4)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"x must be \(B, C\), C=3, got \(2, 5\)"):
        LSTMCell(3, 4)(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"h must have shape \(2, 4\), got \(1, 4\)"):
        RNNCell(3, 4)(torch.zeros(2, 3), torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"h must have shape \(2, 5, 4\), got \(1, 5, 4\)"):
        RNN(3, 4, num_layers=2)(torch.zeros(5, 6, 3), torch.zeros(1, 5, 4))


def test_generate_uses_the_course_decoding_rule():
    # top-k 1 keeps the argmax only: any temperature then samples greedily
    lm, idx = tiny_lm("gru"), random_ids(2, 3)
    greedy = lm.generate(idx, 8, temperature=0)
    sampled = lm.generate(idx, 8, temperature=1.5, top_k=1, generator=torch.Generator())
    assert torch.equal(sampled, greedy)
    # the same draws as lmcourse.sampling.choose_next on the same logits
    from lmcourse.sampling import choose_next

    out = lm.generate(
        idx, 1, temperature=0.9, top_p=0.8, generator=torch.Generator().manual_seed(3)
    )
    logits, _ = lm(idx)
    expected = choose_next(logits[:, -1], 0.9, None, 0.8, torch.Generator().manual_seed(3))
    assert torch.equal(out[:, -1:], expected)
    with pytest.raises(ValueError, match="top_p must be a number in \\(0, 1\\]"):
        lm.generate(idx, 2, top_p=1.5)
    with pytest.raises(ValueError, match="top_k must be an integer >= 1"):
        lm.generate(idx, 2, top_k=0)


def test_an_lstm_given_one_tensor_as_its_state_asks_for_the_pair():
    lstm = LSTM(3, 4)
    with pytest.raises(ValueError, match=r"an LSTM's state is a pair \(h, c\)"):
        lstm(torch.randn(2, 5, 3), torch.randn(1, 2, 4))
