"""Tests of lmcourse.train: config checks, History, reproducibility, clipping, any LM."""

import copy
import dataclasses
import math
import re
import warnings

import pytest
import torch
import transformers.optimization
from torch import nn

import lmcourse.train as train_module
from lmcourse.data import get_batch, train_val_split
from lmcourse.lm import NGramModule
from lmcourse.mlp import MLPLM, MLPConfig, NeuralBigram
from lmcourse.ngram import NGramLM
from lmcourse.tokenizers import CharTokenizer
from lmcourse.train import (
    History,
    TrainConfig,
    configure_optimizer,
    estimate_loss,
    lr_at,
    train,
    train_step,
)

TEXT = "To be, or not to be, that is the question:\n" * 20
TOKENIZER = CharTokenizer.from_text(TEXT)
TRAIN, VAL = train_val_split(torch.tensor(TOKENIZER.encode(TEXT)), 0.2)
V = TOKENIZER.vocab_size
CONFIG = TrainConfig(
    max_steps=7,
    batch_size=4,
    block_size=8,
    learning_rate=0.05,
    eval_interval=3,
    eval_batches=2,
    device="cpu",
)


def _mlp(dropout=0.0, seed=0):
    config = MLPConfig(V, context=3, embedding_dim=4, hidden_size=16, dropout=dropout)
    return MLPLM(config, generator=torch.Generator().manual_seed(seed))


def _losses(history):
    return (history.steps, history.train_loss, history.val_loss, history.step_loss)


# ------------------------------------------------------------------------- TrainConfig


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_steps", 0),
        ("batch_size", 2.0),
        ("block_size", -1),
        ("eval_interval", 0),
        ("eval_batches", True),
        ("learning_rate", 0),
        ("learning_rate", math.nan),
        ("weight_decay", -0.1),
        ("grad_clip", 0.0),
        ("grad_clip", "1"),
        ("device", 0),
        ("seed", -1),
    ],
)
def test_config_errors_name_the_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"^{field} must .*got {value!r}"):
        TrainConfig(**{field: value})


def test_config_is_frozen_and_accepts_no_clipping():
    assert TrainConfig(grad_clip=None).grad_clip is None
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'max_steps'"):
        CONFIG.max_steps = 3


# ------------------------------------------------------------------------- train


def test_history_records_every_step_and_each_evaluation():
    history = train(NeuralBigram(V), TRAIN, VAL, CONFIG, progress=False)
    assert isinstance(history, History)
    assert history.steps == [0, 3, 6, 7]  # before training, every 3 steps, and at the end
    assert len(history.train_loss) == len(history.val_loss) == 4
    assert len(history.step_loss) == len(history.grad_norm) == len(history.lr) == 7
    # a fresh bigram table is uniform: the loss before training is exactly ln V
    assert history.train_loss[0] == pytest.approx(math.log(V))
    assert history.val_loss[0] == pytest.approx(math.log(V))
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.lr == [CONFIG.learning_rate] * 7
    assert all(norm > 0 for norm in history.grad_norm)
    assert history.seconds > 0
    # tokens per second at the median step: B·T tokens / its seconds
    median_ms = sorted(history.step_ms)[3]  # the middle one of 7
    assert history.tokens_per_second == pytest.approx(CONFIG.batch_size * CONFIG.block_size
                                                      / (median_ms / 1000))  # fmt: skip


def test_mlp_learns_a_repetitive_text():
    config = TrainConfig(
        max_steps=60,
        batch_size=8,
        block_size=16,
        learning_rate=0.01,
        eval_interval=30,
        eval_batches=2,
        device="cpu",
    )
    history = train(_mlp(), TRAIN, VAL, config, progress=False)
    assert history.val_loss[-1] < 0.6 * history.val_loss[0]


def test_seeded_runs_are_reproducible_even_with_dropout():
    model = _mlp(dropout=0.3)
    a, b = copy.deepcopy(model), copy.deepcopy(model)
    history_a = train(a, TRAIN, VAL, CONFIG, progress=False)
    history_b = train(b, TRAIN, VAL, CONFIG, progress=False)
    assert _losses(history_a) == _losses(history_b)
    assert history_a.grad_norm == history_b.grad_norm
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    seed_1 = TrainConfig(**{**vars(CONFIG), "seed": 1})
    other = train(copy.deepcopy(model), TRAIN, VAL, seed_1, progress=False)
    assert other.step_loss != history_a.step_loss


