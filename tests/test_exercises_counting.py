"""Notebook 02's exercises: the references pass, typical mistakes get specific feedback."""

import math
from collections import Counter

from lmcourse.exercises import check
from lmcourse.exercises.counting import add_k, bigram_counts, continuation_count, cross_entropy


def test_references_pass_and_are_hand_checkable():
    references = {"02.bigram_counts": bigram_counts, "02.cross_entropy": cross_entropy,
                  "02.add_k": add_k, "02.continuation_count": continuation_count}  # fmt: skip
    for name, fn in references.items():
        assert check(name, fn).passed, name
    assert bigram_counts("abab") == {("a", "b"): 2, ("b", "a"): 1}
    assert cross_entropy([0.5, 0.25]) == 1.5 and cross_entropy([0.5, 0.0]) == math.inf
    assert math.isclose(add_k(0, 10, 5, 1.0), 1 / 15)
    assert continuation_count([("san", "francisco")] * 3 + [("in", "york")], "francisco") == 1


def test_a_counter_is_accepted_for_bigram_counts():
    assert check("02.bigram_counts", lambda text: Counter(zip(text, text[1:]))).passed


def test_bigram_counts_that_wrap_around_are_caught(feedback):
    text = feedback("02.bigram_counts", lambda t: dict(Counter(zip(t, t[1:] + t[:1]))))
    assert "for input 'abab'" in text


def test_natural_log_instead_of_bits(feedback):
    text = feedback("02.cross_entropy", lambda ps: -sum(math.log(p) for p in ps if p) / len(ps))
    assert "expected 1.5" in text


def test_cross_entropy_that_crashes_on_zero_is_reported_not_raised(feedback):
    text = feedback("02.cross_entropy", lambda ps: -sum(math.log2(p) for p in ps) / len(ps))
    assert "ValueError" in text and "math domain error" in text


def test_add_k_forgetting_the_vocabulary_in_the_denominator(feedback):
    text = feedback("02.add_k", lambda c, n, v, k: (c + k) / (n + k))
    assert "for inputs 0, 10, 5, 1.0" in text


def test_continuation_count_counting_occurrences_instead_of_contexts(feedback):
    text = feedback("02.continuation_count", lambda bigrams, w: sum(r == w for _, r in bigrams))
    assert "expected 1, got 5" in text


# --------------------------------------------------------------------------- notebook 03


def test_notebook_03_references_pass():
    from lmcourse.exercises.gradients import context_windows, one_hot, softmax

    for name, fn in [("03.softmax", softmax), ("03.one_hot", one_hot),
                     ("03.context_windows", context_windows)]:  # fmt: skip
        assert check(name, fn).passed, name
    assert softmax([1000.0, 1000.0]) == [0.5, 0.5]


def test_softmax_without_the_max_trick_overflows_and_is_reported(feedback):
    text = feedback("03.softmax", lambda z: [math.exp(x) / sum(math.exp(y) for y in z) for x in z])
    assert "OverflowError" in text


def test_context_windows_off_by_one(feedback):
    text = feedback(
        "03.context_windows",
        lambda ids, c, s: [([s] * c + ids)[t : t + c] for t in range(len(ids))],
    )
    assert "for inputs [5, 6, 7], 2, 0" in text


# --------------------------------------------------------------------------- notebook 04


def test_notebook_04_references_pass_and_mistakes_are_named(feedback):
    import torch

    from lmcourse.exercises.recurrence import clip_by_norm, rnn_step

    assert check("04.rnn_step", rnn_step).passed and check("04.clip_by_norm", clip_by_norm).passed
    text = feedback("04.rnn_step", lambda x, h, wi, wh: torch.tanh(x @ wi + h @ wh))
    assert "RuntimeError" in text or "shape" in text  # forgot the transposes
    text = feedback(
        "04.clip_by_norm", lambda g, m: [x * m / math.sqrt(sum(y * y for y in g) or 1) for x in g]
    )
    assert "for inputs [0.3, 0.4], 1.0" in text  # scaled up a gradient that was short enough


# --------------------------------------------------------------------------- notebook 05


def test_notebook_05_references_match_torch_and_mistakes_are_named(feedback):
    import torch

    from lmcourse.exercises.gates import lstm_cell_update, lstm_params

    assert check("05.lstm_params", lstm_params).passed
    assert check("05.lstm_cell_update", lstm_cell_update).passed
    for args in [(10, 20), (10, 20, 2), (64, 128, 3)]:
        reference = sum(p.numel() for p in torch.nn.LSTM(*args).parameters())
        assert lstm_params(*args) == reference
    text = feedback("05.lstm_params", lambda c, h, layers=1: 4 * (c * h + h * h + 2 * h) * layers)
    assert "for inputs 10, 20, 2" in text  # later layers read H, not C
    text = feedback(
        "05.lstm_cell_update",
        lambda c, i, f, g: [i_ * c_ + f_ * g_ for c_, i_, f_, g_ in zip(c, i, f, g)],
    )
    assert "expected" in text
