"""Tests of lmcourse.mlp: the learned bigram table equals the counts, Bengio's MLP by hand."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from lmcourse.mlp import MLPLM, MLPConfig, NeuralBigram
from lmcourse.tokenizers import CharTokenizer


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------- NeuralBigram


def test_bigram_logits_are_rows_of_the_table():
    model = NeuralBigram(5)
    with torch.no_grad():
        model.weight.copy_(torch.randn(5, 5, generator=_gen()))
    idx = torch.tensor([[0, 4, 4], [2, 1, 3]])
    logits, loss = model(idx)
    assert logits.shape == (2, 3, 5) and loss is None
    for b in range(2):
        for t in range(3):
            torch.testing.assert_close(logits[b, t], model.weight[idx[b, t]])


def test_fresh_bigram_is_uniform_with_loss_ln_v():
    model = NeuralBigram(7)
    idx = torch.randint(7, (3, 4), generator=_gen())
    _, loss = model(idx, torch.roll(idx, 1))
    assert loss.item() == pytest.approx(math.log(7))
    torch.testing.assert_close(model.probs(), torch.full((7, 7), 1 / 7))


def test_bigram_loss_is_the_mean_negative_log_probability():
    model = NeuralBigram(4)
    with torch.no_grad():
        model.weight.copy_(torch.randn(4, 4, generator=_gen(1)))
    x, y = torch.tensor([[0, 1, 2, 3]]), torch.tensor([[1, 2, 3, 0]])
    p = model.probs()
    expected = -sum(math.log(p[a, b]) for a, b in zip(x[0].tolist(), y[0].tolist())) / 4
    assert model(x, y)[1].item() == pytest.approx(expected, rel=1e-5)


def test_gradient_descent_recovers_the_normalised_bigram_counts():
    """Maximum likelihood for a table is counting: softmax(W) -> count(i j) / count(i •)."""
    text = "abracadabra alakazam"
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text))
    V = tok.vocab_size
    counts = torch.zeros(V, V)
    for a, b in zip(ids[:-1].tolist(), ids[1:].tolist()):
        counts[a, b] += 1
    seen = counts.sum(dim=1) > 0  # "m", the last character, is never followed by anything
    mle = counts[seen] / counts[seen].sum(dim=1, keepdim=True)

    model = NeuralBigram(V)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.5, weight_decay=0.0)
    x, y = ids[None, :-1], ids[None, 1:]  # every bigram of the text, as one window
    for _ in range(600):
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    gap = (model.probs()[seen] - mle).abs().max().item()
    assert gap < 1e-2, gap  # measured: 9.2e-4
    # ... and the loss reached the cross-entropy of the count model on its own training text
    count_probs = counts / counts.sum(dim=1, keepdim=True).clamp(min=1)
    count_loss = -torch.log(count_probs[x[0], y[0]]).mean().item()
    assert loss.item() == pytest.approx(count_loss, abs=1e-3)
    # rows of tokens never seen as the current one get no gradient: still uniform
    torch.testing.assert_close(model.probs()[~seen], torch.full((int((~seen).sum()), V), 1 / V))


@pytest.mark.parametrize("bad", [0, -3, 2.0, True, "5"])
def test_bigram_rejects_a_bad_vocab_size(bad):
    with pytest.raises(ValueError, match="vocab_size"):
        NeuralBigram(bad)


# ------------------------------------------------------------------------- MLPConfig


@pytest.mark.parametrize(
    "field, value",
    [
        ("vocab_size", 0),
        ("context", 0),
        ("context", 2.5),
        ("embedding_dim", -1),
        ("hidden_size", True),
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("dropout", "0.1"),
    ],
)
def test_config_errors_name_the_field_and_value(field, value):
    kwargs = {"vocab_size": 10, field: value}
    with pytest.raises(ValueError, match=rf"^{field} must .*got {value!r}"):
        MLPConfig(**kwargs)


def test_config_is_frozen():
    config = MLPConfig(vocab_size=10)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'context'"):
        config.context = 5


# ------------------------------------------------------------------------- MLPLM

CONFIG = MLPConfig(vocab_size=11, context=3, embedding_dim=4, hidden_size=8)


def _mlp(config=CONFIG, seed=0):
    return MLPLM(config, generator=_gen(seed))


def _reference_logits(model, idx):
    """The equations of the docstring, one position at a time, with the model's weights."""
    K, V = model.config.context, model.config.vocab_size
    B, T = idx.shape
    out = torch.empty(B, T, V)
    for b in range(B):
        for t in range(T):
            window = [idx[b, s].item() if s >= 0 else V for s in range(t - K + 1, t + 1)]
            e = torch.cat([model.wte.weight[i] for i in window])  # (K * C,)
            h = torch.tanh(model.hidden.weight @ e + model.hidden.bias)  # (H,)
            out[b, t] = model.lm_head.weight @ h + model.lm_head.bias  # (V,)
    return out


