"""Tests of lmcourse.viz: loss curves have one line per run, units and a legend; attention
heatmaps show the weights themselves under the right tokens."""

import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from lmcourse.train import History
from lmcourse.viz import (
    LOSS_METRICS,
    attention_grid,
    attention_heatmap,
    next_token_bars,
    plot_history,
)


def _history(scale=1.0):
    return History(
        steps=[0, 10, 20],
        train_loss=[4.0 * scale, 2.0 * scale, 1.5 * scale],
        val_loss=[4.1 * scale, 2.2 * scale, 1.8 * scale],
        step_loss=[4.0, 3.5, 3.0, 2.5],
        grad_norm=[1.0] * 4,
        lr=[1e-3] * 4,
    )


pytestmark = pytest.mark.usefixtures("agg_backend")  # tests/conftest.py: no display


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


def test_the_y_axis_leaves_out_the_untrained_start_and_says_how_high_it_was():
    history = History(steps=[0, 100, 200, 300], train_loss=[4.2, 1.7, 1.6, 1.5],
                      val_loss=[4.2, 1.8, 1.7, 1.65])  # fmt: skip
    ax = plot_history(history, in_bits=False, per="character")
    low, high = ax.get_ylim()
    assert low < 1.65 and 1.8 < high < 2.0  # the curve after step 100 fills the plot
    (note,) = ax.texts
    assert note.get_text() == "step 0: 4.20 nats per character, above the plot"
    assert ax.get_ylabel() == "validation loss (nats per character)"
    flat = History(steps=[0, 10], train_loss=[1.0, 2.0], val_loss=[1.0, 2.0])
    assert not plot_history(flat).texts  # nothing left out: no note


def test_several_metrics_draw_each_run_in_one_colour_solid_then_dashed():
    runs = {"small": _history(1.0), "large": _history(0.8)}
    ax = plot_history(runs, metric=("val_loss", "train_loss"), colors={"large": "tab:purple"})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["small: validation loss", "small: training loss",
                      "large: validation loss", "large: training loss"]  # fmt: skip
    lines = ax.get_lines()
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "--"]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert lines[2].get_color() == lines[3].get_color() == "tab:purple"
    assert list(lines[3].get_ydata()) == pytest.approx([v * 0.8 / math.log(2) for v in (4, 2, 1.5)])
    assert ax.get_ylabel() == "loss (bits per token)"
    assert ax.get_title() == "Validation loss and training loss of 2 runs"
    with pytest.raises(ValueError, match="a tuple of up to 3"):
        plot_history(runs, metric=("val_loss", "test_loss"))


def test_the_note_goes_where_no_curve_is():
    def run(values):
        return History(steps=list(range(0, 700, 100)), train_loss=values, val_loss=values)

    ax = plot_history({"a": run([4.4, 2.4, 2.3, 2.1, 2.0, 1.9, 1.9]),
                       "b": run([4.4, 2.3, 2.0, 0.2, 0.1, 0.1, 0.1])})  # fmt: skip
    (note,) = ax.texts  # b runs along the bottom: the note is not at the bottom left
    assert (note.get_ha(), note.get_va()) == ("right", "top")
    ax = plot_history(run([4.4, 2.4, 2.3, 2.1, 2.0, 1.9, 1.9]))
    assert (ax.texts[0].get_ha(), ax.texts[0].get_va()) == ("left", "bottom")  # the usual place


def test_colors_keep_a_run_in_its_colour():
    runs = {"RNN": _history(1.0), "LSTM": _history(0.8)}
    ax = plot_history(runs, colors={"LSTM": "tab:purple"})
    assert ax.get_lines()[1].get_color() == "tab:purple"
    with pytest.raises(ValueError, match=r"colors names runs that are not plotted: \['GRU'\]"):
        plot_history(runs, colors={"GRU": "red"})
    with pytest.raises(ValueError, match="per must be 'token' or 'character'"):
        plot_history(runs, per="char")


