"""What an attention head does, measured: a job, where it looks, and how much weight goes there.

A job (look at the previous character, at the start of the line...) says where a head doing it
would look from each position: a (T, T) boolean mask, True at ``[t, s]`` when position t should
look at position s. A head's score for the job is the weight it puts there, averaged over the
positions that have somewhere to look::

    score = mean over t with a target of  Σ_s  weights[t, s] · mask[t, s]

and a head that spreads its weight evenly over 0, ..., t would score the same mean of
``(number of targets of t) / (t + 1)``. A head does the job when it beats that baseline by far.
"""

from __future__ import annotations

import torch

from lmcourse.utils import is_int

__all__ = ["head_scores", "line_start_positions", "pointer_mask"]


def line_start_positions(text: str) -> list[int]:
    """For every position t, where the last ``"\\n"`` strictly before t is; -1 on the first line.

    A "start of line" head at position t looks at that newline: the character that began the
    line t is on (for a "\\n" at t itself, the line before it). For ``"ab\\ncd"``: "a" and "b"
    and the newline at 2 have none before them, "c" and "d" point to position 2::

        >>> line_start_positions("ab\\ncd")
        [-1, -1, -1, 2, 2]

    Args:
        text: any string.

    Returns:
        one position per character of ``text``, each -1 or smaller than its own index.
    """
    positions, last = [], -1
    for t, char in enumerate(text):
        positions.append(last)
        if char == "\n":
            last = t
    return positions


def pointer_mask(positions: list[int]) -> torch.Tensor:
    """The (T, T) mask of a job that looks at one position: row t is True at ``positions[t]``.

    ``positions[t] = -1`` means position t has nowhere to look: its row stays all False. A
    causal head sees only 0, ..., t, so ``positions[t]`` must be at most t. The previous
    character is ``[-1, 0, 1, ...]``; with ``line_start_positions`` it is the start of the line::

        >>> pointer_mask([-1, 0, 0]).int()  # 1 and 2 look at 0; 0 looks nowhere
        tensor([[0, 0, 0],
                [1, 0, 0],
                [1, 0, 0]], dtype=torch.int32)

    Shapes:
        positions: T integers; returns (T, T), bool.
    """
    T = len(positions)
    for t, s in enumerate(positions):
        if not is_int(s) or not -1 <= s <= t:
            raise ValueError(
                f"positions[{t}] must be -1 (nowhere) or a position 0..{t}, got {s!r}."
            )
    rows = [t for t, s in enumerate(positions) if s >= 0]
    mask = torch.zeros(T, T, dtype=torch.bool)
    mask[rows, [positions[t] for t in rows]] = True
    return mask


def head_scores(weights: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, float]:
    """How much weight heads put where a job looks, and what an even spread would get.

    For the positions R = {t : row t of ``mask`` has a True}::

        score = (1 / |R|) Σ_{t ∈ R} Σ_s weights[..., t, s] · mask[t, s]
        even  = (1 / |R|) Σ_{t ∈ R} (Σ_s mask[t, s]) / (t + 1)

    With T = 3 and the previous character as the job, rows 1 and 2 put 0.8 and 0.5 on it, and an
    even spread would put 1/2 and 1/3 there::

        >>> w = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.2, 0.0], [0.1, 0.5, 0.4]])
        >>> score, even = head_scores(w, pointer_mask([-1, 0, 1]))
        >>> round(score.item(), 4), round(even, 4)  # (0.8 + 0.5) / 2, (1/2 + 1/3) / 2
        (0.65, 0.4167)

    Args:
        weights: causal attention maps, rows summing to 1: one head (T, T), or every head of a
            model (L, H, T, T).
        mask: bool (T, T), True where the job looks; nothing above the diagonal.

    Returns:
        the scores, ``weights.shape[:-2]`` ((L, H) for a model), and the even spread's score.

    Shapes:
        weights (..., T, T), mask (T, T) -> (...,) and a float.
    """
    T = mask.shape[-1]
    if mask.dtype != torch.bool or mask.shape != (T, T) or weights.shape[-2:] != (T, T):
        raise ValueError(
            f"head_scores needs weights (..., T, T) and a bool mask (T, T), got "
            f"{tuple(weights.shape)} and {mask.dtype} {tuple(mask.shape)}."
        )
    if mask.triu(1).any():
        raise ValueError("mask looks above the diagonal, at the future: a causal head cannot.")
    rows = mask.any(-1)  # (T,) the positions that have somewhere to look
    if not rows.any():
        raise ValueError("mask is all False: no position has anywhere to look.")
    mask = mask.to(weights.device)
    on_target = (weights * mask).sum(-1)  # (..., T) the weight each position puts on its targets
    score = on_target[..., rows.to(weights.device)].mean(-1)  # (...,)
    targets = mask.sum(-1, dtype=torch.float64).cpu()  # (T,) how many targets each position has
    even = (targets / torch.arange(1, T + 1, dtype=torch.float64))[rows.cpu()].mean()
    return score, even.item()
