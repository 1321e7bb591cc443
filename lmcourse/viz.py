"""Plots of the course: loss curves, coloured-text activations, attention heatmaps and
next-token distributions (token embeddings in 2-D: ``lmcourse.embeddings``).

Every single plot draws on a matplotlib ``Axes`` (a new figure unless ``ax=`` is given) and
returns it, so a notebook can add to the plot or put several side by side; a grid of plots
(``attention_grid``) returns its ``Figure``. Tokens on axes show a line break as "↵" and a
space as "␣", so that every token stays visible.
"""

from __future__ import annotations

import html
import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lmcourse.train import History

__all__ = [
    "LOSS_METRICS",
    "attention_grid",
    "attention_heatmap",
    "colored_text",
    "next_token_bars",
    "plot_history",
    "token_label",
]

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
    metric: str | tuple[str, ...] = "val_loss",
    in_bits: bool = True,
    per: str = "token",
    colors: dict[str, str] | None = None,
) -> Axes:
    """Loss curves of one training run, or of several on one plot to compare them.

    The y-axis is fitted to this call's losses after the first evaluation interval: the
    untrained loss at step 0 (about log V) would squeeze them into a strip; a note gives it.
    To show several metrics on one plot, pass them together (``metric=(...)``), in one call.

    Args:
        histories: a ``History`` from ``lmcourse.train.train``, or a dict name -> ``History``
            (``{"RNN": h1, "GRU": h2, "LSTM": h3}``): one line per run, the names in the legend.
        ax: the Axes to draw on (default: a new figure).
        metric: one of ``LOSS_METRICS``: ``"val_loss"`` and ``"train_loss"`` (the estimates
            at the evaluation steps) or ``"step_loss"`` (every training batch: noisy); or a
            tuple of them, ``("val_loss", "train_loss")``: each run's in one colour, solid,
            dashed, dotted.
        in_bits: bits (nats / ln 2) instead of nats.
        per: what one token is, for the unit: ``"character"`` for a character-level model
            (bits per character, the course's unit), ``"token"`` otherwise.
        colors: a colour for some or all runs, by name (default: matplotlib's cycle), so that
            one run keeps its colour from plot to plot.

    Returns:
        the Axes, with a title, axis labels with units and a legend.
    """
    metrics = (metric,) if isinstance(metric, str) else tuple(metric)
    if not metrics or len(metrics) > 3 or any(m not in LOSS_METRICS for m in metrics):
        raise ValueError(f"metric must be one of {list(LOSS_METRICS)} or a tuple of up to 3 of "
                         f"them, got {metric!r}.")  # fmt: skip
    if per not in ("token", "character"):
        raise ValueError(f"per must be 'token' or 'character', got {per!r}.")
    name = " and ".join(LOSS_METRICS[m] for m in metrics)
    runs = {name: histories} if isinstance(histories, History) else dict(histories)
    if not runs:
        raise ValueError("histories is empty: pass a History or a dict of them.")
    for label, history in runs.items():
        if not isinstance(history, History):
            raise TypeError(f"histories[{label!r}] is a {type(history).__name__}, not a History.")
    unknown = sorted(set(colors or {}) - set(runs))
    if unknown:
        raise ValueError(f"colors names runs that are not plotted: {unknown}; runs: {list(runs)}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    curves = []  # (history, steps, values) of every line
    for label, history in runs.items():
        colour = (colors or {}).get(label)  # None: the next of the cycle, then kept
        for key, style in zip(metrics, ("-", "--", ":")):  # one metric after the other
            curves.append((history, *_curve(history, key, in_bits)))
            shown = label if len(metrics) == 1 else f"{label}: {LOSS_METRICS[key]}"
            (line,) = ax.plot(*curves[-1][1:], style, label=shown, color=colour,
                              marker="." if key != "step_loss" else None)  # fmt: skip
            colour = line.get_color()
    unit = f"{'bits' if in_bits else 'nats'} per {per}"
    fit_after_first_interval(ax, curves, unit)
    ax.set_title(name[0].upper() + name[1:] + (f" of {len(runs)} runs" if len(runs) > 1 else ""))
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{name if len(metrics) == 1 else 'loss'} ({unit})")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def fit_after_first_interval(ax: Axes, curves: list, unit: str) -> None:
    """Fit the y-axis to the values after each run's first evaluation interval, and note on
    the plot the loss it leaves out at the first evaluation (the untrained model's, at step 0).
    ``curves``: (history, steps, values) each. ``plot_history`` and ``LiveLossPlot`` use it."""
    later, left_out, first_estimates = [], [], []
    for history, steps, values in curves:
        first = history.steps[1] if len(history.steps) > 1 else 0  # the second evaluation
        later += [v for s, v in zip(steps, values) if s >= first]
        left_out += [v for s, v in zip(steps, values) if s < first]
        if history.steps and len(values) and steps[0] == history.steps[0]:
            first_estimates.append(values[0])
    if not later or not left_out or max(left_out) <= max(later):
        return  # nothing is left out
    low, high = min(later), max(later)
    pad = 0.08 * (high - low) or 0.1
    ax.set_ylim(low - pad, high + pad)
    if first_estimates and max(first_estimates) > high + pad:
        start = min(history.steps[0] for history, _, _ in curves if history.steps)
        note = f"step {start}: {max(first_estimates):.2f} {unit}, above the plot"
        (x, ha), (y, va) = _empty_corner(ax, [c[1:] for c in curves], len(note))
        ax.annotate(note, xy=(x, y), xycoords="axes fraction", ha=ha, va=va, fontsize=9,
                    color="0.35")  # fmt: skip


def _empty_corner(ax: Axes, lines: list, chars: int):
    """The corner of ``ax`` where a note of ``chars`` characters (9 points) covers the fewest
    points of ``lines`` ((steps, values) each): bottom left first. ((x, ha), (y, va)) returned."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    box = ax.get_position().transformed(ax.figure.transFigure)  # the axes, in pixels
    width = chars * 0.55 * 9 / 72 * ax.figure.dpi / box.width  # the note's size, as fractions
    height = 1.6 * 9 / 72 * ax.figure.dpi / box.height
    x, y = [], []
    for steps, values in (line for line in lines if len(line[0]) > 1):
        dense = np.linspace(steps[0], steps[-1], 400)  # along the line: a crossing counts too
        x += list((dense - x0) / (x1 - x0))
        y += list((np.interp(dense, steps, values) - y0) / (y1 - y0))
    x, y = np.array(x), np.array(y)

    def covered(corner) -> int:
        (cx, ha), (cy, va) = corner
        left, bottom = cx - width * (ha == "right"), cy - height * (va == "top")
        inside = (x >= left) & (x <= left + width) & (y >= bottom) & (y <= bottom + height)
        return int(inside.sum())

    corners = [((0.02, "left"), (0.03, "bottom")), ((0.98, "right"), (0.97, "top")),
               ((0.98, "right"), (0.03, "bottom")), ((0.02, "left"), (0.97, "top"))]  # fmt: skip
    return min(corners, key=covered)  # the first of the emptiest


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


# --------------------------------------------------------------------------- attention


def token_label(token: str) -> str:
    """A token as a label on a plot: a line break as "↵", a space as "␣", so none is invisible.

    >>> [token_label(c) for c in "a \\n"]
    ['a', '␣', '↵']
    """
    return str(token).replace("\n", "↵").replace(" ", "␣")


def as_array(values) -> np.ndarray:
    """Floats from a tensor (on any device, with or without grad), an array or nested lists."""
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=float)


def _weights_matrix(weights, what: str = "weights") -> np.ndarray:
    """A (T, S) array of floats, or a ValueError that says how to pick one head."""
    matrix = as_array(weights)
    if matrix.ndim != 2:
        raise ValueError(
            f"{what} must be one (T, S) matrix, got shape {matrix.shape}; pick one head, "
            "e.g. attn[0, h] of a (B, H, T, T) tensor."
        )
    return matrix


def _query_and_key_labels(tokens, T: int, S: int) -> tuple[list[str], list[str]]:
    """Labels of the S keys and of the T queries, which are the last T of the S tokens."""
    keys = [token_label(token) for token in tokens]
    if len(keys) != S:
        raise ValueError(
            f"got {len(keys)} tokens for a weight matrix of shape ({T}, {S}): pass one token per "
            f"key (column), {S} in all."
        )
    return keys[S - T :], keys


#: The most tokens an axis labels one by one; a longer axis marks its line breaks instead.
MAX_TOKEN_LABELS = 48


def _ticks(labels: list[str]) -> tuple[list[int], list[str]]:
    """Tick positions and labels for an axis of tokens: every token on a short axis; on a
    longer one (more than ``MAX_TOKEN_LABELS``) the line breaks, "↵", which show where a
    text's lines start, or, in a text without them, the positions 0, 10, 20, ..."""
    if len(labels) <= MAX_TOKEN_LABELS:
        return list(range(len(labels))), labels
    breaks = [i for i, label in enumerate(labels) if label == "↵"]
    if breaks:
        return breaks, ["↵"] * len(breaks)
    step = 10 * math.ceil(len(labels) / (10 * 12))  # about a dozen numbers
    return list(range(0, len(labels), step)), [str(i) for i in range(0, len(labels), step)]


def attention_heatmap(weights, tokens, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Attention weights as a heatmap: row t is what query t looks at, on a scale 0 to 1.

    Args:
        weights: a (T, S) matrix of weights (tensor or array), each row summing to 1, e.g.
            ``attn[0, h]`` of ``CausalSelfAttention(...)(x, return_attn=True)``.
        tokens: the S keys' tokens, a string (one character each) or a list of strings; the
            queries are the last T of them (all of them when S = T).
        ax: the Axes to draw on (default: a new figure).
        title: the title (default: "Attention weights").

    Returns:
        the Axes: keys' tokens along x, queries' tokens along y (on a long text, only the line
        breaks "↵"), a colorbar.

    Example::

        attention_heatmap(attn[0, 0], "to be")
    """
    matrix = _weights_matrix(weights)
    T, S = matrix.shape
    query_labels, key_labels = _query_and_key_labels(tokens, T, S)
    if ax is None:
        side = min(max(3.0, 0.25 * S + 2), 12.0)
        _, ax = plt.subplots(figsize=(side + 1, max(side * T / S, 2.0)))
    image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(*_ticks(key_labels), fontsize=8 if S > 20 else 10)
    ax.set_yticks(*_ticks(query_labels), fontsize=8 if T > 20 else 10)
    ax.set(xlabel="key (attended to)", ylabel="query (attending)")
    ax.set_title("Attention weights" if title is None else title)
    ax.figure.colorbar(image, ax=ax, label="attention weight", fraction=0.046, pad=0.04)
    return ax


def _heads(layer, index: int) -> np.ndarray:
    """One layer's weights as an (H, T, S) array, from (H, T, S) or (1, H, T, S)."""
    heads = as_array(layer)
    if heads.ndim == 4 and heads.shape[0] == 1:
        heads = heads[0]
    if heads.ndim != 3:
        raise ValueError(
            f"attn[{index}] must be (H, T, S) or (1, H, T, S), got shape {heads.shape}: "
            "pass one sequence's weights."
        )
    return heads


def attention_grid(attn, tokens, title: str | None = None, size: float = 2.0) -> Figure:
    """Every head of every layer: an L × H grid of small heatmaps on one colour scale, 0 to 1.

    Args:
        attn: a list with one entry per layer, each (H, T, S) or (1, H, T, S) (the weights of
            one sequence), e.g. ``model(idx, return_attn=True)[2]`` for a ``GPT``; every layer
            must have the same shape.
        tokens: the S keys' tokens (a string or a list of strings); the queries are the last T.
        title: the figure's title (default: "Attention weights of L layers × H heads").
        size: the side of one heatmap, in inches.

    Returns:
        the Figure: row ``l`` is layer l, column ``h`` is head h; token labels (as in
        ``attention_heatmap``) only on the left column (queries) and the bottom row (keys), and
        one colorbar for all.
    """
    layers = [_heads(layer, i) for i, layer in enumerate(attn)]
    if not layers:
        raise ValueError("attn is empty: pass a list with one (H, T, S) tensor per layer.")
    shapes = {layer.shape for layer in layers}
    if len(shapes) > 1:
        raise ValueError(f"every layer must have the same (H, T, S) shape, got {sorted(shapes)}.")
    L, (H, T, S) = len(layers), layers[0].shape
    query_labels, key_labels = _query_and_key_labels(tokens, T, S)
    fig, axes = plt.subplots(L, H, figsize=(size * H + 1.6, size * L + 0.6), squeeze=False,
                             layout="constrained")  # fmt: skip
    (xticks, xlabels), (yticks, ylabels) = _ticks(key_labels), _ticks(query_labels)
    spacing = 72 * size / max(T, S)  # points between two neighbouring tokens
    fontsize = min(max(0.9 * spacing, 5.0), 8.0) if max(T, S) <= MAX_TOKEN_LABELS else 8.0
    for row, h in np.ndindex(L, H):
        ax = axes[row, h]
        image = ax.imshow(layers[row][h], cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(xticks, labels=xlabels if row == L - 1 else [], fontsize=fontsize)
        ax.set_yticks(yticks, labels=ylabels if h == 0 else [], fontsize=fontsize)
        ax.tick_params(length=0)
        if row == 0:
            ax.set_title(f"head {h}", fontsize=9)
        if h == 0:
            ax.set_ylabel(f"layer {row}\nquery", fontsize=9)
        if row == L - 1:
            ax.set_xlabel("key", fontsize=9)
    fig.colorbar(image, ax=axes, label="attention weight", shrink=min(1.0, 0.5 + 0.15 * L))
    shape = f"{L} layer{'s' * (L > 1)} × {H} head{'s' * (H > 1)}"
    fig.suptitle(title or f"Attention weights of {shape}")
    return fig


# --------------------------------------------------------------------------- next token


def next_token_bars(
    probs, labels, ax: Axes | None = None, top: int = 10, title: str | None = None
) -> Axes:
    """The ``top`` most likely next tokens as horizontal bars, the most likely on top.

    Args:
        probs: the next token's probabilities, a (V,) tensor or array, e.g.
            ``torch.softmax(logits[0, -1], -1)``.
        labels: the V tokens' strings in id order (a string: one character each), e.g.
            ``tokenizer.chars``.
        ax: the Axes to draw on (default: a new figure).
        top: how many tokens to show (all V if V is smaller).
        title: the title (default: "The 10 most likely next tokens").

    Returns:
        the Axes: probability (0 to 1) along x, tokens along y, each bar's value at its end.

    Example: probabilities 0.1, 0.6, 0.3 of "a", "b", "c" show b, c, a from the top::

        next_token_bars(torch.tensor([0.1, 0.6, 0.3]), "abc")
    """
    p = as_array(probs)
    if p.ndim != 1:
        raise ValueError(
            f"probs must be one (V,) vector of probabilities, got shape {p.shape}; pick one "
            "position, e.g. probs[0, -1] of a (B, T, V) tensor."
        )
    labels = list(labels)
    if len(labels) != len(p):
        raise ValueError(
            f"got {len(labels)} labels for {len(p)} probabilities: pass one token string per "
            f"entry of probs, {len(p)} in all."
        )
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be an integer >= 1, got {top!r}.")
    order = np.argsort(-p, kind="stable")[:top]  # most likely first; ties in id order
    k = len(order)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.3 * k + 1.2))
    ax.barh(range(k), p[order], color="tab:blue")
    ax.set_yticks(range(k), labels=[token_label(labels[i]) for i in order])
    ax.invert_yaxis()  # bar 0, the most likely, on top
    for y, value in enumerate(p[order]):
        inside = value > 0.85  # near 1 the number goes inside the bar, to stay in the plot
        ax.text(value + (-0.01 if inside else 0.01), y, f"{value:.3f}", va="center", fontsize=9,
                ha="right" if inside else "left", color="white" if inside else "black")  # fmt: skip
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("probability")
    ax.set_ylabel("next token")
    ax.set_title(f"The {k} most likely next tokens" if title is None else title)
    return ax