def test_step_loss_is_plotted_at_steps_1_to_n():
    ax = plot_history(_history(), metric="step_loss")
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3, 4]


def test_draws_on_the_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_history(_history(), ax=right) is right
    assert not left.get_lines() and len(right.get_lines()) == 1
    assert set(LOSS_METRICS) == {"val_loss", "train_loss", "step_loss"}


@pytest.mark.parametrize(
    "histories, metric, error, message",
    [
        (
            _history(),
            "grad_norm",
            ValueError,
            r"metric must be one of \['val_loss', 'train_loss', 'step_loss'\] or a tuple of up "
            r"to 3 of them, got 'grad_norm'",
        ),
        ({}, "val_loss", ValueError, "histories is empty: pass a History or a dict of them"),
        ({"a": [1.0, 2.0]}, "val_loss", TypeError, r"histories\['a'\] is a list, not a History"),
    ],
)
def test_errors_name_the_bad_argument(histories, metric, error, message):
    with pytest.raises(error, match=f"^{message}\\.$"):
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


# --------------------------------------------------------------------------- attention


def _labels(ticks):
    return [tick.get_text() for tick in ticks]


def test_attention_heatmap_shows_the_weights_with_token_labels():
    weights = torch.tensor([[1.0, 0.0, 0.0], [0.25, 0.75, 0.0], [0.2, 0.3, 0.5]])
    ax = attention_heatmap(weights.requires_grad_(), "a \n", title="one head")
    (image,) = ax.images
    np.testing.assert_allclose(image.get_array(), weights.detach().numpy())
    assert image.get_clim() == (0.0, 1.0)
    assert _labels(ax.get_xticklabels()) == ["a", "␣", "↵"]
    assert _labels(ax.get_yticklabels()) == ["a", "␣", "↵"]
    assert ax.get_xlabel() == "key (attended to)" and ax.get_ylabel() == "query (attending)"
    assert ax.get_title() == "one head"
    assert len(ax.figure.axes) == 2  # the heatmap and its colorbar


def test_attention_heatmap_marks_the_line_breaks_of_a_long_text():
    # 128 labels on one axis run together: a long axis marks its line breaks instead
    text = ("To be,\nor not" * 10)[:128]
    weights = torch.tril(torch.ones(128, 128))
    ax = attention_heatmap(weights / weights.sum(-1, keepdim=True), text)
    breaks = [i for i, c in enumerate(text) if c == "\n"]
    assert list(ax.get_xticks()) == breaks and list(ax.get_yticks()) == breaks
    assert set(_labels(ax.get_yticklabels())) == {"↵"}
    plt.close(ax.figure)
    # without line breaks: the positions, about a dozen numbers
    ax = attention_heatmap(weights / weights.sum(-1, keepdim=True), "ab" * 64)
    assert _labels(ax.get_xticklabels()) == [str(i) for i in range(0, 128, 20)]
    short = attention_heatmap(torch.eye(48), "x" * 48)  # 48 tokens: each labelled
    assert len(short.get_xticks()) == 48


def test_attention_heatmap_with_a_cache_labels_the_last_queries():
    fig, (left, right) = plt.subplots(1, 2)
    weights = np.full((2, 4), 0.25)  # 2 new queries, 4 keys: the queries are tokens 2 and 3
    assert attention_heatmap(weights, ["to", " ", "be", "!"], ax=right) is right
    assert _labels(right.get_xticklabels()) == ["to", "␣", "be", "!"]
    assert _labels(right.get_yticklabels()) == ["be", "!"]
    assert right.get_title() == "Attention weights" and not left.images


@pytest.mark.parametrize(
    "shape, tokens, match",
    [((3, 3), "ab", "got 2 tokens for a weight matrix of shape \\(3, 3\\)"),
     ((2, 3), ["a", "b"], "3 in all"), ((1, 2, 3, 3), "abc", "one \\(T, S\\) matrix")],
)  # fmt: skip
def test_attention_heatmap_needs_one_token_per_key(shape, tokens, match):
    with pytest.raises(ValueError, match=match):
        attention_heatmap(np.zeros(shape), tokens)


