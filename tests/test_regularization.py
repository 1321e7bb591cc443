"""Tests of lmcourse.regularization: weight penalties, input noise and early stopping.

The references are independent: torch.optim.SGD's own ``weight_decay`` for the L2 penalty,
the gradient ``l1 · sign(w) + l2 · w`` written out, counts of replaced tokens against the
binomial distribution, and an uninterrupted run for the weights early stopping restores.
"""

import math
import random

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from lmcourse.checkpoint import load_checkpoint
from lmcourse.data import train_val_split
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.mlp import MLPLM, MLPConfig
from lmcourse.pretrained import load_model
from lmcourse.regularization import (
    EarlyStopping,
    InputNoise,
    WeightPenalty,
    copied_fraction,
    decay_parameters,
    longest_copy,
    weight_penalty,
)
from lmcourse.tokenizers import CharTokenizer
from lmcourse.train import TrainConfig, train

TEXT = "To be, or not to be, that is the question:\n" * 20
TOKENIZER = CharTokenizer.from_text(TEXT)
V = TOKENIZER.vocab_size
TRAIN, VAL = train_val_split(torch.tensor(TOKENIZER.encode(TEXT)), 0.2)


def _gpt(seed=0, dropout=0.0):
    config = GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16,
                       dropout=dropout)  # fmt: skip
    return GPT(config, generator=torch.Generator().manual_seed(seed))


def _batch(seed=0, B=4, T=8):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(V, (B, T), generator=g), torch.randint(V, (B, T), generator=g)


class Recorder(nn.Module):
    """A 'model' that remembers what it was given and returns a loss of 0."""

    def __init__(self, vocab_size=V):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2, 2))
        self.config = GPTConfig(vocab_size=vocab_size, block_size=8, n_layer=1, n_head=1,
                                n_embd=8)  # fmt: skip
        self.seen = []

    def forward(self, idx, targets=None):
        self.seen.append((idx.clone(), None if targets is None else targets.clone()))
        return idx.float(), self.weight.sum() * 0


# ------------------------------------------------------------------------ weight penalties


def test_decay_parameters_are_the_matrices_and_embeddings():
    model = _gpt()
    names = {name for name, p in model.named_parameters() if any(p is q for q in
             decay_parameters(model))}  # fmt: skip
    assert names == {name for name, p in model.named_parameters() if p.dim() >= 2}
    assert not any("ln" in name or name.endswith("bias") for name in names)


@pytest.mark.parametrize(("l1", "l2"), [(0.3, 0.0), (0.0, 0.7), (0.02, 0.05)])
def test_weight_penalty_and_its_gradient_are_the_equations(l1, l2):
    model = _gpt()
    weights = torch.cat([p.detach().flatten() for p in decay_parameters(model)])
    expected = l1 * weights.abs().sum() + 0.5 * l2 * (weights**2).sum()
    penalty = weight_penalty(model, l1=l1, l2=l2)
    torch.testing.assert_close(penalty, expected.to(penalty.dtype))
    penalty.backward()
    for p in model.parameters():
        if p.dim() >= 2:
            torch.testing.assert_close(p.grad, l1 * torch.sign(p) + l2 * p.detach())
        else:
            assert p.grad is None  # biases and LayerNorm gains are left alone


def test_an_l2_penalty_with_sgd_is_torchs_sgd_weight_decay():
    l2, lr = 0.3, 0.1
    ours, torchs = _gpt(seed=1), _gpt(seed=1)
    penalised = WeightPenalty(ours, l2=l2)
    sgd = torch.optim.SGD(ours.parameters(), lr=lr)
    matrices = decay_parameters(torchs)
    others = [p for p in torchs.parameters() if all(p is not q for q in matrices)]
    reference = torch.optim.SGD([{"params": matrices, "weight_decay": l2},
                                 {"params": others, "weight_decay": 0.0}], lr=lr)  # fmt: skip
    for step in range(3):
        x, y = _batch(step)
        for model, optimizer in ((penalised, sgd), (torchs, reference)):
            optimizer.zero_grad()
            model(x, y)[1].backward()
            optimizer.step()
    for a, b in zip(ours.parameters(), torchs.parameters()):
        torch.testing.assert_close(a, b)


