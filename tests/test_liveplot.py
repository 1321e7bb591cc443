"""Tests of lmcourse.liveplot: the loss plot that train redraws after each evaluation."""

import math

import matplotlib.pyplot as plt
import pytest
import torch

from lmcourse.data import train_val_split
from lmcourse.liveplot import LiveLossPlot
from lmcourse.mlp import NeuralBigram
from lmcourse.tokenizers import CharTokenizer
from lmcourse.train import History, TrainConfig, train

TEXT = "To be, or not to be, that is the question:\n" * 20
TOKENIZER = CharTokenizer.from_text(TEXT)
TRAIN, VAL = train_val_split(torch.tensor(TOKENIZER.encode(TEXT)), 0.2)
CONFIG = TrainConfig(max_steps=7, batch_size=4, block_size=8, learning_rate=0.05,
                     eval_interval=3, eval_batches=2, device="cpu")  # fmt: skip


pytestmark = pytest.mark.usefixtures("agg_backend")  # tests/conftest.py: no display


def test_train_calls_on_evaluate_after_every_estimate():
    seen = []

    def record(h):
        seen.append((list(h.steps), len(h.step_loss)))

    model = NeuralBigram(TOKENIZER.vocab_size)
    history = train(model, TRAIN, VAL, CONFIG, progress=False, on_evaluate=record)
    # before training, at steps 3 and 6, and at the end; each call sees the history so far
    assert seen == [([0], 0), ([0, 3], 3), ([0, 3, 6], 6), ([0, 3, 6, 7], 7)]
    assert history.steps == [0, 3, 6, 7]
    with pytest.raises(TypeError, match="on_evaluate must be callable"):
        train(NeuralBigram(TOKENIZER.vocab_size), TRAIN, VAL, CONFIG, on_evaluate="plot")


def test_the_figure_draws_both_estimates_and_every_batch_in_bits():
    history = History(steps=[0, 2], train_loss=[4.0, 3.0], val_loss=[4.2, 3.5],
                      step_loss=[4.1, 3.2])  # fmt: skip
    ax = LiveLossPlot().figure(history).axes[0]
    batches, train_line, val_line = ax.get_lines()
    assert list(batches.get_xdata()) == [1, 2]
    assert list(val_line.get_xdata()) == [0, 2]
    assert val_line.get_ydata() == pytest.approx([4.2 / math.log(2), 3.5 / math.log(2)])
    assert train_line.get_ydata() == pytest.approx([4.0 / math.log(2), 3.0 / math.log(2)])
    assert "bits per token" in ax.get_ylabel()
    assert ax.get_title().endswith(f"step 2: validation {3.5 / math.log(2):.3f} bits")
    assert LiveLossPlot(in_bits=False).figure(history).axes[0].get_title().endswith("3.500 nats")
    nats = LiveLossPlot(in_bits=False).figure(history).axes[0]
    assert nats.get_lines()[2].get_ydata() == pytest.approx([4.2, 3.5])
    assert LiveLossPlot().figure(History()).axes[0].get_title() == "Training, live"  # nothing yet
    with pytest.raises(ValueError, match="in_bits must be True or False"):
        LiveLossPlot(in_bits="yes")
    with pytest.raises(TypeError, match="history must be a History"):
        LiveLossPlot().figure({"val_loss": [1.0]})


def test_the_figure_per_character_leaves_out_the_untrained_start():
    history = History(steps=[0, 2, 4], train_loss=[4.0, 2.0, 1.8], val_loss=[4.2, 2.1, 1.9],
                      step_loss=[4.1, 3.0, 2.2, 2.0])  # fmt: skip
    ax = LiveLossPlot(in_bits=False, per="character").figure(history).axes[0]
    assert ax.get_ylabel() == "loss (nats per character)"
    low, high = ax.get_ylim()
    assert low < 1.8 and 3.0 < high < 3.3  # fitted to estimates and batches from step 2 on
    assert [t.get_text() for t in ax.texts] == ["step 0: 4.20 nats per character, above the plot"]
    with pytest.raises(ValueError, match="per must be 'token' or 'character'"):
        LiveLossPlot(per="word")


def test_it_draws_once_then_updates_the_same_output_area(monkeypatch):
    class Handle:
        def __init__(self):
            self.updates = []

        def update(self, obj):
            self.updates.append(obj)

    shown = []

    def fake_display(obj, display_id=False):
        shown.append((obj, display_id))
        return handle

    handle = Handle()
    import IPython
    import IPython.display

    monkeypatch.setattr(IPython, "get_ipython", lambda: object())  # as inside a kernel
    monkeypatch.setattr(IPython.display, "display", fake_display)
    plot = LiveLossPlot()
    history = History(steps=[0], train_loss=[4.0], val_loss=[4.1])
    plot(history)
    history.steps.append(5), history.train_loss.append(3.0), history.val_loss.append(3.2)
    plot(history)
    assert len(shown) == 1 and shown[0][1] is True  # one output area, with a display id
    assert len(handle.updates) == 1 and isinstance(handle.updates[0], plt.Figure)
    assert handle.updates[0].axes[0].get_lines()[2].get_xdata().tolist() == [0, 5]
    assert plot.draws == 2


def test_outside_ipython_it_draws_nothing(capsys):
    plot = LiveLossPlot()
    plot(History(steps=[0], train_loss=[4.0], val_loss=[4.1]))
    assert plot.draws == 0 and plot.handle is None
    assert capsys.readouterr().out == ""