def test_the_default_generator_is_seeded_with_config_seed():
    model = _mlp()
    a = train(copy.deepcopy(model), TRAIN, VAL, CONFIG, progress=False)
    gen = torch.Generator().manual_seed(CONFIG.seed)
    b = train(copy.deepcopy(model), TRAIN, VAL, CONFIG, generator=gen, progress=False)
    assert _losses(a) == _losses(b)


def test_train_leaves_the_global_random_state_alone():
    model = _mlp(dropout=0.3)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    train(model, TRAIN, VAL, CONFIG, progress=False)
    assert torch.equal(torch.get_rng_state(), before)


def test_evaluating_more_often_does_not_change_training():
    model = _mlp(dropout=0.3)
    often = TrainConfig(**{**vars(CONFIG), "eval_interval": 1, "eval_batches": 3})
    a = train(copy.deepcopy(model), TRAIN, VAL, CONFIG, progress=False)
    b = train(copy.deepcopy(model), TRAIN, VAL, often, progress=False)
    assert a.step_loss == b.step_loss
    assert b.steps == list(range(8))


def test_recorded_grad_norm_is_the_norm_before_clipping():
    model = _mlp()
    config = TrainConfig(**{**vars(CONFIG), "grad_clip": 1e-3})
    reference = copy.deepcopy(model)
    history = train(model, TRAIN, VAL, config, progress=False)
    # the first step by hand: the same batch (the generator seeded with the seed) and gradient
    x, y = get_batch(TRAIN, 4, 8, torch.Generator().manual_seed(config.seed))
    reference(x, y)[1].backward()
    norm = torch.cat([p.grad.flatten() for p in reference.parameters()]).norm().item()
    assert history.grad_norm[0] == pytest.approx(norm, rel=1e-5)
    assert norm > 1e-3


def test_train_step_clips_the_gradient_to_grad_clip():
    model = NeuralBigram(V)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    x, y = get_batch(TRAIN, 4, 8, torch.Generator().manual_seed(0))
    loss, norm = train_step(model, optimizer, x, y, grad_clip=0.01)
    assert loss == pytest.approx(math.log(V)) and norm > 0.01
    assert model.weight.grad.norm().item() == pytest.approx(0.01, rel=1e-4)
    assert model.weight.norm().item() == pytest.approx(0.01, rel=1e-4)  # W = 0 - 1.0 · g


def test_weight_decay_applies_to_matrices_only():
    optimizer = configure_optimizer(_mlp(), TrainConfig(weight_decay=0.1))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decayed["params"])  # embeddings and linear weights
    assert all(p.dim() == 1 for p in plain["params"])  # biases
    assert len(decayed["params"]) + len(plain["params"]) == 5


def test_estimate_loss_uses_eval_mode_and_its_generator():
    model = _mlp(dropout=0.5)
    a = estimate_loss(model, VAL, CONFIG, torch.Generator().manual_seed(4))
    b = estimate_loss(model, VAL, CONFIG, torch.Generator().manual_seed(4))
    assert a == b and model.training


def test_estimate_loss_is_the_mean_of_its_batches_losses():
    # A random MLP's loss differs from batch to batch (unlike a fresh bigram's ln V), so the
    # last batch's loss, or any one batch's, is not the mean.
    model = _mlp(dropout=0.5)
    config = TrainConfig(batch_size=2, block_size=8, eval_batches=3, device="cpu")
    generator = torch.Generator().manual_seed(7)
    batches = [get_batch(VAL, 2, 8, generator) for _ in range(3)]  # the batches it will draw
    model.eval()
    with torch.no_grad():
        losses = [model(x, y)[1].item() for x, y in batches]
    model.train()
    assert len(set(losses)) == 3
    estimate = estimate_loss(model, VAL, config, torch.Generator().manual_seed(7))
    assert estimate == pytest.approx(sum(losses) / 3, rel=1e-6)


def test_models_without_trainable_parameters_are_refused():
    ngram = NGramModule(NGramLM(n=2).fit([TEXT]), TOKENIZER)
    with pytest.raises(ValueError, match="NGramModule has no trainable parameters"):
        train(ngram, TRAIN, VAL, CONFIG, progress=False)
    frozen = NeuralBigram(V).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(frozen, TRAIN, VAL, CONFIG, progress=False)


