"""Tests of lmcourse.heads against brute-force loops written here, on random texts and maps."""

import random

import pytest
import torch

from lmcourse.heads import head_scores, line_start_positions, pointer_mask


def random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ab \n:") for _ in range(n))


def random_maps(*shape: int, seed: int) -> torch.Tensor:
    """Causal attention maps (..., T, T): a softmax of random scores, zero above the diagonal."""
    T = shape[-1]
    scores = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    return torch.softmax(scores.masked_fill(torch.ones(T, T).triu(1).bool(), -torch.inf), dim=-1)


def random_mask(rng: random.Random, T: int) -> torch.Tensor:
    """A random causal job mask, True for about a third of the pairs s <= t."""
    mask = torch.zeros(T, T, dtype=torch.bool)
    for t in range(T):
        for s in range(t + 1):
            mask[t, s] = rng.random() < 1 / 3
    mask[T - 1, 0] = True  # at least one position has a target
    return mask


# --------------------------------------------------------------------------- line_start_positions


def test_line_start_positions_by_hand():
    assert line_start_positions("ab\ncd") == [-1, -1, -1, 2, 2]
    assert line_start_positions("\n\nA") == [-1, 0, 1]
    assert line_start_positions("A:\nB\n") == [-1, -1, -1, 2, 2]
    assert line_start_positions("") == []


@pytest.mark.parametrize("seed", range(20))
def test_line_start_positions_is_the_last_newline_before_each_position(seed):
    rng = random.Random(seed)
    text = random_text(rng, rng.randrange(0, 40))
    expected = []
    for t in range(len(text)):
        before = [s for s in range(t) if text[s] == "\n"]
        expected.append(before[-1] if before else -1)
    assert line_start_positions(text) == expected


# --------------------------------------------------------------------------- pointer_mask


def test_pointer_mask_by_hand():
    assert pointer_mask([-1, 0, 0]).tolist() == [
        [False, False, False],
        [True, False, False],
        [True, False, False],
    ]
    assert pointer_mask([]).shape == (0, 0)


@pytest.mark.parametrize("seed", range(10))
def test_pointer_mask_is_true_exactly_at_each_pointer(seed):
    rng = random.Random(seed)
    positions = [rng.randrange(-1, t + 1) for t in range(rng.randrange(1, 30))]
    mask = pointer_mask(positions)
    T = len(positions)
    assert mask.dtype == torch.bool and mask.shape == (T, T)
    for t in range(T):
        for s in range(T):
            assert mask[t, s].item() == (s == positions[t])


@pytest.mark.parametrize("positions", [[1, 0], [-1, -2], [0, 0.5], [True]])
def test_pointer_mask_rejects_the_future_and_non_positions(positions):
    with pytest.raises(ValueError, match=r"must be -1 \(nowhere\) or a position"):
        pointer_mask(positions)


# --------------------------------------------------------------------------- head_scores


def brute_force_scores(weights: list[list[float]], mask: list[list[bool]]) -> tuple[float, float]:
    """One head's score and the even spread's, with loops over plain lists."""
    totals, evens = [], []
    for t, row in enumerate(mask):
        targets = [s for s, wanted in enumerate(row) if wanted]
        if targets:
            totals.append(sum(weights[t][s] for s in targets))
            evens.append(len(targets) / (t + 1))
    return sum(totals) / len(totals), sum(evens) / len(evens)


def test_head_scores_by_hand():
    w = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.2, 0.0], [0.1, 0.5, 0.4]])
    score, even = head_scores(w, pointer_mask([-1, 0, 1]))  # the previous character
    assert score.shape == () and score.item() == pytest.approx((0.8 + 0.5) / 2)
    assert even == pytest.approx((1 / 2 + 1 / 3) / 2)
    score, even = head_scores(w, torch.ones(3, 3).tril().bool())  # everything: all the weight
    assert score.item() == pytest.approx(1.0) and even == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(10))
def test_head_scores_of_every_head_match_brute_force(seed):
    rng = random.Random(seed)
    L, H, T = 2, 3, rng.randrange(2, 16)
    weights = random_maps(L, H, T, T, seed=seed)  # (L, H, T, T)
    mask = random_mask(rng, T)
    scores, even = head_scores(weights, mask)
    assert scores.shape == (L, H)
    for layer in range(L):
        for head in range(H):
            score, expected_even = brute_force_scores(weights[layer, head].tolist(), mask.tolist())
            assert scores[layer, head].item() == pytest.approx(score, rel=1e-5)
            assert even == pytest.approx(expected_even, rel=1e-12)


def test_an_even_spread_scores_its_own_baseline():
    T = 12
    weights = torch.ones(T, T).tril() / torch.arange(1, T + 1).unsqueeze(1)  # row t: 1/(t+1)
    mask = random_mask(random.Random(0), T)
    score, even = head_scores(weights, mask)
    assert score.item() == pytest.approx(even, rel=1e-6)


def test_head_scores_rejects_bad_masks():
    w = random_maps(3, 3, seed=0)
    with pytest.raises(ValueError, match="above the diagonal"):
        head_scores(w, torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="all False"):
        head_scores(w, torch.zeros(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"a bool mask \(T, T\)"):
        head_scores(w, torch.eye(3))  # a float mask
    with pytest.raises(ValueError, match=r"a bool mask \(T, T\)"):
        head_scores(w, torch.eye(4, dtype=torch.bool))