def test_mlp_matches_the_equations_position_by_position():
    model = _mlp()
    idx = torch.randint(11, (2, 6), generator=_gen(1))
    logits, loss = model(idx)
    assert logits.shape == (2, 6, 11) and loss is None
    torch.testing.assert_close(logits, _reference_logits(model, idx))


def test_mlp_loss_is_the_mean_cross_entropy():
    model = _mlp()
    idx = torch.randint(11, (3, 5), generator=_gen(2))
    targets = torch.randint(11, (3, 5), generator=_gen(3))
    logits, loss = model(idx, targets)
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(15, 11), targets.reshape(15)))


def test_mlp_is_causal():
    """Changing a future token never changes an earlier logit."""
    model = _mlp()
    idx = torch.randint(11, (2, 8), generator=_gen(4))
    logits, _ = model(idx)
    for t in range(8):
        changed = idx.clone()
        changed[:, t + 1 :] = torch.randint(11, changed[:, t + 1 :].shape, generator=_gen(t))
        torch.testing.assert_close(model(changed)[0][:, : t + 1], logits[:, : t + 1])


def test_mlp_sees_exactly_its_context():
    """Position t depends on tokens t-2, t-1, t (context 3) and on nothing older."""
    model = _mlp()
    idx = torch.randint(11, (1, 8), generator=_gen(5))
    logits, _ = model(idx)
    for t in range(3, 8):
        older = idx.clone()
        older[:, : t - 2] = (older[:, : t - 2] + 1) % 11
        torch.testing.assert_close(model(older)[0][:, t], logits[:, t])
        nearest = idx.clone()
        nearest[:, t - 2] = (nearest[:, t - 2] + 1) % 11
        assert not torch.allclose(model(nearest)[0][:, t], logits[:, t])


def test_window_start_is_scored_like_a_short_input():
    model = _mlp()
    idx = torch.randint(11, (2, 6), generator=_gen(6))
    logits, _ = model(idx)
    torch.testing.assert_close(model(idx[:, :1])[0][:, 0], logits[:, 0])
    torch.testing.assert_close(model(idx[:, :2])[0], logits[:, :2])


def test_mlp_generator_makes_the_initialisation_reproducible():
    a, b, c = _mlp(seed=3), _mlp(seed=3), _mlp(seed=4)
    for (name, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q), name
        assert not torch.equal(p, r), name


def test_mlp_initialisation_is_pytorch_default_scale():
    model = MLPLM(MLPConfig(vocab_size=50, context=4, embedding_dim=32, hidden_size=200), _gen())
    assert model.wte.weight.std().item() == pytest.approx(1.0, abs=0.05)
    bound = 1 / math.sqrt(4 * 32)
    assert model.hidden.weight.abs().max().item() <= bound
    assert model.hidden.weight.abs().max().item() > 0.95 * bound


def test_dropout_acts_only_in_training_mode():
    model = _mlp(MLPConfig(vocab_size=11, dropout=0.5))
    idx = torch.randint(11, (2, 5), generator=_gen(7))
    model.eval()
    torch.testing.assert_close(model(idx)[0], model(idx)[0])
    model.train()
    assert not torch.equal(model(idx)[0], model(idx)[0])


def test_mlp_rejects_a_dict_config():
    with pytest.raises(TypeError, match="MLPConfig"):
        MLPLM({"vocab_size": 10})
