"""Plots of the course: loss curves and coloured-text activations (heatmaps to come).

Every plotting function draws on a matplotlib ``Axes`` (a new figure unless ``ax=`` is given) and
returns it, so a notebook can add to the plot or put several side by side.
"""

from __future__ import annotations

import html
import math

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from lmcourse.train import History

__all__ = ["LOSS_METRICS", "colored_text", "plot_history"]

#: The losses of a ``History`` that ``plot_history`` draws, with their names on the plot.
LOSS_METRICS = {
    "val_loss": "validation loss",
    "train_loss": "training loss",
    "step_loss": "training batch loss",
}


def _curve(history: History, metric: str, in_bits: bool) -> tuple[list[int], list[float]]:
    """The steps and values of one metric; per-step losses are at steps 1, 2, ..."""
    values = getattr(history, metric)
    steps = list(range(1, len(values) + 1)) if metric == "step_loss" else history.steps
    scale = 1 / math.log(2) if in_bits else 1.0  # bits = nats / ln 2
    return steps, [v * scale for v in values]


def plot_history(
    histories: History | dict[str, History],
    ax: Axes | None = None,
    metric: str = "val_loss",
    in_bits: bool = True,
) -> Axes:
    """Loss curves of one training run, or of several on one plot to compare them.

    Args:
        histories: a ``History`` from ``lmcourse.train.train``, or a dict name -> ``History``
            (``{"RNN": h1, "GRU": h2, "LSTM": h3}``): one line per run, the names in the legend.
        ax: the Axes to draw on (default: a new figure).
        metric: one of ``LOSS_METRICS``: ``"val_loss"`` and ``"train_loss"`` (the estimates
            at the evaluation steps) or ``"step_loss"`` (every training batch: noisy).
        in_bits: bits per token (nats / ln 2) instead of nats per token.

    Returns:
        the Axes, with a title, axis labels with units and a legend.
    """
    if metric not in LOSS_METRICS:
        raise ValueError(f"metric must be one of {list(LOSS_METRICS)}, got {metric!r}.")
    name = LOSS_METRICS[metric]
    runs = {name: histories} if isinstance(histories, History) else dict(histories)
    if not runs:
        raise ValueError("histories is empty: pass a History or a dict of them.")
    for label, history in runs.items():
        if not isinstance(history, History):
            raise TypeError(f"histories[{label!r}] is a {type(history).__name__}, not a History.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for label, history in runs.items():
        steps, values = _curve(history, metric, in_bits)
        ax.plot(steps, values, label=label, marker="." if metric != "step_loss" else None)
    unit = "bits per token" if in_bits else "nats per token"
    ax.set_title(name[0].upper() + name[1:] + (f" of {len(runs)} runs" if len(runs) > 1 else ""))
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{name} ({unit})")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def colored_text(text: str, values, vmin: float = -1.0, vmax: float = 1.0) -> str:
    """HTML that shows ``text`` with each character's background coloured by its value.

    Blue for values near ``vmin``, white near the middle, red near ``vmax`` (matplotlib's
    ``coolwarm``); the exact value appears when the mouse rests on a character. Display it with
    ``IPython.display.HTML(colored_text(...))``.

    Args:
        text: the characters, one value each.
        values: a sequence of floats (list, array or 1-D tensor), same length as ``text``.

    Example::

        colored_text("to be", torch.tanh(cell_state[:, 7]))
    """
    values = [float(v) for v in values]
    if len(values) != len(text):
        raise ValueError(f"text has {len(text)} characters but values has {len(values)} entries.")
    cmap = plt.get_cmap("coolwarm")
    spans = []
    for char, value in zip(text, values):
        share = min(max((value - vmin) / (vmax - vmin), 0.0), 1.0)
        r, g, b, _ = (int(255 * c) for c in cmap(share))
        shown = {"\n": "↵<br>", " ": "&nbsp;"}.get(char, html.escape(char))
        spans.append(
            f'<span style="background:rgb({r},{g},{b})" title="{value:.3f}">{shown}</span>'
        )
    return '<div style="font-family:monospace;line-height:1.6">' + "".join(spans) + "</div>"
