"""Notebook 10's exercises: the references agree with torch, typical mistakes are named."""

import pytest
import torch

from lmcourse.exercises.inside import line_start_positions, previous_token_score

# --------------------------------------------------------------------------- hand-checked


def test_previous_token_score_by_hand():
    # rows 1 and 2 put 0.8 and 0.5 on the previous character: (0.8 + 0.5) / 2
    weights = [[1.0, 0.0, 0.0], [0.8, 0.2, 0.0], [0.1, 0.5, 0.4]]
    assert previous_token_score(weights) == pytest.approx(0.65)
    with pytest.raises(ValueError, match="needs at least 2 positions, got 1$"):
        previous_token_score([[1.0]])


@pytest.mark.parametrize("T", [2, 5, 17])
def test_previous_token_score_is_the_mean_of_torch_diagonal_minus_one(T):
    g = torch.Generator().manual_seed(T)
    scores = torch.randn(T, T, generator=g).masked_fill(torch.ones(T, T).triu(1).bool(), -torch.inf)
    weights = torch.softmax(scores, dim=-1)  # a causal attention map, (T, T)
    expected = torch.diagonal(weights, offset=-1).mean().item()
    assert previous_token_score(weights.tolist()) == pytest.approx(expected)


def test_line_start_positions_by_hand():
    assert line_start_positions("ab\ncd") == [-1, -1, -1, 2, 2]
    assert line_start_positions("\n\nA") == [-1, 0, 1]
    assert line_start_positions("") == []


# --------------------------------------------------------------------------- typical mistakes


def test_previous_token_score_with_the_diagonal(feedback):
    def diagonal(weights):
        return sum(weights[t][t] for t in range(len(weights))) / len(weights)

    assert "you averaged the diagonal" in feedback("10.previous_token_score", diagonal)


def test_previous_token_score_counting_the_first_row(feedback):
    def with_row_0(weights):
        return sum(weights[t][t - 1] for t in range(1, len(weights))) / len(weights)

    assert "you counted row 0 too" in feedback("10.previous_token_score", with_row_0)


def test_previous_token_score_above_the_diagonal(feedback):
    def above(weights):
        return sum(weights[t][t + 1] for t in range(len(weights) - 1)) / (len(weights) - 1)

    assert "above the diagonal every weight is 0" in feedback("10.previous_token_score", above)


def test_previous_token_score_sum_instead_of_mean(feedback):
    def total(weights):
        return sum(weights[t][t - 1] for t in range(1, len(weights)))

    assert "the sum of the sub-diagonal" in feedback("10.previous_token_score", total)


def test_line_start_positions_including_the_position_itself(feedback):
    def inclusive(text):
        last, out = -1, []
        for t, c in enumerate(text):
            last = t if c == "\n" else last
            out.append(last)
        return out

    assert "look strictly before t" in feedback("10.line_start_positions", inclusive)


def test_line_start_positions_pointing_after_the_newline(feedback):
    def after(text):
        return [p + 1 if p >= 0 else p for p in line_start_positions(text)]

    assert "the newline itself" in feedback("10.line_start_positions", after)


def test_line_start_positions_with_none_on_the_first_line(feedback):
    def with_none(text):
        return [None if p < 0 else p for p in line_start_positions(text)]

    assert "the position is -1" in feedback("10.line_start_positions", with_none)


def test_line_start_positions_only_the_newlines(feedback):
    def newlines(text):
        return [t for t, c in enumerate(text) if c == "\n"]

    assert "one position for every character" in feedback("10.line_start_positions", newlines)
