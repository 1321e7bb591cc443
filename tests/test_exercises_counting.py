"""Notebook 02's exercises: the references agree with NGramLM and with NumPy, a learner's
right answers pass, and each classic slip gets its hint. (Notebook 03 follows.)"""

import bisect
import itertools
import math
import random
from collections import Counter

import numpy as np
import pytest

from lmcourse.exercises import check
from lmcourse.exercises.counting import (
    TOY_SENTENCES,
    bigram_counts,
    kn_bigram_prob,
    padded_bigrams,
    sample_index,
)
from lmcourse.ngram import NGramLM

# --------------------------------------------------------------------------- reference solutions


def test_references_pass_and_are_hand_checkable():
    references = {"02.bigram_counts": bigram_counts, "02.sample_index": sample_index,
                  "02.kn_bigram_prob": kn_bigram_prob}  # fmt: skip
    for name, fn in references.items():
        assert check(name, fn).passed, name
    assert bigram_counts("abab") == {("a", "b"): 2, ("b", "a"): 1}
    assert sample_index([0.5, 0.25, 0.25], 0.6) == 1  # 0.5 <= 0.6 < 0.75
    assert sample_index([0.5, 0.5], 0.5) == 1  # a boundary starts the next interval
    assert sample_index([0.0, 1.0], 0.0) == 1  # probability 0: never drawn
    # NGramLM's docstring: <s> a b </s>, <s> a c </s>, d = 0.5, V = 6
    p_b = (1 - 0.5) / 5 + 0.5 * 4 / 5 * (1 / 6)  # 5 distinct bigrams, 4 distinct ends
    bigrams = padded_bigrams([["a", "b"], ["a", "c"]])
    assert math.isclose(kn_bigram_prob(bigrams, "a", "b", 0.5, 6), 0.5 / 2 + 0.5 * 2 / 2 * p_b)
    assert kn_bigram_prob([], "a", "b", 0.75, 5) == 1 / 5


@pytest.mark.parametrize("seed", range(10))
def test_sample_index_is_numpys_searchsorted(seed):
    rng = random.Random(seed)
    probs = [rng.choice([0.0, rng.random()]) for _ in range(rng.randint(1, 12))]
    if not any(probs):
        probs[-1] = 1.0
    probs = [p / sum(probs) for p in probs]
    running = np.cumsum(probs)
    boundaries = [r for r in running if r < running[-1]]  # u < the total, as with u < 1
    for u in [rng.random() * running[-1] for _ in range(50)] + boundaries:
        assert sample_index(probs, u) == np.searchsorted(running, u, side="right")
        assert probs[sample_index(probs, u)] > 0


def test_sample_index_with_evenly_spread_u_gives_each_index_its_probability():
    probs = [0.5, 0.0, 0.125, 0.375]
    N = 800
    drawn = Counter(sample_index(probs, (j + 0.5) / N) for j in range(N))
    assert [drawn[i] / N for i in range(len(probs))] == probs


