"""Tests for lmcourse.ngram: parity with nltk.lm, invariants, hand-checked examples, errors."""

import math
import random
import re
import warnings
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from nltk.lm import MLE, KneserNeyInterpolated, Laplace, Lidstone, Vocabulary
from nltk.util import everygrams
from nltk.util import ngrams as nltk_ngrams

import lmcourse.ngram_counts
from lmcourse.data import load_text
from lmcourse.ngram import BOS, EOS, SMOOTHINGS, UNK, NGramLM
from lmcourse.tokenizers import WordTokenizer

# ------------------------------------------------------------------------- data


def _word_sentences():
    lines = load_text("tiny-shakespeare")[:20_000].splitlines()
    return [WordTokenizer.split(line) for line in lines if line.strip()]


WORDS = _word_sentences()
WORD_TRAIN, WORD_HELD_OUT = WORDS[:-15], WORDS[-15:]  # about 4,300 and 120 tokens


def _random_strings(count, seed=0):
    rng = random.Random(seed)
    return ["".join(rng.choices("abc", k=rng.randint(0, 12))) for _ in range(count)]


_EXCERPT = load_text("tiny-shakespeare")[:4_000]
CHAR_DATA = {  # name: (training sequences, held-out sequences)
    # a Shakespeare excerpt as one sequence, held out: the next 300 characters
    "excerpt": ([_EXCERPT[:3_700]], [_EXCERPT[3_700:]]),
    # a few speeches as a few sequences
    "speeches": (_EXCERPT[:3_000].split("\n\n"), [_EXCERPT[3_000:3_400]]),
    # small random strings over "abc"; "d" only in the held-out strings (unknown -> UNK)
    "random": (_random_strings(8), ["abcd", "dd", "", "cab"]),
}

# (name, our keyword arguments, nltk class, its keyword arguments)
KN_01 = {"smoothing": "kneser_ney", "discount": 0.1, "nltk_compat": True}
KN_075 = {"smoothing": "kneser_ney", "discount": 0.75, "nltk_compat": True}
CONFIGS = [
    ("mle", {"smoothing": "mle"}, MLE, {}),
    ("laplace", {"smoothing": "add_k", "k": 1.0}, Laplace, {}),
    ("lidstone", {"smoothing": "add_k", "k": 0.3}, Lidstone, {"gamma": 0.3}),
    ("kn-0.1", KN_01, KneserNeyInterpolated, {"discount": 0.1}),
    ("kn-0.75", KN_075, KneserNeyInterpolated, {"discount": 0.75}),
]


def padded(sentence, n):
    return [BOS] * (n - 1) + list(sentence) + [EOS]


def nltk_lm(cls, train, n, min_count=1, **kwargs):
    """nltk's model of the same padded sentences: every k-gram, k = 1..n, counted."""
    sentences = [padded(s, n) for s in train]
    model = cls(order=n, vocabulary=Vocabulary(unk_cutoff=min_count, unk_label=UNK), **kwargs)
    model.fit([everygrams(s, max_len=n) for s in sentences], [t for s in sentences for t in s])
    return model


def nltk_context_seen(model, context):
    return model.context_counts(model.vocab.lookup(context)).N() > 0


def queries(train, vocab, n, seed, count=80):
    """(token, context) pairs: contexts seen in training, random contexts, unknown tokens."""
    rng = random.Random(seed)
    tokens = [*vocab, "never-seen", "~"]
    out = []
    for _ in range(count):
        if rng.random() < 0.6:  # a training position: its true next token or a random one
            sentence = padded(rng.choice(train), n)
            i = rng.randrange(n - 1, len(sentence))
            context = tuple(sentence[i - n + 1 : i]) if n > 1 else ()
            token = sentence[i] if rng.random() < 0.5 else rng.choice(tokens)
        else:  # any context of length 0..n-1, mostly unseen
            context = tuple(rng.choices(tokens, k=rng.randint(0, n - 1)))
            token = rng.choice(tokens)
        out.append((token, context))
    return out


def assert_same(ours, theirs):
    assert ours == theirs or math.isclose(ours, theirs, rel_tol=1e-9), (ours, theirs)


