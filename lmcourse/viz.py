"""Plots of the course: loss curves, coloured-text activations, attention heatmaps,
next-token distributions and embeddings in 2-D.

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
    "CHAR_KINDS",
    "LOSS_METRICS",
    "attention_grid",
    "attention_heatmap",
    "char_kind",
    "colored_text",
    "next_token_bars",
    "plot_embeddings",
    "plot_history",
    "principal_components",
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


# --------------------------------------------------------------------------- attention


def _token_label(token: str) -> str:
    """A token as an axis label: a line break as "↵", a space as "␣"."""
    return str(token).replace("\n", "↵").replace(" ", "␣")


def _as_array(values) -> np.ndarray:
    """Floats from a tensor (on any device, with or without grad), an array or nested lists."""
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=float)


def _weights_matrix(weights, what: str = "weights") -> np.ndarray:
    """A (T, S) array of floats, or a ValueError that says how to pick one head."""
    matrix = _as_array(weights)
    if matrix.ndim != 2:
        raise ValueError(
            f"{what} must be one (T, S) matrix, got shape {matrix.shape}; pick one head, "
            "e.g. attn[0, h] of a (B, H, T, T) tensor."
        )
    return matrix


def _query_and_key_labels(tokens, T: int, S: int) -> tuple[list[str], list[str]]:
    """Labels of the S keys and of the T queries, which are the last T of the S tokens."""
    keys = [_token_label(token) for token in tokens]
    if len(keys) != S:
        raise ValueError(
            f"got {len(keys)} tokens for a weight matrix of shape ({T}, {S}): pass one token per "
            f"key (column), {S} in all."
        )
    return keys[S - T :], keys


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
        the Axes: keys' tokens along x, queries' tokens along y, a colorbar.

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
    kx, ky = math.ceil(S / 48), math.ceil(T / 48)  # at most 48 labels an axis: readable
    ax.set_xticks(range(0, S, kx), labels=key_labels[::kx], fontsize=8 if S > 20 else 10)
    ax.set_yticks(range(0, T, ky), labels=query_labels[::ky], fontsize=8 if T > 20 else 10)
    ax.set(xlabel="key (attended to)", ylabel="query (attending)")
    ax.set_title("Attention weights" if title is None else title)
    ax.figure.colorbar(image, ax=ax, label="attention weight", fraction=0.046, pad=0.04)
    return ax


def _heads(layer, index: int) -> np.ndarray:
    """One layer's weights as an (H, T, S) array, from (H, T, S) or (1, H, T, S)."""
    heads = _as_array(layer)
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
        the Figure: row ``l`` is layer l, column ``h`` is head h; token labels only on the
        left column (queries) and the bottom row (keys).
    """
    layers = [_heads(layer, i) for i, layer in enumerate(attn)]
    if not layers:
        raise ValueError("attn is empty: pass a list with one (H, T, S) tensor per layer.")
    shapes = {layer.shape for layer in layers}
    if len(shapes) > 1:
        raise ValueError(f"every layer must have the same (H, T, S) shape, got {sorted(shapes)}.")
    L, (H, T, S) = len(layers), layers[0].shape
    query_labels, key_labels = _query_and_key_labels(tokens, T, S)
    fig, axes = plt.subplots(L, H, figsize=(size * H + 1, size * L + 0.6), squeeze=False)
    fontsize = min(max(50 * size / max(T, S), 4.0), 8.0)  # points: about one label per row
    for row, h in np.ndindex(L, H):
        ax = axes[row, h]
        ax.imshow(layers[row][h], cmap="Blues", vmin=0.0, vmax=1.0)
        ax.set_xticks(range(S), labels=key_labels if row == L - 1 else [], fontsize=fontsize)
        ax.set_yticks(range(T), labels=query_labels if h == 0 else [], fontsize=fontsize)
        ax.tick_params(length=0)
        if row == 0:
            ax.set_title(f"head {h}", fontsize=9)
        if h == 0:
            ax.set_ylabel(f"layer {row}\nquery", fontsize=9)
        if row == L - 1:
            ax.set_xlabel("key", fontsize=9)
    shape = f"{L} layer{'s' * (L > 1)} × {H} head{'s' * (H > 1)}"
    fig.suptitle(title or f"Attention weights of {shape} (white 0, dark blue 1)")
    fig.tight_layout()
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
    p = _as_array(probs)
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
    ax.set_yticks(range(k), labels=[_token_label(labels[i]) for i in order])
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


#: The colour of each kind of character in ``plot_embeddings``.
CHAR_KINDS = {
    "vowel": "tab:red",
    "consonant": "tab:blue",
    "digit": "tab:green",
    "punctuation": "tab:orange",
    "space or newline": "black",
}


def char_kind(char: str) -> str:
    """Which of ``CHAR_KINDS`` a character is: ``char_kind("E") == "vowel"``."""
    if char.lower() in "aeiou":
        return "vowel"
    if char.isalpha():
        return "consonant"
    if char.isdigit():
        return "digit"
    return "space or newline" if char.isspace() else "punctuation"


def principal_components(vectors, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``vectors`` on their ``k`` directions of largest variance (PCA).

    With the centred rows X = vectors - mean and its SVD X = U S Vᵀ, the directions are the
    first k rows of Vᵀ, the projections X V_k = U_k S_k, and component i keeps the share
    S_i² / Σ_j S_j² of the total variance. (The sign of each direction is arbitrary.)

    Args:
        vectors: an (N, C) tensor or array, e.g. ``model.transformer.wte.weight``.
        k: how many components, at most min(N, C).

    Returns:
        the (N, k) projections and the (k,) shares of the variance.
    """
    X = _as_array(vectors)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"vectors must be an (N, C) matrix with N >= 2, got shape {X.shape}.")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= min(X.shape):
        raise ValueError(f"k must be an integer from 1 to {min(X.shape)}, got {k!r}.")
    if not np.isfinite(X).all():
        raise ValueError("vectors must be finite numbers: they hold NaN or infinity.")
    centred = X - X.mean(axis=0)
    _, S, Vt = np.linalg.svd(centred, full_matrices=False)
    if not (S**2).sum() > 0:
        raise ValueError("the vectors are all equal: there is no direction of variance to show.")
    return centred @ Vt[:k].T, S[:k] ** 2 / (S**2).sum()


