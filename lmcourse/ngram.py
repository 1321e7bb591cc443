"""Count-based n-gram language models: MLE, add-k, interpolated and Kneser-Ney smoothing.

An n-gram model predicts each token from the n-1 tokens before it, its context c, with
``P(w | c) = count(c w) / count(c •)`` or a smoothed variant that keeps some probability for
events the training data never showed. (The bulk counting is in ``lmcourse.ngram_counts``.)

Padding: every sentence, in training and in evaluation, becomes

    [BOS] * (n - 1) + tokens + [EOS]

so the first token is predicted from BOS symbols and the model learns where sentences end.
The counts of every order 1..n are those of all k-grams of the padded sentences (BOS is a
unigram too, as in nltk's ``everygrams``). A str is a sequence of characters:
``lm.fit([text])`` trains a character model on the whole text as one sequence.

Vocabulary, in id order: UNK, BOS (if n >= 2: a unigram model pads nothing), EOS, then every
token seen at least ``min_count`` times, sorted. Rarer training tokens become UNK before
counting; unknown tokens in queries and contexts are looked up as UNK. BOS and EOS stay
whatever ``min_count`` is.

Example, a bigram model of two sentences (padded: ``<s> a b </s>`` and ``<s> a c </s>``):

>>> lm = NGramLM(n=2, smoothing="mle").fit([["a", "b"], ["a", "c"]])
>>> lm.vocab
['<unk>', '<s>', '</s>', 'a', 'b', 'c']
>>> lm.prob("b", ["a"])                 # count(a b) / count(a •) = 1 / 2
0.5
>>> lm.count(("<s>",)), lm.continuation_count(("</s>",))   # b and c both precede </s>
(2, 2)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch

from lmcourse.ngram_counts import (
    check_strings,
    count_ngrams,
    encode_sentences,
    ngrams,
    pack,
    pad,
    sentence_list,
    training_tokens,
)
from lmcourse.sampling import check_temperature, sample_from_probs
from lmcourse.utils import is_int, is_real

__all__ = ["BOS", "EOS", "SMOOTHINGS", "UNK", "NGramConfig", "NGramLM"]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
UNK_ID = 0
SMOOTHINGS = ("mle", "add_k", "interpolated", "kneser_ney")


@dataclass(frozen=True)
class NGramConfig:
    """The settings of an ``NGramLM``, validated once (see ``NGramLM`` for their meaning)."""

    n: int = 3
    smoothing: str = "kneser_ney"
    discount: float = 0.75
    k: float = 1.0
    lambdas: tuple[float, ...] | None = None
    min_count: int = 1
    nltk_compat: bool = False

    def __post_init__(self) -> None:
        rules = {  # field: (is it valid?, what it must be)
            "n": (is_int(self.n) and self.n >= 1, "an integer >= 1 (the n of n-gram)"),
            "smoothing": (self.smoothing in SMOOTHINGS, f"one of {SMOOTHINGS}"),
            "k": (is_real(self.k) and 0 < self.k < math.inf, "a number > 0 (k=1 is Laplace)"),
            "discount": (is_real(self.discount) and 0 <= self.discount < 1, "in [0, 1)"),
            "min_count": (is_int(self.min_count) and self.min_count >= 1, "an integer >= 1"),
            "nltk_compat": (isinstance(self.nltk_compat, bool), "True or False"),
        }
        for field, (valid, rule) in rules.items():
            if not valid:
                raise ValueError(f"{field} must be {rule}, got {getattr(self, field)!r}.")
        if self.nltk_compat and self.smoothing == "kneser_ney" and self.n == 1:
            raise ValueError("nltk_compat=True needs n >= 2: nltk's Kneser-Ney needs bigrams.")
        if self.lambdas is not None:
            object.__setattr__(self, "lambdas", self._checked_lambdas(self.lambdas))

    def _checked_lambdas(self, lambdas: Sequence[float]) -> tuple[float, ...]:
        if isinstance(lambdas, str) or not all(is_real(x) for x in lambdas):
            raise ValueError(f"lambdas must be a sequence of numbers, got {lambdas!r}.")
        weights = tuple(float(x) for x in lambdas)
        if len(weights) != self.n + 1:
            raise ValueError(
                f"lambdas must have n + 1 = {self.n + 1} weights (uniform first, order n last),"
                f" got {len(weights)}: {lambdas!r}."
            )
        if not all(0 <= x < math.inf for x in weights):
            raise ValueError(f"lambdas must all be non-negative numbers, got {lambdas!r}.")
        if not math.isclose(sum(weights), 1.0, abs_tol=1e-9):
            raise ValueError(f"lambdas must sum to 1, got {lambdas!r} (sum {sum(weights)!r}).")
        return weights

    def interpolation_weights(self) -> tuple[float, ...]:
        """``lambdas``, or by default 0.01 for the uniform and 0.99 / n for each order 1..n."""
        return self.lambdas or (0.01,) + (0.99 / self.n,) * self.n


class NGramLM:
    """An n-gram language model over string tokens, with one of four smoothings.

    c is the context (its last n-1 tokens), V = ``vocab_size`` (UNK, BOS, EOS included):

    - ``"mle"``: ``P(w | c) = count(c w) / count(c •)``, ``count(c •) = Σ_w count(c w)``.
      Backoff for unseen contexts: where ``count(c •) = 0`` the longest suffix of c that was
      seen is used instead (nltk returns 0 there).
    - ``"add_k"``: ``P(w | c) = (count(c w) + k) / (count(c •) + k·V)``; k=1 is Laplace.
    - ``"interpolated"`` (Jelinek-Mercer): ``P(w | c) = Σ_{j=0..n} λ_j P_j(w | last j-1 of c)``,
      ``P_0 = 1/V``, ``P_j`` the MLE of order j. Orders whose context is unseen are dropped
      and the other weights renormalised (if no weight is left: the MLE with backoff).
    - ``"kneser_ney"`` (interpolated, Chen & Goodman 1998), discount d, from the top order:
      ``P(w | c) = max(count(c w) - d, 0) / count(c •) + d·N1+(c •) / count(c •) · P(w | c[1:])``;
      the lower orders put continuation counts ``N1+(• c' w)`` (the number of distinct tokens
      that precede ``c' w``) in place of counts: ``P(w | c') = max(N1+(• c' w) - d, 0) /
      N1+(• c' •) + d·N1+(c' •)_cont / N1+(• c' •) · P(w | c'[1:])``, with ``N1+(c' •)_cont``
      = #{w: N1+(• c' w) > 0}. Below the unigrams comes 1/V, so every token, UNK included,
      gets some probability. An order whose context has no counts is skipped.

    ``nltk_compat=True`` (Kneser-Ney only; mle, add_k and interpolated already match nltk
    wherever nltk's value is defined) reproduces nltk 3.x's ``KneserNeyInterpolated``, which
    differs in two places: (a) its unigram level is ``N1+(• w) / N1+(• •)``, no discount and
    no uniform, so a token that never ends a bigram (UNK when no training token was rare, BOS
    for n = 2) gets 0 whenever scoring reaches it; (b) at the middle orders its γ numerator
    counts the distinct *raw* followers of c' (order-m counts), not ``N1+(c' •)_cont``. Those
    differ only for c' = BOS^(n-2), n >= 3: BOS follows it at the start of the padding, where
    nothing precedes, so nltk's ``P(· | BOS^(n-1))`` (every sentence's first token) sums to > 1.

    A context shorter than n-1 tokens is scored at order ``len(context) + 1``, as in nltk.

    Args:
        n: order: the model sees n-1 tokens of context.
        smoothing: one of ``SMOOTHINGS``.
        discount: d for Kneser-Ney, in [0, 1) (nltk's default is 0.1).
        k: pseudo-count for add_k, > 0.
        lambdas: n+1 interpolation weights (uniform first, order n last), >= 0, summing to 1.
        min_count: training tokens seen fewer times become UNK.
        nltk_compat: see above.

    Example (Kneser-Ney, d = 0.5, the module example's sentences): ``a`` is followed 2 times
    by 2 distinct tokens; 4 tokens (a, b, c, </s>) end the 5 distinct bigrams, b ends 1 of them:

    >>> lm = NGramLM(n=2, discount=0.5).fit([["a", "b"], ["a", "c"]])
    >>> p_b = (1 - 0.5) / 5 + 0.5 * 4 / 5 * (1 / 6)       # unigram level: 1/6
    >>> math.isclose(lm.prob("b", ["a"]), (1 - 0.5) / 2 + 0.5 * 2 / 2 * p_b)   # = 1/3
    True
    """

    def __init__(
        self,
        n: int = 3,
        smoothing: str = "kneser_ney",
        discount: float = 0.75,
        k: float = 1.0,
        lambdas: Sequence[float] | None = None,
        min_count: int = 1,
        nltk_compat: bool = False,
    ) -> None:
        self.config = NGramConfig(n, smoothing, discount, k, lambdas, min_count, nltk_compat)
        self._vocab: list[str] | None = None

    # ------------------------------------------------------------------ training

    def fit(self, sentences: Iterable[Sequence[str]]) -> NGramLM:
        """Count every k-gram (k = 1..n) of the padded ``sentences`` (lists of str, or str)."""
        n = self.config.n
        sentences, counts = training_tokens(sentences, reserved=(BOS, EOS, UNK))
        kept = sorted(t for t, c in counts.items() if c >= self.config.min_count)
        self._vocab = [UNK, BOS, EOS, *kept] if n > 1 else [UNK, EOS, *kept]
        self._stoi = {t: i for i, t in enumerate(self._vocab)}
        padded, end = self._padded_ids(sentences, counts)
        self._raw, self._continuation = count_ngrams(padded, end, n, self.vocab_size)
        self._dtype = self._raw[1].keys.dtype  # int64, or object for Python-int keys
        return self

    @property
    def vocab(self) -> list[str]:
        """The tokens in id order: UNK, BOS (n >= 2), EOS, then the kept tokens sorted."""
        self._check_fitted()
        return self._vocab

    @property
    def stoi(self) -> dict[str, int]:
        """Token -> id."""
        self._check_fitted()
        return self._stoi

    @property
    def vocab_size(self) -> int:
        """V, the number of tokens the model can predict (UNK, BOS and EOS included)."""
        return len(self.vocab)

    @property
    def n(self) -> int:
        """The order of the model."""
        return self.config.n

    @property
    def num_ngrams(self) -> int:
        """The model's size: how many distinct k-grams (k = 1..n) it keeps counts of."""
        self._check_fitted()
        return sum(len(table.keys) for table in self._raw.values())

    def count(self, ngram: Sequence[str]) -> int:
        """``count(ngram)``: how often a k-gram (k = 1..n) occurs in the padded training data."""
        return self._count_in(ngram, continuation=False)

    def continuation_count(self, ngram: Sequence[str]) -> int:
        """``N1+(• ngram)``: the number of distinct tokens x with ``count((x,) + ngram) > 0``.

        The Kneser-Ney idea: "Kong" may be frequent, but if it only ever follows "Hong" its
        continuation count is 1, and it is a poor guess after a context never seen before.
        """
        return self._count_in(ngram, continuation=True)

    # ------------------------------------------------------------------ probabilities

    def prob(self, token: str, context: Sequence[str] = ()) -> float:
        """``P(token | context)``; only the last n-1 tokens of the context matter."""
        contexts = self._context_ids(context)[None]  # (1, L)
        return float(self._score(contexts, self._ids([token]))[0])

    def next_token_probs(self, context: Sequence[str] = ()) -> np.ndarray:
        """``P(w | context)`` for every w, in ``vocab`` order: shape (V,), float64, sums to 1.

        (With ``nltk_compat=True`` the sum can differ from 1, exactly as nltk's scores do.)
        """
        V = self.vocab_size
        contexts = np.tile(self._context_ids(context), (V, 1))  # (V, L)
        return self._score(contexts, np.arange(V))

    def cross_entropy(self, sentences: Iterable[Sequence[str]]) -> float:
        """Bits per predicted token: ``-(1/N) Σ log2 P(w_t | context_t)``.

        Every token of every padded sentence is predicted, EOS included, BOS never: N is the
        number of tokens plus the number of sentences. A zero probability makes the result
        ``math.inf``, with a warning naming the first such event.
        """
        sentences = sentence_list(sentences, "cross_entropy")
        padded, end = self._padded_ids(sentences, set(chain.from_iterable(sentences)))
        grams = ngrams(padded, end, self.n)  # (N, n): context, then target
        p = self._score(grams[:, :-1], grams[:, -1])  # (N,)
        zeros = np.flatnonzero(p == 0)
        if len(zeros):
            event = [self._vocab[i] for i in grams[zeros[0]]]
            warnings.warn(
                f"P({event[-1]!r} | {tuple(event[:-1])!r}) = 0 under {self.config.smoothing}: "
                "this event was never seen in training, so the cross-entropy and perplexity are "
                "infinite; use smoothing: add_k, interpolated with lambdas[0] > 0, or kneser_ney "
                "without nltk_compat.",
                stacklevel=2,
            )
            return math.inf
        return float(-np.mean(np.log2(p)))

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """``2 ** cross_entropy``: the number of equally likely choices it amounts to."""
        return 2.0 ** self.cross_entropy(sentences)

    def generate(
        self,
        max_tokens: int,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        context: Sequence[str] = (),
        unk: bool = False,
    ) -> list[str]:
        """Sample up to ``max_tokens`` tokens of a sentence that starts with ``context``.

        Stops early at EOS (not included) and never emits BOS. ``temperature`` 0 is greedy
        (argmax); otherwise each step samples from ``P ** (1/T)``, renormalised. UNK stands
        for every rare token at once, not for a text, so it is left out too (the others are
        renormalised) unless ``unk`` is True, or unless nothing else is possible.
        """
        self._check_fitted()
        if not is_int(max_tokens) or max_tokens < 0:
            raise ValueError(f"max_tokens must be an integer >= 0, got {max_tokens!r}.")
        check_temperature(temperature)  # also when max_tokens is 0
        history, out = [BOS] * (self.n - 1) + list(context), []
        for _ in range(max_tokens):
            probs = self.next_token_probs(history)
            if BOS in self._stoi:
                probs[self._stoi[BOS]] = 0.0  # BOS is padding: it never follows a token
            if not unk and probs.sum() > probs[UNK_ID]:
                probs[UNK_ID] = 0.0  # "<unk>" is not text: sample a real token
            token = self._vocab[sample_from_probs(probs, temperature, generator)]
            if token == EOS:
                break
            out.append(token)
            history.append(token)
        return out

    # ------------------------------------------------------------------ scoring, batched

    def _score(self, contexts: np.ndarray, words: np.ndarray) -> np.ndarray:
        """``P(w | c)`` for a batch: contexts (B, L) ids with L <= n-1, words (B,) ids -> (B,)."""
        V, L = self.vocab_size, contexts.shape[1]
        # ctx[j]: key of the last j context tokens; grams[j]: key of (those j tokens, w)
        ctx = [pack(contexts[:, L - j :], V, self._dtype) for j in range(L + 1)]  # (B,) each
        grams = [keys * V + words.astype(self._dtype) for keys in ctx]  # (B,) each
        smooth = getattr(self, f"_{self.config.smoothing}")
        return smooth(ctx, grams).astype(np.float64)

    def _mle_of_order(self, ctx: np.ndarray, grams: np.ndarray, m: int) -> tuple[np.ndarray, ...]:
        """``count(c w) / count(c •)`` at order m, and whether the context was seen at all."""
        total = self._raw[m].context_stats(ctx)[0]
        return self._raw[m].count(grams) / np.maximum(total, 1), total > 0

    def _mle(self, ctx: list[np.ndarray], grams: list[np.ndarray]) -> np.ndarray:
        """``count(c w) / count(c •)`` for the longest suffix c of the context that was seen."""
        p = np.zeros(len(ctx[0]))
        for j in range(len(ctx)):  # context length j, order j + 1: longer seen ones win
            p_j, seen = self._mle_of_order(ctx[j], grams[j], j + 1)
            p = np.where(seen, p_j, p)
        return p

    def _add_k(self, ctx: list[np.ndarray], grams: list[np.ndarray]) -> np.ndarray:
        """``(count(c w) + k) / (count(c •) + k·V)``: an unseen context gives 1/V."""
        table, k = self._raw[len(ctx)], self.config.k
        total = table.context_stats(ctx[-1])[0]
        return (table.count(grams[-1]) + k) / (total + k * self.vocab_size)

    def _interpolated(self, ctx: list[np.ndarray], grams: list[np.ndarray]) -> np.ndarray:
        """``Σ_j λ_j P_j / Σ_j λ_j`` over the uniform and the orders whose context was seen."""
        lambdas = self.config.interpolation_weights()
        weighted = np.full(len(ctx[0]), lambdas[0] / self.vocab_size)  # Σ λ_j P_j
        weight = np.full(len(ctx[0]), lambdas[0])  # Σ λ_j over the orders kept
        backoff = np.zeros(len(ctx[0]))  # the MLE with backoff, if no weight is left
        for j in range(len(ctx)):
            p_j, seen = self._mle_of_order(ctx[j], grams[j], j + 1)
            weighted += lambdas[j + 1] * seen * p_j
            weight += lambdas[j + 1] * seen
            backoff = np.where(seen, p_j, backoff)
        return np.where(weight > 0, weighted / np.where(weight > 0, weight, 1), backoff)

    def _kneser_ney(self, ctx: list[np.ndarray], grams: list[np.ndarray]) -> np.ndarray:
        """Interpolated Kneser-Ney, from the uniform up to order ``len(ctx)`` (see the class)."""
        n, d, compat = self.n, self.config.discount, self.config.nltk_compat
        p = np.full(len(ctx[0]), 1.0 / self.vocab_size)  # P_0, the uniform
        for j in range(len(ctx)):
            m = j + 1  # the order of this level
            table = self._raw[m] if m == n else self._continuation[m]
            total, types = table.context_stats(ctx[j])
            if compat and m < n:
                types = self._raw[m].context_stats(ctx[j])[1]  # nltk's raw followers, (b)
            d_m = 0.0 if compat and m == 1 else d  # nltk: no discount, no uniform, (a)
            alpha = np.maximum(table.count(grams[j]) - d_m, 0) / np.maximum(total, 1)
            gamma = d_m * types / np.maximum(total, 1)
            p = np.where(total > 0, alpha + gamma * p, p)  # unseen context: skip the order
        return p

    def _check_fitted(self) -> None:
        if self._vocab is None:
            raise ValueError("This NGramLM has not been trained: call fit(...) first.")

    def _padded_ids(self, sentences: list, tokens: Iterable[str]) -> tuple[np.ndarray, ...]:
        """``pad``ded ids of the sentences, whose distinct ``tokens`` are given (unknown: UNK)."""
        ids, lengths = encode_sentences(sentences, dict(zip(tokens, self._ids(tokens))))
        return pad(ids, lengths, self.n, self._stoi.get(BOS, -1), self._stoi[EOS])  # -1: n = 1

    def _context_ids(self, context: Sequence[str]) -> np.ndarray:
        """Ids of the last n-1 tokens of ``context``, shape (L,) with L <= n-1."""
        tokens = list(context)[-(self.n - 1) :] if self.n > 1 else []
        return self._ids(tokens)

    def _ids(self, tokens: Iterable[str]) -> np.ndarray:
        """The tokens' ids (unknown: UNK), (L,); a token that is not a str is refused, as by fit."""
        check_strings(tokens := list(tokens))  # as fit does
        return np.array([self.stoi.get(t, UNK_ID) for t in tokens], dtype=np.int64)

    def _count_in(self, ngram: Sequence[str], continuation: bool) -> int:
        """The raw or continuation count of a k-gram, k in 1..n (1..n-1 for continuations)."""
        self._check_fitted()
        what, highest = ("continuation_count", self.n - 1) if continuation else ("count", self.n)
        if not 1 <= len(ngram) <= highest:
            orders = f"1..{highest}" if highest else "none"
            raise ValueError(
                f"{what} takes an n-gram of order {orders} (n={self.n}), "
                f"got {tuple(ngram)!r} of order {len(ngram)}."
            )
        ids = self._ids(ngram)[None]  # (1, k)
        table = (self._continuation if continuation else self._raw)[len(ngram)]
        return int(table.count(pack(ids, self.vocab_size, self._dtype))[0])

    def __repr__(self) -> str:
        c = self.config
        trained = f", vocab_size={len(self._vocab)}" if self._vocab is not None else ""
        return f"NGramLM(n={c.n}, smoothing={c.smoothing!r}{trained})"