def check_parity(train, held_out, n, min_count, config):
    name, ours_kwargs, cls, nltk_kwargs = config
    ours = NGramLM(n, min_count=min_count, **ours_kwargs).fit(train)
    theirs = nltk_lm(cls, train, n, min_count, **nltk_kwargs)
    assert sorted(ours.vocab) == sorted(theirs.vocab)
    for token, context in queries(train, ours.vocab, n, seed=n):
        if name == "mle" and not nltk_context_seen(theirs, context):
            while not nltk_context_seen(theirs, context):  # our backoff for unseen contexts
                context = context[1:]
        assert_same(ours.prob(token, context), theirs.score(token, context))
    # cross-entropy of held-out sentences (MLE: training sentences, so that it is finite)
    held_out = train[:40] if name == "mle" else held_out
    grams = [g for s in held_out for g in nltk_ngrams(padded(s, n), n)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a zero probability (nltk: inf too) warns
        assert_same(ours.cross_entropy(held_out), theirs.entropy(grams))
        assert_same(ours.perplexity(held_out), theirs.perplexity(grams))


# ------------------------------------------------------------------------- parity with nltk


def parity_cases(orders):
    """Every (n, config), except Kneser-Ney for n = 1, which nltk cannot do (test below)."""
    return [
        pytest.param(n, config, id=f"{config[0]}-n{n}")
        for n in orders
        for config in CONFIGS
        if n > 1 or not config[0].startswith("kn")
    ]


@pytest.mark.parametrize("min_count", [1, 2])
@pytest.mark.parametrize(("n", "config"), parity_cases([1, 2, 3]))
def test_word_parity_with_nltk(n, config, min_count):
    check_parity(WORD_TRAIN, WORD_HELD_OUT, n, min_count, config)


@pytest.mark.parametrize("data", list(CHAR_DATA))
@pytest.mark.parametrize(("n", "config"), parity_cases([1, 2, 3, 4]))
def test_char_parity_with_nltk(n, config, data):
    train, held_out = CHAR_DATA[data]
    check_parity(train, held_out, n, 1, config)


def test_kneser_ney_order_1():
    """nltk's unigram Kneser-Ney divides by its number of bigram types, 0: nltk_compat refuses."""
    with pytest.raises(ZeroDivisionError):
        nltk_lm(KneserNeyInterpolated, WORD_TRAIN, 1).score("the")
    with pytest.raises(ValueError, match="nltk_compat=True needs n >= 2"):
        NGramLM(1, "kneser_ney", nltk_compat=True)
    # Ours: absolute discounting of the unigram counts, interpolated with the uniform.
    lm = NGramLM(1, "kneser_ney", discount=0.5).fit([["a", "a", "b"]])  # a: 2, b: 1, </s>: 1
    assert lm.vocab == [UNK, EOS, "a", "b"]
    assert math.isclose(lm.prob("a"), (2 - 0.5) / 4 + 0.5 * 3 / 4 * (1 / 4))


def test_default_kneser_ney_differs_from_nltk_only_where_documented():
    """(a) nltk's unigram level has no uniform term; (b) its γ at context BOS^(n-2) is larger.

    (a) With min_count=1 no training word is UNK, so N1+(• UNK) = 0 and nltk gives an unknown
    word probability 0 after a context that never preceded it: infinite perplexity. Ours gives
    it a share of the uniform.
    """
    theirs = nltk_lm(KneserNeyInterpolated, WORD_TRAIN, 2, discount=0.75)
    compat = NGramLM(2, "kneser_ney", 0.75, nltk_compat=True).fit(WORD_TRAIN)
    ours = NGramLM(2, "kneser_ney", 0.75).fit(WORD_TRAIN)
    assert ours.continuation_count((UNK,)) == 0
    assert theirs.score("Zounds", ["the"]) == compat.prob("Zounds", ["the"]) == 0.0
    assert ours.prob("Zounds", ["the"]) > 0
    held_out = [["the", "Zounds", "king"]]
    grams = list(nltk_ngrams(padded(held_out[0], 2), 2))
    assert theirs.perplexity(grams) == math.inf
    with pytest.warns(UserWarning, match=r"P\('<unk>' \| \('the',\)\) = 0 under kneser_ney"):
        assert compat.perplexity(held_out) == math.inf
    assert math.isfinite(ours.perplexity(held_out))


def test_nltk_kneser_ney_sums_above_one_only_after_bos():
    """(b) For n = 3 the middle order's γ numerator counts the raw followers of (BOS,).

    The raw bigrams (BOS, x) include (BOS, BOS), the first two padding symbols, which no
    token precedes: nltk's γ(BOS) = d·(N1+(• BOS •)_cont + 1)/N1+(• BOS •). Since the unigram
    level sums to 1, nltk's P(· | BOS BOS) sums to 1 + γ_top · d / N1+(• BOS •), where
    γ_top = d·N1+(BOS BOS •)/count(BOS BOS •). Every other seen context sums to 1.
    """
    train, _ = CHAR_DATA["speeches"]
    d, theirs = 0.75, nltk_lm(KneserNeyInterpolated, train, 3, discount=0.75)
    compat = NGramLM(3, "kneser_ney", d, nltk_compat=True).fit(train)
    ours = NGramLM(3, "kneser_ney", d).fit(train)
    starts = Counter(s[0] for s in train)  # the first characters: followers of (BOS, BOS)
    gamma_top = d * len(starts) / len(train)
    continuation_total = sum(compat.continuation_count((BOS, w)) for w in compat.vocab)
    excess = gamma_top * d / continuation_total
    for context in [(BOS, BOS), (BOS, "F"), ("e", " "), ("z", "z")]:
        nltk_sum = sum(theirs.score(w, context) for w in compat.vocab)
        expected = 1 + excess if context == (BOS, BOS) else 1.0
        assert math.isclose(nltk_sum, expected, rel_tol=1e-9), context
        assert math.isclose(compat.next_token_probs(context).sum(), expected, rel_tol=1e-9)
        assert math.isclose(ours.next_token_probs(context).sum(), 1.0, rel_tol=1e-9)


def test_mle_backs_off_where_nltk_returns_zero():
    """MLE is undefined for an unseen context: we use its longest seen suffix, nltk says 0."""
    theirs = nltk_lm(MLE, WORD_TRAIN, 3)
    ours = NGramLM(3, "mle").fit(WORD_TRAIN)
    assert theirs.score("love", ["Zounds", "my"]) == 0.0
    assert ours.prob("love", ["Zounds", "my"]) == theirs.score("love", ["my"]) == 7 / 41
    assert (ours.count(("my", "love")), ours.count(("my",))) == (7, 41)
    assert ours.prob("love", ["Zounds", "Zounds"]) == theirs.score("love") > 0


# ------------------------------------------------------------------------- counts


def brute_force_counts(train, n):
    grams = Counter(g for s in train for g in everygrams(padded(s, n), max_len=n))
    continuation = Counter(g[1:] for g in grams if len(g) >= 2)
    return grams, continuation


corpora = st.lists(st.lists(st.sampled_from("abc"), max_size=6), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None)
@given(train=corpora, n=st.integers(1, 4), int64_keys=st.booleans())
def test_counts_match_brute_force(train, n, int64_keys):
    assume(any(train))
    limit = lmcourse.ngram_counts.INT64_KEY_LIMIT
    if not int64_keys:  # the Python-integer fallback for keys that do not fit in int64
        lmcourse.ngram_counts.INT64_KEY_LIMIT = 1
    try:
        lm = NGramLM(n, "mle").fit(train)
    finally:
        lmcourse.ngram_counts.INT64_KEY_LIMIT = limit
    assert lm._dtype == np.dtype(np.int64 if int64_keys else object)
    grams, continuation = brute_force_counts(train, n)
    for gram in {g for s in train for g in everygrams(padded(s, n) + ["x"], max_len=n)}:
        assert lm.count(gram) == grams[gram]
        if len(gram) < n:
            assert lm.continuation_count(gram) == continuation[gram]


def test_python_int_keys_give_the_same_model(monkeypatch):
    int64 = NGramLM(3, "kneser_ney").fit(WORD_TRAIN)
    monkeypatch.setattr(lmcourse.ngram_counts, "INT64_KEY_LIMIT", 1)
    python_ints = NGramLM(3, "kneser_ney").fit(WORD_TRAIN)
    assert int64._dtype == np.dtype(np.int64) and python_ints._dtype == np.dtype(object)
    for context in [(BOS, BOS), ("the", "king"), ("Zounds", "my")]:
        assert np.array_equal(
            int64.next_token_probs(context), python_ints.next_token_probs(context)
        )
    assert int64.cross_entropy(WORD_HELD_OUT) == python_ints.cross_entropy(WORD_HELD_OUT)


# ------------------------------------------------------------------------- invariants

contexts = st.lists(st.sampled_from(["a", "b", "c", "z", BOS, EOS, UNK]), max_size=5)


def model_for(smoothing, n, min_count, draw):
    """A model with randomly drawn settings (lambdas may put all weight on unseen orders)."""
    if smoothing == "add_k":
        k = draw(st.sampled_from([1e-3, 0.3, 1.0, 2.0]))
        return NGramLM(n, "add_k", k=k, min_count=min_count)
    if smoothing == "interpolated":
        raw = draw(st.lists(st.sampled_from([0.0, 0.1, 1.0]), min_size=n + 1, max_size=n + 1))
        lambdas = None if sum(raw) == 0 else [x / sum(raw) for x in raw]
        return NGramLM(n, "interpolated", lambdas=lambdas, min_count=min_count)
    if smoothing == "kneser_ney":
        d = draw(st.sampled_from([0.0, 0.1, 0.75, 0.99]))
        return NGramLM(n, "kneser_ney", discount=d, min_count=min_count)
    return NGramLM(n, smoothing, min_count=min_count)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    train=corpora,
    n=st.integers(1, 4),
    smoothing=st.sampled_from(SMOOTHINGS),
    min_count=st.integers(1, 2),
    context=contexts,
    data=st.data(),
)
def test_next_token_probs_is_a_distribution(train, n, smoothing, min_count, context, data):
    assume(any(train))
    lm = model_for(smoothing, n, min_count, data.draw).fit(train)
    probs = lm.next_token_probs(context)
    assert probs.shape == (lm.vocab_size,) and probs.dtype == np.float64
    assert (probs >= 0).all()
    assert math.isclose(probs.sum(), 1.0, abs_tol=1e-9)
    np.testing.assert_allclose(probs, [lm.prob(w, context) for w in lm.vocab], rtol=1e-12)