def plot_embeddings(
    weight, tokens, ax: Axes | None = None, rows=None, title: str | None = None
) -> Axes:
    """Token embeddings in 2-D: each token at its first two principal components.

    Characters are coloured by kind (``CHAR_KINDS``: vowels, consonants, digits, punctuation,
    spaces); the axis labels give the share of the variance that each component keeps, so
    that a reader knows how much of the picture is missing.

    Args:
        weight: the (V, C) embedding table, e.g. ``model.transformer.wte.weight``.
        tokens: the V tokens' strings in id order, e.g. ``tokenizer.chars``.
        ax: the Axes to draw on (default: a new figure).
        rows: the ids to show (default: all V); PCA is computed on these rows only.
        title: the title (default: "Token embeddings, first two principal components").

    Returns:
        the Axes.
    """
    table, tokens = _as_array(weight), list(tokens)
    if table.ndim != 2 or len(tokens) != len(table):
        raise ValueError(
            f"weight must be a (V, C) table with one token string per row: got shape "
            f"{table.shape} and {len(tokens)} tokens."
        )
    rows = list(range(len(table))) if rows is None else [int(i) for i in rows]
    if any(not 0 <= i < len(table) for i in rows):
        raise ValueError(f"rows must be token ids from 0 to {len(table) - 1}.")
    points, share = principal_components(table[rows], k=2)  # (N, 2), (2,)
    labels = [tokens[i] for i in rows]
    kinds = [char_kind(token[:1] or " ") for token in labels]  # a longer token: its first char
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 7))
    for kind, colour in CHAR_KINDS.items():
        mine = [n for n, k in enumerate(kinds) if k == kind]
        if mine:
            ax.scatter(points[mine, 0], points[mine, 1], color=colour, label=kind, s=12)
    for (x, y), token, kind in zip(points, labels, kinds):
        ax.annotate(_token_label(token), (x, y), fontsize=10, xytext=(3, 3),
                    textcoords="offset points", color=CHAR_KINDS[kind])  # fmt: skip
    ax.set_xlabel(f"principal component 1 ({share[0]:.0%} of the variance)")
    ax.set_ylabel(f"principal component 2 ({share[1]:.0%} of the variance)")
    ax.set_title("Token embeddings, first two principal components" if title is None else title)
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    return ax
