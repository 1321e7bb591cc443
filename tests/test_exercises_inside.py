"""Notebook 10's exercises: the references agree with torch and with regular expressions,
a learner's right answer passes, and typical mistakes are named."""

import random
import re

import pytest
import torch

from lmcourse.exercises import check
from lmcourse.exercises.inside import offset_score, word_start_positions

# --------------------------------------------------------------------------- reference solutions


def test_offset_score_by_hand():
    weights = [[1.0, 0.0, 0.0], [0.8, 0.2, 0.0], [0.1, 0.5, 0.4]]
    assert offset_score(weights, 1) == pytest.approx((0.8 + 0.5) / 2)  # rows 1 and 2
    assert offset_score(weights, 0) == pytest.approx((1.0 + 0.2 + 0.4) / 3)  # the diagonal
    assert offset_score(weights, 2) == pytest.approx(0.1)  # only row 2 reaches position 0
    for k in (-1, 3):
        with pytest.raises(ValueError, match=rf"0 <= k < T = 3, got {k}$"):
            offset_score(weights, k)


@pytest.mark.parametrize("T", [1, 2, 5, 17])
def test_offset_score_is_the_mean_of_a_torch_diagonal(T):
    g = torch.Generator().manual_seed(T)
    scores = torch.randn(T, T, generator=g).masked_fill(torch.ones(T, T).triu(1).bool(), -torch.inf)
    weights = torch.softmax(scores, dim=-1)  # a causal attention map, (T, T)
    for k in range(T):
        expected = torch.diagonal(weights, offset=-k).mean().item()  # the k-th sub-diagonal
        assert offset_score(weights.tolist(), k) == pytest.approx(expected, rel=1e-6)


def regex_word_starts(text: str) -> list[int]:
    """An independent reference: the runs of letters that a regular expression finds."""
    positions = [-1] * len(text)
    for match in re.finditer(r"[^\W\d_]+", text):  # letters: word characters but digits and _
        positions[match.start() : match.end()] = [match.start()] * (match.end() - match.start())
    return positions


def test_word_start_positions_by_hand():
    assert word_start_positions("To be, or") == [0, 0, -1, 3, 3, -1, -1, 7, 7]
    assert word_start_positions("O'er\nit") == [0, -1, 2, 2, -1, 5, 5]
    assert word_start_positions("") == []


@pytest.mark.parametrize("seed", range(20))
def test_word_start_positions_match_a_regular_expression(seed):
    rng = random.Random(seed)
    text = "".join(rng.choice("abZ ',\n:-1_") for _ in range(rng.randrange(0, 40)))
    assert word_start_positions(text) == regex_word_starts(text)


# --------------------------------------------------------------------------- right answers


def test_a_learners_right_answers_pass():
    def learner_offset(weights, k):
        rows = weights[k:]  # the rows t = k, ..., T - 1
        return sum(row[i] for i, row in enumerate(rows)) / len(rows)  # row k + i, column i

    def learner_words(text):
        return regex_word_starts(text)

    assert check("10.offset_score", learner_offset)
    assert check("10.word_start_positions", learner_words)


# --------------------------------------------------------------------------- typical mistakes


def test_offset_score_one_place_too_far(feedback):
    def too_far(weights, k):
        T = len(weights)
        return sum(weights[t][t - k - 1] for t in range(k + 1, T)) / (T - k - 1)

    assert "the score of offset k - 1 or k + 1" in feedback("10.offset_score", too_far)


def test_offset_score_counting_the_rows_before_k(feedback):
    def every_row(weights, k):
        return sum(weights[t][t - k] for t in range(len(weights))) / len(weights)

    assert "you counted the rows t < k too" in feedback("10.offset_score", every_row)


def test_offset_score_skipping_row_k(feedback):
    def from_k_plus_1(weights, k):
        T = len(weights)
        return sum(weights[t][t - k] for t in range(k + 1, T)) / (T - k - 1)

    assert "row t = k is the first" in feedback("10.offset_score", from_k_plus_1)


def test_offset_score_sum_instead_of_mean(feedback):
    def total(weights, k):
        return sum(weights[t][t - k] for t in range(k, len(weights)))

    assert "the score is their mean" in feedback("10.offset_score", total)


def test_offset_score_looking_ahead(feedback):
    def ahead(weights, k):
        T = len(weights)
        return sum(weights[t][t + k] for t in range(T - k)) / (T - k)

    assert "above the diagonal every weight is 0" in feedback("10.offset_score", ahead)


def test_word_start_positions_pointing_before_the_word(feedback):
    def before(text):
        return [s - 1 if s > 0 else s for s in word_start_positions(text)]

    assert "not of the character before it" in feedback("10.word_start_positions", before)


def test_word_start_positions_strictly_before(feedback):
    def strictly_before(text):
        return [-1 if s == t else s for t, s in enumerate(word_start_positions(text))]

    assert "its position is its own" in feedback("10.word_start_positions", strictly_before)


def test_word_start_positions_non_letters_pointing_at_themselves(feedback):
    def themselves(text):
        return [t if s < 0 else s for t, s in enumerate(word_start_positions(text))]

    assert "is in no word: its position is -1" in feedback("10.word_start_positions", themselves)


def test_word_start_positions_with_none(feedback):
    def with_none(text):
        return [None if s < 0 else s for s in word_start_positions(text)]

    assert "the position is -1" in feedback("10.word_start_positions", with_none)


def test_word_start_positions_split_on_spaces(feedback):
    def split_on_spaces(text):
        positions, start = [], -1
        for t, char in enumerate(text):
            start = -1 if char == " " else (t if start < 0 else start)
            positions.append(start)
        return positions

    assert "only letters make a word" in feedback("10.word_start_positions", split_on_spaces)


def test_word_start_positions_only_the_starts(feedback):
    def starts(text):
        return sorted({s for s in word_start_positions(text) if s >= 0})

    assert "one position for every character" in feedback("10.word_start_positions", starts)


def test_digits_are_not_letters(feedback):
    # str.isalnum would take "2" for a letter: a case with digits tells the two apart
    def starts_alnum(text):
        positions, start = [], -1
        for t, char in enumerate(text):
            start = -1 if not char.isalnum() else (t if start < 0 else start)
            positions.append(start)
        return positions

    text = feedback("10.word_start_positions", starts_alnum)
    assert "1 of 9 cases fails" in text and "'Act 2, scene 1'" in text