def seen_contexts(train, n):
    return {tuple(padded(s, n)[i : i + n - 1]) for s in train for i in range(len(s) + 1)}


@settings(max_examples=40, deadline=None)
@given(train=corpora, n=st.integers(1, 4))
def test_smoothings_that_reduce_to_mle_on_seen_contexts(train, n):
    """add_k with k -> 0, KN with d = 0, and λ = 1 on order n all equal the MLE."""
    assume(any(train))
    mle = NGramLM(n, "mle").fit(train)
    add_k = NGramLM(n, "add_k", k=1e-9).fit(train)
    kn = NGramLM(n, "kneser_ney", discount=0.0).fit(train)
    top = NGramLM(n, "interpolated", lambdas=[0.0] * n + [1.0]).fit(train)
    for context in seen_contexts(train, n):
        expected = mle.next_token_probs(context)
        np.testing.assert_allclose(add_k.next_token_probs(context), expected, atol=1e-7)
        np.testing.assert_allclose(kn.next_token_probs(context), expected, rtol=1e-12)
        np.testing.assert_allclose(top.next_token_probs(context), expected, rtol=1e-12)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_cross_entropy_is_the_mean_surprise_of_every_token(smoothing):
    """Vectorised scoring equals a loop of prob() calls; BOS is never predicted, EOS always."""
    lm = NGramLM(3, smoothing).fit(WORD_TRAIN)
    # MLE: training sentences, so that no probability is 0; the others: unseen text too
    sentences = WORD_TRAIN[:5] if smoothing == "mle" else WORD_HELD_OUT[:5] + [[], ["Zounds"]]
    surprises = [
        -math.log2(lm.prob(tokens[i], tokens[i - 2 : i]))
        for tokens in (padded(s, 3) for s in sentences)
        for i in range(2, len(tokens))
    ]
    assert len(surprises) == sum(len(s) + 1 for s in sentences)
    assert_same(lm.cross_entropy(sentences), float(np.mean(surprises)))
    assert_same(lm.perplexity(sentences), 2 ** float(np.mean(surprises)))