def test_train_errors():
    with pytest.raises(TypeError, match="TrainConfig"):
        train(NeuralBigram(V), TRAIN, VAL, {"max_steps": 3})
    too_long = TrainConfig(**{**vars(CONFIG), "block_size": len(VAL)})
    with pytest.raises(ValueError, match="block_size"):
        train(NeuralBigram(V), TRAIN, VAL, too_long, progress=False)


def test_a_tokenizer_that_does_not_fit_the_model_is_refused():
    # its checkpoint could not decode: the model would write ids 2..9, which "ab" has no text for
    message = ("The tokenizer has 2 tokens but the model's vocab_size is 10: the model's token "
               "ids would not all become text. Build the model with "
               "vocab_size=tokenizer.vocab_size.")  # fmt: skip
    model = MLPLM(MLPConfig(10, context=3, embedding_dim=4, hidden_size=16))
    data = TRAIN % 10
    with pytest.raises(ValueError, match=re.escape(message)):
        train(model, data, data, CONFIG, progress=False, tokenizer=CharTokenizer.from_text("ab"))
    fitting = CharTokenizer.from_text("abcdefghij")
    assert train(model, data, data, CONFIG, progress=False, tokenizer=fitting).steps[-1] == 7


def test_progress_bar_shows_loss_and_speed(capsys):
    train(NeuralBigram(V), TRAIN, VAL, TrainConfig(**{**vars(CONFIG), "max_steps": 2}))
    err = capsys.readouterr().err
    assert "loss=" in err and "tok_s=" in err


def test_a_notebook_progress_bar_leaves_a_summary_line(monkeypatch, capsys):
    # tqdm.auto's bar in a notebook is a widget (it has a `container`): pages that cannot run
    # widgets show its first state, so the result is printed as a line of text too
    from tqdm import tqdm as terminal_tqdm

    class WidgetBar(terminal_tqdm):
        container = object()

    config = TrainConfig(**{**vars(CONFIG), "max_steps": 4})
    history = train(NeuralBigram(V), TRAIN, VAL, config, progress=False)
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(train_module, "tqdm", terminal_tqdm)
    train(NeuralBigram(V), TRAIN, VAL, config)
    assert capsys.readouterr().out == ""  # a terminal keeps the bar's last state: no extra line
    monkeypatch.setattr(train_module, "tqdm", WidgetBar)
    widget_history = train(NeuralBigram(V), TRAIN, VAL, config)
    line = capsys.readouterr().out.strip()
    assert line == widget_history.summary()
    assert line.startswith("4 steps in ")
    assert f"train {history.train_loss[-1]:.3f}, validation {history.val_loss[-1]:.3f}" in line


def test_history_summary_reads_the_totals():
    history = History(steps=[0, 2], train_loss=[4.0, 2.5], val_loss=[4.1, 2.625],
                      step_loss=[3.0, 2.0], seconds=81.6, tokens_per_second=20019.4)  # fmt: skip
    assert history.summary() == (
        "2 steps in 82 s (20,019 tokens/s); loss in nats per token: train 2.500, validation "
        f"2.625 ({2.625 / math.log(2):.3f} bits)"
    )
    assert History().summary() == "0 steps in 0 s"


def test_mfu_is_the_models_flops_over_the_gpus_peak(monkeypatch):
    from lmcourse.gpt import GPT, GPTConfig, flops_per_token
    from lmcourse.trainer import PEAK_FLOPS, estimate_mfu

    model = GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=32))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "NVIDIA H100 80GB HBM3")
    cuda = torch.device("cuda")
    # MFU = flops_per_token · tokens/s / peak: 1e6 tokens/s on an H100 (989 TFLOP/s in bf16)
    expected = flops_per_token(model.config) * 1e6 / PEAK_FLOPS["H100"]
    assert estimate_mfu(model, 1e6, cuda) == pytest.approx(expected)
    assert 0 < expected < 1
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "Some Future GPU")
    assert estimate_mfu(model, 1e6, cuda) is None  # an unknown peak: no made-up figure
    assert estimate_mfu(model, 1e6, torch.device("cpu")) is None
    assert estimate_mfu(nn.Linear(2, 2), 1e6, cuda) is None  # not a GPT: no FLOP formula