def test_attention_grid_has_one_heatmap_per_layer_and_head():
    L, H, T = 2, 3, 4
    attn = [torch.rand(1, H, T, T, generator=torch.Generator().manual_seed(i)) for i in range(L)]
    fig = attention_grid(attn, "to b")
    assert len(fig.axes) == L * H + 1  # and one colorbar for all
    assert fig.axes[-1].get_ylabel() == "attention weight"
    axes = np.array(fig.axes[:-1]).reshape(L, H)
    np.testing.assert_allclose(axes[1, 2].images[0].get_array(), attn[1][0, 2].numpy())
    assert _labels(axes[1, 0].get_xticklabels()) == ["t", "o", "␣", "b"]  # outer axes only
    assert _labels(axes[1, 0].get_yticklabels()) == ["t", "o", "␣", "b"]
    inner = axes[0, 1]
    assert not any(_labels(inner.get_xticklabels()) + _labels(inner.get_yticklabels()))
    assert axes[0, 2].get_title() == "head 2" and axes[1, 0].get_ylabel().startswith("layer 1")
    assert "2 layers × 3 heads" in fig._suptitle.get_text()
    three_d = attention_grid([a[0] for a in attn], list("abcd"), title="untrained")
    assert len(three_d.axes) == L * H + 1 and three_d._suptitle.get_text() == "untrained"


def test_attention_grid_errors():
    with pytest.raises(ValueError, match="empty"):
        attention_grid([], "ab")
    message = "every layer must have the same (H, T, S) shape, got [(1, 3, 3), (2, 3, 3)]."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        attention_grid([torch.zeros(2, 3, 3), torch.zeros(1, 3, 3)], "abc")
    with pytest.raises(ValueError, match="attn\\[0\\] must be"):
        attention_grid([torch.zeros(3, 3)], "abc")
    with pytest.raises(ValueError, match="got 2 tokens"):
        attention_grid([torch.zeros(1, 3, 3)], "ab")


# --------------------------------------------------------------------------- next token


def test_next_token_bars_shows_the_top_tokens_most_likely_first():
    probs = torch.tensor([0.1, 0.4, 0.05, 0.3, 0.15], requires_grad=True)
    ax = next_token_bars(probs, ["a", "\n", "b", " ", "c"], top=3)
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == pytest.approx([0.4, 0.3, 0.15])  # bar i at y = i, in decreasing order
    assert [bar.get_y() + bar.get_height() / 2 for bar in ax.patches] == pytest.approx([0, 1, 2])
    assert ax.yaxis_inverted()  # y = 0, the most likely, on top
    assert _labels(ax.get_yticklabels()) == ["↵", "␣", "c"]
    assert [text.get_text() for text in ax.texts] == ["0.400", "0.300", "0.150"]
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_xlabel() == "probability"
    assert ax.get_title() == "The 3 most likely next tokens"


def test_next_token_bars_with_fewer_tokens_than_top_on_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    ax = next_token_bars(np.array([0.25, 0.75]), "xy", ax=right, title="after 'a'")
    assert ax is right and not left.patches
    assert _labels(ax.get_yticklabels()) == ["y", "x"]  # top=10 but only 2 tokens
    assert [bar.get_width() for bar in ax.patches] == [0.75, 0.25]
    assert ax.get_title() == "after 'a'"


@pytest.mark.parametrize(
    "probs, labels, top, match",
    [(np.full(3, 1 / 3), "ab", 10, "got 2 labels for 3 probabilities"),
     (np.full((1, 3), 1 / 3), "abc", 10, "one \\(V,\\) vector"),
     (np.full(3, 1 / 3), "abc", 0, "top must be an integer >= 1")],
)  # fmt: skip
def test_next_token_bars_errors(probs, labels, top, match):
    with pytest.raises(ValueError, match=match):
        next_token_bars(probs, labels, top=top)