def reference_kneser_ney(train, n, d, vocab_size, token, context):
    """Our documented Kneser-Ney equations, term by term, over Counters: slow, plainly right."""
    grams, continuation = brute_force_counts(train, n)
    m = len(context) + 1
    counts = grams if m == n else continuation  # raw counts at the top, continuations below
    followers = {g[-1]: c for g, c in counts.items() if len(g) == m and g[:-1] == context}
    total = sum(followers.values())
    lower = (
        1 / vocab_size
        if m == 1
        else reference_kneser_ney(train, n, d, vocab_size, token, context[1:])
    )
    if total == 0:  # no counts for this context: skip the order
        return lower
    return max(followers.get(token, 0) - d, 0) / total + d * len(followers) / total * lower


@settings(max_examples=30, deadline=None)
@given(train=corpora, n=st.integers(1, 4), d=st.sampled_from([0.1, 0.75]), data=st.data())
def test_kneser_ney_matches_a_reference_implementation(train, n, d, data):
    assume(any(train))
    lm = NGramLM(n, "kneser_ney", discount=d).fit(train)
    for context in [
        *seen_contexts(train, n),
        data.draw(st.tuples(*[st.sampled_from(lm.vocab)] * (n - 1))),
    ]:
        expected = [reference_kneser_ney(train, n, d, lm.vocab_size, w, context) for w in lm.vocab]
        np.testing.assert_allclose(lm.next_token_probs(context), expected, rtol=1e-12)