def test_the_penalty_is_in_the_training_loss_only():
    model = _gpt()
    wrapped = WeightPenalty(model, l1=1e-3, l2=1e-2)
    x, y = _batch()
    model.eval()
    logits, plain = model(x, y)
    penalty = weight_penalty(model, l1=1e-3, l2=1e-2)
    wrapped.train()
    train_logits, train_loss = wrapped(x, y)
    torch.testing.assert_close(train_logits, logits)
    torch.testing.assert_close(train_loss, plain + penalty)
    wrapped.eval()
    assert torch.equal(wrapped(x, y)[1], plain)
    assert wrapped(x)[1] is None  # no targets: no loss, no penalty
    assert wrapped.config is model.config and "l1=0.001, l2=0.01" in repr(wrapped)


def test_training_with_l1_drives_weights_towards_zero():
    def train_with(l1):
        model = _gpt(seed=2)
        config = TrainConfig(
            max_steps=60,
            batch_size=8,
            block_size=8,
            learning_rate=1e-2,
            weight_decay=0.0,
            eval_interval=60,
            eval_batches=1,
            device="cpu",
        )
        train(WeightPenalty(model, l1=l1), TRAIN, VAL, config, progress=False)
        return torch.cat([p.detach().flatten() for p in decay_parameters(model)])

    plain, sparse = train_with(0.0), train_with(1e-2)
    assert sparse.abs().sum() < 0.5 * plain.abs().sum()
    assert (sparse.abs() < 1e-2).float().mean() > 2 * (plain.abs() < 1e-2).float().mean()


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, "0.1", None])
def test_penalty_strengths_are_checked(bad):
    with pytest.raises(ValueError, match="l1 must be a finite number >= 0"):
        WeightPenalty(_gpt(), l1=bad)
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
        weight_penalty(_gpt(), l2=bad)


def test_a_model_without_matrices_is_refused():
    with pytest.raises(ValueError, match="Linear has no weight matrices"):
        WeightPenalty(nn.Linear(3, 1).requires_grad_(False))


# ------------------------------------------------------------------------------ input noise


def test_input_noise_changes_inputs_only_while_training():
    inner = Recorder()
    noisy = InputNoise(inner, p=0.5)
    x, y = _batch(B=16, T=32)
    torch.manual_seed(0)
    noisy.train()
    noisy(x, y)
    seen_x, seen_y = inner.seen[-1]
    assert torch.equal(seen_y, y)  # the targets are the true next tokens
    assert not torch.equal(seen_x, x) and seen_x.shape == x.shape
    assert seen_x.min() >= 0 and seen_x.max() < V
    noisy.eval()
    noisy(x, y)
    assert torch.equal(inner.seen[-1][0], x)
    InputNoise(inner, p=0.0).train()(x, y)
    assert torch.equal(inner.seen[-1][0], x)


@pytest.mark.parametrize("p", [0.05, 0.3])
def test_the_replaced_fraction_is_binomial_and_the_replacements_uniform(p):
    vocab = 10
    noisy = InputNoise(Recorder(vocab), p=p)
    torch.manual_seed(1)
    x = torch.zeros(200, 500, dtype=torch.long)  # all token 0: a change is a non-zero token
    changed = noisy.corrupt(x)
    n = x.numel()
    # a replacement draws 0 again with probability 1/vocab, which leaves the token unchanged
    q = p * (1 - 1 / vocab)
    count = int((changed != 0).sum())
    assert abs(count - n * q) < 5 * math.sqrt(n * q * (1 - q))
    counts = torch.bincount(changed[changed != 0], minlength=vocab)[1:].double()
    expected = count / (vocab - 1)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 30  # 9 degrees of freedom: P(chi2 > 30) is below 0.001


def test_input_noise_is_reproducible_from_the_seed():
    noisy = InputNoise(Recorder(), p=0.2)
    x, _ = _batch(B=8, T=16)
    torch.manual_seed(5)
    first = noisy.corrupt(x)
    torch.manual_seed(5)
    assert torch.equal(noisy.corrupt(x), first)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, math.nan, "0.1"])
def test_input_noise_refuses_a_fraction_outside_0_to_1(bad):
    with pytest.raises(ValueError, match="p is the fraction of input tokens replaced"):
        InputNoise(_gpt(), p=bad)


def test_input_noise_refuses_ids_the_model_has_no_embedding_for():
    with pytest.raises(ValueError, match="vocab_size 30 is more than the model's 17"):
        InputNoise(_gpt(), p=0.1, vocab_size=30)
    assert InputNoise(_gpt(), p=0.1, vocab_size=V - 2).vocab_size == V - 2  # a tokenizer's: fine


