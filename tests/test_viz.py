"""Tests of lmcourse.viz: loss curves have one line per run, units and a legend."""

import math

import matplotlib.pyplot as plt
import pytest

from lmcourse.train import History
from lmcourse.viz import LOSS_METRICS, plot_history


def _history(scale=1.0):
    return History(
        steps=[0, 10, 20],
        train_loss=[4.0 * scale, 2.0 * scale, 1.5 * scale],
        val_loss=[4.1 * scale, 2.2 * scale, 1.8 * scale],
        step_loss=[4.0, 3.5, 3.0, 2.5],
        grad_norm=[1.0] * 4,
        lr=[1e-3] * 4,
    )


@pytest.fixture(autouse=True)
def _agg_backend():
    plt.switch_backend("Agg")  # draw in memory: no display in tests
    yield
    plt.close("all")


def test_one_history_in_bits_per_token():
    ax = plot_history(_history())
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [0, 10, 20]
    assert list(line.get_ydata()) == pytest.approx([v / math.log(2) for v in (4.1, 2.2, 1.8)])
    assert ax.get_xlabel() == "training step"
    assert ax.get_ylabel() == "validation loss (bits per token)"
    assert ax.get_title() == "Validation loss"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["validation loss"]


def test_several_runs_on_one_plot_in_nats():
    runs = {"RNN": _history(1.0), "GRU": _history(0.9), "LSTM": _history(0.8)}
    ax = plot_history(runs, metric="train_loss", in_bits=False)
    assert len(ax.get_lines()) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["RNN", "GRU", "LSTM"]
    assert list(ax.get_lines()[2].get_ydata()) == pytest.approx([3.2, 1.6, 1.2])
    assert ax.get_ylabel() == "training loss (nats per token)"
    assert "3 runs" in ax.get_title()


def test_step_loss_is_plotted_at_steps_1_to_n():
    ax = plot_history(_history(), metric="step_loss")
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3, 4]


def test_draws_on_the_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_history(_history(), ax=right) is right
    assert not left.get_lines() and len(right.get_lines()) == 1
    assert set(LOSS_METRICS) == {"val_loss", "train_loss", "step_loss"}


@pytest.mark.parametrize(
    "histories, metric, error",
    [
        (_history(), "grad_norm", ValueError),
        ({}, "val_loss", ValueError),
        ({"a": [1.0, 2.0]}, "val_loss", TypeError),
    ],
)
def test_errors(histories, metric, error):
    with pytest.raises(error):
        plot_history(histories, metric=metric)


def test_colored_text_one_span_per_character_with_its_value():
    from lmcourse.viz import colored_text

    out = colored_text("a <b\n", [-1.0, 0.0, 1.0, 0.5, 2.0])
    assert out.count("<span") == 5
    assert "&lt;" in out and "↵<br>" in out  # escaped, and the newline visible
    assert 'title="-1.000"' in out and 'title="2.000"' in out
    assert "rgb(58,76,192)" in out  # coolwarm's blue end for vmin
    blue, red = out.split("<span")[1], out.split("<span")[3]
    assert blue != red


def test_colored_text_needs_one_value_per_character():
    import pytest

    from lmcourse.viz import colored_text

    with pytest.raises(ValueError, match="3 characters but values has 2"):
        colored_text("abc", [0.1, 0.2])