# ------------------------------------------------------------------------- hand-checked


def test_bigram_mle_by_hand():
    """Padded: <s> a b </s> and <s> a c </s>.

    count(a •) = count(a b) + count(a c) = 2, so P(b | a) = P(c | a) = 1/2; count(<s> •) = 2 and
    both are a, so P(a | <s>) = 1. The unigrams (context ()) count all 8 padded symbols:
    P(a) = 2/8, P(</s>) = 2/8, P(<s>) = 2/8. An unseen context ("z" -> <unk>) backs off to them.
    """
    lm = NGramLM(2, "mle").fit([["a", "b"], ["a", "c"]])
    assert lm.vocab == [UNK, BOS, EOS, "a", "b", "c"] and lm.vocab_size == 6
    assert lm.stoi == {UNK: 0, BOS: 1, EOS: 2, "a": 3, "b": 4, "c": 5}
    assert lm.prob("b", ["a"]) == lm.prob("c", ["a"]) == 0.5
    assert lm.prob("a", [BOS]) == 1.0 and lm.prob("b", [BOS]) == 0.0
    assert lm.prob("a") == lm.prob(EOS) == lm.prob(BOS) == 2 / 8
    assert lm.prob("a", ["z"]) == lm.prob("a", ["x", "y", "z"]) == 2 / 8
    assert lm.next_token_probs(["a"]).tolist() == [0, 0, 0, 0, 0.5, 0.5]
    # cross-entropy of "a b": P(a | <s>) = 1, P(b | a) = 1/2, P(</s> | b) = 1: 1 bit / 3 tokens
    assert lm.cross_entropy([["a", "b"]]) == pytest.approx(1 / 3, rel=1e-12)
    assert lm.perplexity([["a", "b"]]) == pytest.approx(2 ** (1 / 3), rel=1e-12)


def test_add_k_and_interpolated_by_hand():
    """Same corpus, V = 6, count(a •) = 2, count(a b) = 1, 8 unigrams of which b is 1.

    Laplace: (1 + 1) / (2 + 6) = 1/4; an unseen context: (0 + 1) / (0 + 6) = 1/6.
    Interpolated, default λ = (0.01, 0.495, 0.495): 0.01/6 + 0.495·1/8 + 0.495·1/2; after an
    unseen context the bigram order is dropped: (0.01/6 + 0.495·1/8) / (0.01 + 0.495).
    """
    corpus = [["a", "b"], ["a", "c"]]
    laplace = NGramLM(2, "add_k").fit(corpus)
    assert laplace.prob("b", ["a"]) == 2 / 8 and laplace.prob("b", ["z"]) == 1 / 6
    lidstone = NGramLM(2, "add_k", k=0.5).fit(corpus)
    assert lidstone.prob("b", ["a"]) == (1 + 0.5) / (2 + 0.5 * 6)
    jm = NGramLM(2, "interpolated").fit(corpus)
    assert jm.config.interpolation_weights() == (0.01, 0.495, 0.495)
    assert math.isclose(jm.prob("b", ["a"]), 0.01 / 6 + 0.495 / 8 + 0.495 / 2)
    assert math.isclose(jm.prob("b", ["z"]), (0.01 / 6 + 0.495 / 8) / 0.505)


def test_kneser_ney_continuation_count_by_hand():
    """ "Francisco" is frequent but only ever follows "San": a poor guess in a new context.

    Corpus: 4 x "San Francisco", then "my glasses", "your glasses", "the glasses".
    count(Francisco) = 4 > count(glasses) = 3, but N1+(• Francisco) = 1 < N1+(• glasses) = 3.
    There are 10 distinct bigrams, 7 distinct tokens end one (San, Francisco, my, your, the,
    glasses, </s>), V = 9 (<unk>, <s>, </s> and 6 words). With d = 0.75 an unseen context
    falls to the unigram level: P(w) = max(N1+(• w) - d, 0) / 10 + d · 7/10 · 1/9:
    P(Francisco) = 0.25/10 + 0.7/12 = 1/12 and P(glasses) = 2.25/10 + 0.7/12 = 17/60.
    """
    corpus = 4 * [["San", "Francisco"]] + [
        ["my", "glasses"],
        ["your", "glasses"],
        ["the", "glasses"],
    ]
    lm = NGramLM(2, "kneser_ney", discount=0.75).fit(corpus)
    assert (lm.count(("Francisco",)), lm.count(("glasses",))) == (4, 3)
    assert (lm.continuation_count(("Francisco",)), lm.continuation_count(("glasses",))) == (1, 3)
    assert lm.continuation_count((EOS,)) == 2 and lm.continuation_count((BOS,)) == 0
    assert math.isclose(lm.prob("Francisco", ["reading"]), 1 / 12)
    assert math.isclose(lm.prob("glasses", ["reading"]), 17 / 60)
    mle = NGramLM(1, "mle").fit(corpus)  # the unigram MLE prefers Francisco: 4/21 > 3/21
    assert mle.prob("Francisco") == 4 / 21 and mle.prob("glasses") == 3 / 21