def padded_sentences(seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [rng.choices("abcdef", k=rng.randint(0, 9)) for _ in range(rng.randint(1, 8))]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("discount", [0.0, 0.1, 0.75, 0.99])
def test_kn_bigram_prob_is_ngramlm_kneser_ney(seed, discount):
    sentences = padded_sentences(seed)
    lm = NGramLM(n=2, smoothing="kneser_ney", discount=discount).fit(sentences)
    bigrams = padded_bigrams(sentences)
    for prev, word in itertools.product(lm.vocab + ["z"], lm.vocab + ["z"]):  # "z": unknown
        expected = lm.prob(word, (prev,))
        got = kn_bigram_prob(bigrams, prev, word, discount, lm.vocab_size)
        assert math.isclose(got, expected, rel_tol=1e-12), (prev, word)


def test_kn_bigram_prob_sums_to_one_and_reproduces_the_notebook():
    toy = [s.split() for s in TOY_SENTENCES]
    bigrams, vocab = padded_bigrams(toy), ["<unk>", "<s>", "</s>", *{w for s in toy for w in s}]
    for prev in ["san", "the", "<s>", "glasses"]:
        total = sum(kn_bigram_prob(bigrams, prev, w, 0.75, len(vocab)) for w in vocab)
        assert math.isclose(total, 1.0)
    # notebook 02, section 6: P_KN('glasses' | 'the') = 0.1048, P_KN('francisco' | 'the') = 0.0334
    assert round(kn_bigram_prob(bigrams, "the", "glasses", 0.75, len(vocab)), 4) == 0.1048
    assert round(kn_bigram_prob(bigrams, "the", "francisco", 0.75, len(vocab)), 4) == 0.0334


# --------------------------------------------------------------------------- right answers


def test_a_learners_right_answers_pass():
    def learner_counts(text):
        return Counter(zip(text, text[1:]))  # a Counter is a dict

    def learner_sample(probs, u):
        return bisect.bisect_right(list(itertools.accumulate(probs)), u)

    def learner_kn(bigrams, prev, word, discount, vocab_size):
        d, types = discount, set(bigrams)
        p = 1 / vocab_size
        if types:
            before = len({a for a, b in types if b == word})
            ends = len({b for a, b in types})
            p = max(before - d, 0) / len(types) + d * ends / len(types) * p
        after = [b for a, b in bigrams if a == prev]
        if after:
            seen = after.count(word)
            p = max(seen - d, 0) / len(after) + d * len(set(after)) / len(after) * p
        return p

    assert check("02.bigram_counts", learner_counts)
    assert check("02.sample_index", learner_sample)
    assert check("02.kn_bigram_prob", learner_kn)


# --------------------------------------------------------------------------- typical mistakes


def test_bigram_counts_that_wrap_around_are_caught(feedback):
    text = feedback("02.bigram_counts", lambda t: dict(Counter(zip(t, t[1:] + t[:1]))))
    assert "for input 'abab'" in text


def test_sample_index_on_the_boundary(feedback):
    def bisect_left(probs, u):
        return bisect.bisect_left(list(itertools.accumulate(probs)), u)

    assert "belongs to the next token" in feedback("02.sample_index", bisect_left)


def test_sample_index_comparing_with_each_probability(feedback):
    def each(probs, u):
        return next((i for i, p in enumerate(probs) if u < p), len(probs) - 1)

    assert "not with p_i alone" in feedback("02.sample_index", each)


def test_sample_index_counting_from_one(feedback):
    def from_one(probs, u):
        return bisect.bisect_right(list(itertools.accumulate(probs)), u) + 1

    assert "indices start at 0" in feedback("02.sample_index", from_one)


def test_sample_index_greedy(feedback):
    def greedy(probs, u):
        return max(range(len(probs)), key=lambda i: probs[i])

    assert "the most likely index (greedy decoding)" in feedback("02.sample_index", greedy)


def kn_with(bigrams, prev, word, d, V, lower="continuation", uniform=True, gamma="types",
            discount_top=True, unseen="lower"):  # fmt: skip
    """A learner's Kneser-Ney with one of the classic slips."""
    types = set(bigrams)
    if lower == "occurrences":
        before, events = [b for a, b in bigrams].count(word), len(bigrams)
        ends = len({b for a, b in bigrams})
    elif lower == "followers":
        before, events, ends = (
            len({b for a, b in types if a == word}),
            len(types),
            len({a for a, b in types}),
        )
    else:
        before, events, ends = (
            len({a for a, b in types if b == word}),
            len(types),
            len({b for a, b in types}),
        )
    if not events:
        p = 1 / V
    elif uniform:
        p = max(before - d, 0) / events + d * ends / events / V
    else:
        p = before / events
    after = [b for a, b in bigrams if a == prev]
    if not after:
        return {"lower": p, "zero": 0.0, "uniform": 1 / V}[unseen]
    top = after.count(word) - (d if discount_top else 0)
    n_types = len(set(after)) if gamma == "types" else len(after)
    return max(top, 0) / len(after) + d * n_types / len(after) * p


@pytest.mark.parametrize(
    ("slip", "hint"),
    [
        ({"lower": "occurrences"}, "in how many different contexts a word occurs"),
        ({"lower": "followers"}, "the number of distinct tokens *before* w"),
        ({"uniform": False}, "mixed with the uniform 1/V too"),
        ({"gamma": "tokens"}, "N1+(prev •) counts the distinct tokens after prev"),
        ({"discount_top": False}, "subtract the discount d from every seen bigram count"),
        ({"unseen": "zero"}, "it is neither 0 nor the uniform"),
        ({"unseen": "uniform"}, "not on the uniform alone"),
    ],
)
def test_kn_bigram_prob_slips_get_their_hint(feedback, slip, hint):
    assert check("02.kn_bigram_prob", kn_with)  # the learner's code without the slip passes
    text = feedback("02.kn_bigram_prob", lambda *args: kn_with(*args, **slip))
    assert hint in text


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


def test_two_slips_that_give_the_same_answer_are_both_named(feedback):
    # on [0.5, 0.25, 0.25], u = 0.6 the 1-based index and "u against p_i alone" both give 2
    text = feedback("02.sample_index", lambda probs, u: sample_index(probs, u) + 1)
    first = text.splitlines()[1]
    assert "expected 1, got 2" in first
    assert "not with p_i alone; or indices start at 0" in first