def test_input_noise_needs_a_vocabulary_size():
    bare = Recorder()
    bare.config = None  # a model that does not say how many tokens it knows
    with pytest.raises(ValueError, match="pass vocab_size=tokenizer.vocab_size"):
        InputNoise(bare, p=0.1)
    assert InputNoise(bare, p=0.1, vocab_size=V).vocab_size == V
    assert InputNoise(_gpt(), p=0.1).vocab_size == V  # a GPT's config knows it
    mlp = MLPLM(MLPConfig(vocab_size=V))
    assert InputNoise(mlp, p=0.1).vocab_size == V


# --------------------------------------------------------------------------- early stopping


def test_early_stopping_waits_patience_evaluations_after_the_best():
    model = nn.Linear(2, 2)
    stopper = EarlyStopping(patience=2)
    answers = []
    for step, loss in enumerate([3.0, 2.0, 2.5, 1.9, 2.0, 2.1, 1.0]):
        with torch.no_grad():
            model.weight.fill_(step)
        answers.append(stopper.update(step, loss, model))
    # (once stopped, it stays stopped: step 6's better loss is not taken)
    assert answers == [False, False, False, False, False, True, True]
    assert (stopper.best_step, stopper.best_loss, stopper.stopped_step) == (3, 1.9, 5)
    stopper.restore(model)
    assert torch.equal(model.weight, torch.full((2, 2), 3.0))  # the weights of step 3
    assert "best_loss=1.9000 at step 3" in repr(stopper) and "stopped at step 5" in repr(stopper)


def test_min_delta_counts_tiny_improvements_as_none():
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    model = nn.Linear(1, 1)
    assert not stopper.update(0, 2.0, model)
    assert not stopper.update(1, 1.95, model)  # better, but by less than min_delta
    assert stopper.update(2, 1.93, model)
    assert stopper.best_step == 0


def test_early_stopping_errors():
    with pytest.raises(ValueError, match="patience counts evaluations"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="min_delta must be a finite number >= 0"):
        EarlyStopping(min_delta=-1)
    with pytest.raises(ValueError, match="has seen no evaluation yet"):
        EarlyStopping().restore(nn.Linear(1, 1))
    with pytest.raises(ValueError, match="val_loss must be a finite number, got nan at step 4"):
        EarlyStopping().update(4, math.nan, nn.Linear(1, 1))
    with pytest.raises(TypeError, match="early_stopping must be an EarlyStopping"):
        train(_gpt(), TRAIN, VAL, TrainConfig(max_steps=1, device="cpu"), early_stopping=3)


def _overfitting_config(**changes):
    # a constant learning rate: the run's length does not change its schedule
    settings = dict(max_steps=120, batch_size=8, block_size=8, learning_rate=3e-2,
                    weight_decay=0.0, eval_interval=5, eval_batches=2, device="cpu")  # fmt: skip
    return TrainConfig(**{**settings, **changes})