def test_vocabulary_padding_and_min_count():
    """min_count=2: "c" (once) becomes <unk>. BOS and EOS stay even below min_count."""
    lm = NGramLM(3, "mle", min_count=2).fit([["b", "a", "c"], ["a", "b"]])
    assert lm.vocab == [UNK, BOS, EOS, "a", "b"]
    assert lm.count((UNK,)) == 1 and lm.count(("c",)) == 1  # "c" is looked up as <unk>
    assert lm.count((BOS,)) == 4 and lm.count((BOS, BOS)) == 2 and lm.count((EOS,)) == 2
    assert lm.count(("a", UNK, EOS)) == 1
    one_text = NGramLM(2, "kneser_ney", min_count=2).fit(["hello"])  # one str: characters
    assert one_text.vocab == [UNK, BOS, EOS, "l"]
    assert one_text.count(("h",)) == one_text.count((UNK,)) == 3  # h, e and o
    assert NGramLM(1, "mle").fit(["ab"]).vocab == [UNK, EOS, "a", "b"]  # n = 1: no BOS
    assert repr(lm) == "NGramLM(n=3, smoothing='mle', vocab_size=5)"


def test_fit_returns_the_model_and_refits_from_scratch():
    lm = NGramLM(2, "mle")
    assert lm.fit([["a"]]) is lm
    lm.fit([["b"]])
    assert lm.vocab == [UNK, BOS, EOS, "b"] and lm.count(("a",)) == 0


def test_long_contexts_use_their_last_n_minus_1_tokens():
    lm = NGramLM(3, "kneser_ney").fit(WORD_TRAIN)
    assert lm.prob("love", ["Zounds", "Zounds", ",", "my"]) == lm.prob("love", [",", "my"])
    assert (
        lm.prob(BOS) == lm.prob(BOS, []) and NGramLM(1, "mle").fit(["ab"]).prob("a", "xyz") == 1 / 3
    )


