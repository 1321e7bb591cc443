"""Token embeddings in 2-D: principal components, and a scatter plot of the tokens on them.

A model's embedding table holds one C-dimensional vector per token. ``principal_components``
finds the two directions along which those vectors vary most (PCA, by the SVD), and
``plot_embeddings`` draws every token at its place on them, characters coloured and shaped by
kind (``CHAR_KINDS``), so that groups the model has learned (vowels, capitals, punctuation)
can be seen.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes

from lmcourse.viz import as_array, token_label

__all__ = ["CHAR_KINDS", "char_kind", "plot_embeddings", "principal_components"]

#: The colour and marker of each kind of character in ``plot_embeddings``: a colour-blind
#: reader tells the kinds apart by their shapes, and no two are red and green.
CHAR_KINDS = {
    "vowel": ("tab:orange", "o"),
    "consonant": ("tab:blue", "s"),
    "digit": ("tab:gray", "^"),
    "punctuation": ("tab:purple", "D"),
    "space or newline": ("black", "X"),
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
    X = as_array(vectors)
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

    Characters are coloured and shaped by kind (``CHAR_KINDS``: vowels, consonants, digits,
    punctuation, spaces), punctuation in a larger type; the axis labels give the share of the
    variance that each component keeps, so that a reader knows how much of the picture is
    missing.

    Args:
        weight: the (V, C) embedding table, e.g. ``model.transformer.wte.weight``.
        tokens: the V tokens' strings in id order, e.g. ``tokenizer.chars``.
        ax: the Axes to draw on (default: a new figure).
        rows: the ids to show (default: all V); PCA is computed on these rows only.
        title: the title (default: "Token embeddings, first two principal components").

    Returns:
        the Axes.
    """
    table, tokens = as_array(weight), list(tokens)
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
    for kind, (colour, marker) in CHAR_KINDS.items():
        mine = [n for n, k in enumerate(kinds) if k == kind]
        if mine:
            ax.scatter(points[mine, 0], points[mine, 1], color=colour, marker=marker, s=14,
                       label=kind)  # fmt: skip
    outline = [patheffects.withStroke(linewidth=2.5, foreground="white")]  # legible over points
    for (x, y), token, kind in zip(points, labels, kinds):
        bigger = kind == "punctuation" and len(token) == 1  # "," and "'" are tiny glyphs
        ax.annotate(token_label(token), (x, y), fontsize=14 if bigger else 10,
                    fontweight="bold" if bigger else "normal", xytext=(3, 3),
                    textcoords="offset points", color=CHAR_KINDS[kind][0],
                    path_effects=outline)  # fmt: skip
    ax.set_xlabel(f"principal component 1 ({share[0]:.0%} of the variance)")
    ax.set_ylabel(f"principal component 2 ({share[1]:.0%} of the variance)")
    ax.set_title("Token embeddings, first two principal components" if title is None else title)
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3)
    return ax