@pytest.mark.parametrize("min_lr", [None, 0.0, 1e-4])
def test_lr_at_equals_hugging_faces_schedules(min_lr):
    # An independent reference: transformers' warmup schedules, as multipliers of the peak lr.
    # They count steps from 0 (their first update uses the multiplier at 0, which is 0 during
    # warmup); lr_at counts from 1, so no step has a learning rate of 0: at the same number
    # the two agree.
    optimization = transformers.optimization
    config = TrainConfig(max_steps=300, learning_rate=1e-3, min_lr=min_lr, warmup_steps=25)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=config.learning_rate)
    if min_lr is None:
        schedule = optimization.get_constant_schedule_with_warmup(optimizer, 25)
    elif min_lr == 0:
        schedule = optimization.get_cosine_schedule_with_warmup(optimizer, 25, 300)
    else:
        schedule = optimization.get_cosine_with_min_lr_schedule_with_warmup(
            optimizer, 25, 300, min_lr=min_lr
        )
    multiplier = schedule.lr_lambdas[0]
    for step in range(1, config.max_steps + 1):
        assert lr_at(step, config) == pytest.approx(config.learning_rate * multiplier(step))


@pytest.mark.parametrize("warmup", [0, 10])
def test_lr_at_refuses_steps_before_the_first(warmup):
    config = TrainConfig(max_steps=100, learning_rate=1e-3, min_lr=1e-4, warmup_steps=warmup)
    for step in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=rf"steps count from 1 .*got step {step!r}"):
            lr_at(step, config)
    # without warmup the first step is at the peak, and the cosine ends at min_lr
    if warmup == 0:
        assert lr_at(1, config) == pytest.approx(1e-3, rel=1e-3)
        assert lr_at(100, config) == pytest.approx(1e-4)


def test_a_warmup_longer_than_the_run_is_noted_with_both_numbers():
    # warmup 10, 4 steps: the rate climbs to 4/10 of its peak (0.05 · 0.4 = 0.02) and stops
    config = dataclasses.replace(CONFIG, max_steps=4, warmup_steps=10, min_lr=0.005)
    message = ("warmup_steps 10 > max_steps 4: the learning rate rises for the whole run, up to "
               "0.02 at the last step, 40% of its peak learning_rate 0.05, and the cosine decay "
               "to min_lr never starts. For the whole schedule, train at least 10 steps or "
               "shorten the warmup.")  # fmt: skip
    with pytest.warns(UserWarning, match=f"^{re.escape(message)}$") as notes:
        history = train(_mlp(), TRAIN, VAL, config, progress=False)
    assert len(notes) == 1 and notes[0].filename == __file__  # at the line that called train
    assert history.lr == pytest.approx([0.005, 0.01, 0.015, 0.02])  # as the note says: allowed
    constant = dataclasses.replace(config, min_lr=None)
    assert "cosine" not in train_module.warmup_note(constant)


@pytest.mark.parametrize("warmup", [0, 3, 7])
def test_a_warmup_that_fits_in_the_run_gets_no_note(warmup):
    config = dataclasses.replace(CONFIG, warmup_steps=warmup)  # max_steps 7
    assert train_module.warmup_note(config) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        history = train(_mlp(), TRAIN, VAL, config, progress=False)
    assert max(history.lr) == pytest.approx(CONFIG.learning_rate)  # the peak is reached


@pytest.mark.parametrize("device", ["gpu9", "cuda:99"])
def test_a_device_that_is_not_here_is_named_before_out_dir_is_made(tmp_path, device):
    out_dir = tmp_path / "run"
    config = dataclasses.replace(CONFIG, device=device)
    with pytest.raises((ValueError, RuntimeError), match=device.split(":")[0]):
        train(_mlp(), TRAIN, VAL, config, progress=False, out_dir=out_dir)
    assert not out_dir.exists()  # no empty folder left behind


def test_windows_longer_than_the_models_context_are_named_before_training(tmp_path):
    # (it stopped in the first evaluation with the model's "idx has 8 tokens ...")
    from lmcourse.gpt import GPT, GPTConfig

    model = GPT(GPTConfig(V, block_size=4, n_layer=1, n_head=2, n_embd=8))
    with pytest.raises(ValueError, match=r"block_size 8 is more than the model's context \(4\): "
                                         "use block_size=4 or a larger model"):  # fmt: skip
        train(model, TRAIN, VAL, CONFIG, progress=False, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    train(model, TRAIN, VAL, dataclasses.replace(CONFIG, block_size=4), progress=False)  # fits