def test_mle_infinite_perplexity_warns_and_names_the_event():
    """P(b | <s>) = 0: no training sentence starts with b."""
    lm = NGramLM(2, "mle").fit([["a", "b"]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert lm.cross_entropy([["a", "b"], ["b", "a"]]) == math.inf
        assert lm.perplexity([["b"]]) == math.inf
    assert [w.category for w in caught] == [UserWarning, UserWarning]  # no numpy warning
    assert "P('b' | ('<s>',)) = 0 under mle" in str(caught[0].message)
    assert "perplexity are infinite" in str(caught[0].message)


# ------------------------------------------------------------------------- generate


def test_generate_is_deterministic_for_a_seeded_generator():
    lm = NGramLM(3, "kneser_ney").fit(WORD_TRAIN)
    runs = [lm.generate(40, generator=torch.Generator().manual_seed(seed)) for seed in (0, 0, 1)]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    for tokens in runs:
        assert set(tokens) <= set(lm.vocab) - {BOS, EOS}
        assert len(tokens) <= 40
    assert lm.generate(0) == []


def test_generate_stops_at_eos_and_greedy_is_argmax():
    lm = NGramLM(2, "mle").fit([["to", "be", "or", "not"]])
    assert lm.generate(10, generator=torch.Generator().manual_seed(0)) == ["to", "be", "or", "not"]
    assert lm.generate(2, temperature=0) == ["to", "be"]
    kn = NGramLM(3, "kneser_ney").fit(WORD_TRAIN)
    greedy, history = kn.generate(15, temperature=0, context=["I"]), [BOS, BOS, "I"]
    assert len(greedy) == 3  # "will roar ,", then the argmax is EOS
    for token in [*greedy, EOS]:
        probs = kn.next_token_probs(history)
        probs[kn.stoi[BOS]] = 0
        assert token == kn.vocab[int(np.argmax(probs))]
        history.append(token)


def test_generate_never_emits_bos():
    """After "a" a bigram KN model gives BOS some probability (the uniform), but it is padding."""
    lm = NGramLM(2, "kneser_ney").fit([["a"]])
    assert lm.next_token_probs(["a"])[lm.stoi[BOS]] > 0
    gen = torch.Generator().manual_seed(0)
    tokens = [t for _ in range(200) for t in lm.generate(5, generator=gen, temperature=50.0)]
    assert BOS not in tokens and set(tokens) == {"a"}
    with_unk = lm.generate(200, generator=gen, temperature=50.0, unk=True)
    assert BOS not in with_unk and set(with_unk) == {UNK, "a"}


def test_generate_leaves_out_unk_renormalising_the_rest():
    """Add-one bigram after "a": (1 + count) / (1 + V), V = 5: 1/6 for UNK, BOS, EOS and "a",
    2/6 for "b". Without UNK and BOS, P(b | a) = 2 / (2 + 1 + 1) = 1/2: samples follow that."""
    lm = NGramLM(2, "add_k", k=1.0).fit([["a", "b"]])
    probs = lm.next_token_probs(["a"])
    assert probs[lm.stoi[UNK]] == pytest.approx(1 / 6) and probs[lm.stoi["b"]] == pytest.approx(
        2 / 6
    )
    gen = torch.Generator().manual_seed(0)
    first = [(lm.generate(1, gen, context=["a"]) or [EOS])[0] for _ in range(4000)]
    assert UNK not in first
    share = first.count("b") / 4000
    assert abs(share - 0.5) < 4 * (0.25 / 4000) ** 0.5, share  # 4 binomial sigma


def test_generate_emits_unk_when_nothing_else_is_possible():
    """MLE after "x", whose followers were all rare (min_count 2): UNK is the one choice."""
    lm = NGramLM(2, "mle", min_count=2).fit([["x", "y"], ["x", "z"]])
    assert lm.next_token_probs(["x"])[lm.stoi[UNK]] == 1.0
    assert lm.generate(1, torch.Generator().manual_seed(0), context=["x"]) == [UNK]


@pytest.mark.parametrize(("temperature", "p_b"), [(1.0, 1 / 3), (0.5, 1 / 5), (1e-3, 0.0)])
def test_temperature_sharpens_the_distribution(temperature, p_b):
    """P(b | a) = 1/3, P(c | a) = 2/3; with T = 1/2: (1/3)² / ((1/3)² + (2/3)²) = 1/5."""
    lm = NGramLM(2, "mle").fit([["a", "b"], ["a", "c"], ["a", "c"]])
    gen = torch.Generator().manual_seed(0)
    first = [lm.generate(1, gen, temperature, context=["a"])[0] for _ in range(3000)]
    assert set(first) <= {"b", "c"}
    assert abs(first.count("b") / 3000 - p_b) < 0.03


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, r"n must be an integer >= 1.*got 0"),
        ({"n": 2.5}, r"n must be an integer >= 1.*got 2.5"),
        ({"n": True}, r"n must be an integer >= 1.*got True"),
        ({"smoothing": "laplace"}, r"smoothing must be one of .*'kneser_ney'.*got 'laplace'"),
        ({"k": 0}, r"k must be a number > 0.*got 0"),
        ({"k": -1.0}, r"k must be a number > 0.*got -1.0"),
        ({"discount": 1.0}, r"discount must be in \[0, 1\), got 1.0"),
        ({"discount": -0.1}, r"discount must be in \[0, 1\), got -0.1"),
        ({"min_count": 0}, r"min_count must be an integer >= 1, got 0"),
        ({"nltk_compat": "yes"}, r"nltk_compat must be True or False, got 'yes'"),
        ({"n": 2, "lambdas": [0.5, 0.5]}, r"lambdas must have n \+ 1 = 3 weights"),
        ({"n": 1, "lambdas": [1.5, -0.5]}, r"lambdas must all be non-negative"),
        ({"n": 1, "lambdas": [0.5, 0.6]}, r"lambdas must sum to 1.*sum 1.1"),
        ({"n": 1, "lambdas": "ab"}, r"lambdas must be a sequence of numbers, got 'ab'"),
        ({"n": 1, "lambdas": [0.5, "0.5"]}, r"lambdas must be a sequence of numbers"),
        (
            {"n": 1, "smoothing": "kneser_ney", "nltk_compat": True},
            r"nltk_compat=True needs n >= 2",
        ),
    ],
)
def test_bad_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NGramLM(**kwargs)


@pytest.mark.parametrize(
    ("sentences", "message"),
    [
        ([], r"fit needs at least one sentence, got none"),
        ([[], ""], r"fit needs at least one non-empty sentence, got 2 empty sentences"),
        ("to be", r"fit takes a list of sentences, got one str.*pass \[text\]"),
        ([["a", "<s>"]], r"contains '<s>', a symbol reserved"),
        ([["</s>"]], r"contains '</s>', a symbol reserved"),
        ([["a", "<unk>"]], r"contains '<unk>', a symbol reserved.*min_count"),
        ([[1, 2]], r"Tokens must be strings, got 1 \(int\)"),
    ],
)
def test_bad_training_data_raises(sentences, message):
    with pytest.raises(ValueError, match=message):
        NGramLM(2).fit(sentences)