def test_train_stops_early_and_the_best_weights_are_those_of_a_run_that_ended_there():
    train_data, val_data = TRAIN[:60], VAL  # a tiny training text: it overfits quickly
    model = _gpt(seed=3)
    stopper = EarlyStopping(patience=3)
    history = train(model, train_data, val_data, _overfitting_config(), progress=False,
                    early_stopping=stopper)  # fmt: skip
    stopped, best = stopper.stopped_step, stopper.best_step
    assert stopped is not None and stopped < 120, "the test needs a run that overfits"
    assert history.steps[-1] == stopped == len(history.step_loss)
    assert stopped == best + 3 * 5  # three evaluations, 5 steps apart, without improvement
    assert min(history.val_loss) == history.val_loss[history.steps.index(best)]
    stopper.restore(model)
    reference = _gpt(seed=3)
    train(reference, train_data, val_data, _overfitting_config(max_steps=best), progress=False)
    for a, b in zip(model.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(a, b)  # bit for bit: the same steps, the same batches


def test_restore_takes_the_model_inside_a_wrapper_or_a_wrapper_around_it():
    model = _gpt(seed=3)
    best = {k: v.clone() for k, v in model.state_dict().items()}
    net = InputNoise(WeightPenalty(model, l2=1e-3), p=0.1)
    stopper = EarlyStopping(patience=1)
    stopper.update(0, 1.0, net)  # what train() passes: the wrapper, keys "module.module...."
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # training went on, and got worse
    assert stopper.update(1, 2.0, net)
    inside = stopper.restore(_gpt(seed=9))  # the model inside a wrapper like it
    around = _gpt(seed=9)
    stopper.restore(torch.compile(WeightPenalty(around, l1=1e-3)))  # "_orig_mod.module...."
    stopper.restore(model)  # (fit() in notebook 13 restores the GPT it wrapped)
    for restored in (inside, around, model):
        for name, value in restored.state_dict().items():
            assert torch.equal(value, best[name]), name
    with pytest.raises(RuntimeError, match="Missing key"):  # another model is still refused
        stopper.restore(nn.Linear(2, 2))


def test_a_run_stopped_early_saves_its_last_step(tmp_path):
    stopper = EarlyStopping(patience=2)
    history = train(_gpt(seed=3), TRAIN[:60], VAL, _overfitting_config(), progress=False,
                    out_dir=tmp_path, tokenizer=TOKENIZER, early_stopping=stopper)  # fmt: skip
    checkpoint = load_checkpoint(tmp_path / "ckpt.pt")
    assert checkpoint["step"] == stopper.stopped_step == history.steps[-1]


def test_a_checkpoint_of_a_wrapped_model_holds_the_model_itself(tmp_path):
    model = _gpt(seed=5)
    net = InputNoise(WeightPenalty(model, l2=1e-3), p=0.1)
    train(net, TRAIN, VAL, _overfitting_config(max_steps=4), progress=False, out_dir=tmp_path,
          tokenizer=TOKENIZER)  # fmt: skip
    loaded = load_model(tmp_path / "ckpt.pt")
    assert type(loaded.model) is GPT
    for a, b in zip(loaded.model.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_a_regularised_gpt_trains_with_every_tool_at_once():
    model = _gpt(seed=4, dropout=0.1)
    net = InputNoise(WeightPenalty(model, l1=1e-5, l2=1e-4), p=0.1)
    config = _overfitting_config(max_steps=30, weight_decay=0.1, eval_interval=10)
    history = train(net, TRAIN, VAL, config, progress=False, tokenizer=TOKENIZER)
    assert history.val_loss[-1] < history.val_loss[0]
    assert "p=0.1, vocab_size=17" in repr(net) and "l1=1e-05, l2=0.0001" in repr(net)


# ------------------------------------------------------------------------------ memorisation


def _all_substrings(text):
    return {text[i:j] for i in range(len(text)) for j in range(i + 1, len(text) + 1)}


@given(st.text("abc", max_size=12), st.text("abc", max_size=30))
def test_longest_copy_is_the_longest_common_substring(sample, training_text):
    common = _all_substrings(sample) & _all_substrings(training_text)
    copy = longest_copy(sample, training_text)
    assert len(copy) == max(map(len, common), default=0)
    assert copy in training_text and copy in sample
    if copy:  # the first of the longest, in the sample's order
        assert sample.index(copy) == min(sample.index(c) for c in common if len(c) == len(copy))


def test_copied_fraction_counts_the_pieces_found_in_the_training_text():
    training_text = "to be or not to be"
    assert copied_fraction("not to be", training_text, n=4) == 1.0
    assert copied_fraction("xyzw", training_text, n=4) == 0.0
    # pieces of "be or nox": "be o", "e or", " or ", "or n", "r no", " nox" (the last one new)
    assert copied_fraction("be or nox", training_text, n=4) == 5 / 6
    rng = random.Random(0)
    text = "".join(rng.choice("ab") for _ in range(200))
    sample = "".join(rng.choice("ab") for _ in range(50))
    pieces = [sample[i : i + 6] for i in range(45)]
    assert copied_fraction(sample, text, n=6) == sum(p in text for p in pieces) / 45


def test_copied_fraction_errors():
    with pytest.raises(ValueError, match="the sample has 3 characters, fewer than n = 16"):
        copied_fraction("abc", "abcdef")
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        copied_fraction("abc", "abcdef", n=0)


def test_a_stopper_that_has_stopped_is_not_reused():
    stopper = EarlyStopping(patience=1)
    model = nn.Linear(1, 1)
    stopper.update(0, 1.0, model)
    stopper.update(1, 2.0, model)
    with pytest.raises(ValueError, match="already stopped a run \\(at step 1\\): make a new one"):
        train(_gpt(), TRAIN, VAL, _overfitting_config(max_steps=2), early_stopping=stopper)


def test_early_stopping_copies_state_that_is_not_a_tensor():
    class WithExtraState(nn.Linear):
        def get_extra_state(self):
            return {"note": [1, 2]}

        def set_extra_state(self, state):
            self.seen = state

    model = WithExtraState(2, 2)
    stopper = EarlyStopping()
    stopper.update(0, 1.0, model)
    with torch.no_grad():
        model.weight.zero_()
    stopper.restore(model)
    assert model.seen == {"note": [1, 2]} and model.weight.abs().sum() > 0