@pytest.mark.parametrize(
    "query",
    [
        lambda lm: lm.prob("a"),
        lambda lm: lm.next_token_probs(),
        lambda lm: lm.cross_entropy([["a"]]),
        lambda lm: lm.perplexity([["a"]]),
        lambda lm: lm.generate(5),
        lambda lm: lm.count(("a",)),
        lambda lm: lm.continuation_count(("a",)),
        lambda lm: lm.vocab,
    ],
)
def test_queries_before_fit_raise(query):
    with pytest.raises(ValueError, match=r"call fit\(\.\.\.\) first"):
        query(NGramLM(2))


def test_bad_queries_raise():
    lm = NGramLM(2, "kneser_ney").fit([["a", "b"]])
    with pytest.raises(ValueError, match=r"temperature must be a number >= 0, got -1"):
        lm.generate(5, temperature=-1)
    with pytest.raises(ValueError, match=r"temperature must be a number >= 0, got nan"):
        lm.generate(0, temperature=float("nan"))  # checked before any token is drawn
    with pytest.raises(ValueError, match=r"max_tokens must be an integer >= 0, got -1"):
        lm.generate(-1)
    with pytest.raises(ValueError, match=r"count takes an n-gram of order 1..2 \(n=2\)"):
        lm.count(("a", "b", "c"))
    with pytest.raises(ValueError, match=r"count takes an n-gram of order 1..2.*order 0"):
        lm.count(())
    with pytest.raises(ValueError, match=r"continuation_count takes an n-gram of order 1..1"):
        lm.continuation_count(("a", "b"))
    with pytest.raises(ValueError, match=r"continuation_count takes an n-gram of order none"):
        NGramLM(1).fit([["a"]]).continuation_count(("a",))
    with pytest.raises(ValueError, match=r"cross_entropy needs at least one sentence"):
        lm.cross_entropy([])
    with pytest.raises(ValueError, match=r"cross_entropy takes a list of sentences, got one str"):
        lm.cross_entropy("ab")


def test_scoring_refuses_non_string_tokens_as_fit_does():
    # encoded ids scored by a model of strings used to be scored silently as <unk>
    lm = NGramLM(n=2).fit(["hello"])
    message = r"Tokens must be strings, got 1 \(int\)"
    with pytest.raises(ValueError, match=message):
        NGramLM(n=2).fit([[1, 2]])  # fit's own message ...
    with pytest.raises(ValueError, match=message):
        lm.cross_entropy([[1, 2]])  # ... is scoring's too
    with pytest.raises(ValueError, match=message):
        lm.prob(1)
    with pytest.raises(ValueError, match=message):
        lm.prob("h", [1])
    with pytest.raises(ValueError, match=message):
        lm.next_token_probs(["h", 1])
    with pytest.raises(ValueError, match=message):
        lm.count((1,))
    assert lm.prob("e", "h") > lm.prob("x", "h") > 0  # strings, and unknown ones, still work
    assert math.isfinite(lm.cross_entropy(["hello", ""]))


@pytest.mark.parametrize(
    "data, shown",
    [(None, "a list of sentences (each a str or a list of tokens), got None"),
     (12, "a list of sentences (each a str or a list of tokens), got 12"),
     ([None], "sentences that are each a str or a list of tokens, got None (NoneType)"),
     (["to be", 5], "sentences that are each a str or a list of tokens, got 5 (int)"),
     ([b"to be"], "sentences that are each a str or a list of tokens, got b'to be' (bytes)")],
)  # fmt: skip
def test_fit_names_data_that_is_not_a_list_of_sentences(data, shown):
    with pytest.raises(TypeError, match=re.escape(f"fit takes {shown}")):
        NGramLM(n=2).fit(data)


def test_a_none_token_is_refused_by_fit_and_by_scoring():
    # (None slipped through: the check looked for the first non-str token with next(..., None))
    with pytest.raises(ValueError, match=r"Tokens must be strings, got None \(NoneType\)"):
        NGramLM(n=2).fit([["to", None, "be"]])
    model = NGramLM(n=2).fit([["to", "be"]])
    with pytest.raises(ValueError, match=r"Tokens must be strings, got None \(NoneType\)"):
        model.prob(None, ["to"])
