"""How fast the n-gram models count and score, next to nltk.lm on the same data.

    python benchmarks/ngram.py            # about 2 minutes: nltk scores 2,000 trigrams
    python benchmarks/ngram.py --quick    # nltk scores only 200 trigrams

Prints a markdown table:

1. ours, word trigram Kneser-Ney (d = 0.75) on the train split of the whole Shakespeare corpus:
   fit, and the cross-entropy of the whole validation split (goals: < 5 s and < 1 s);
2. ours and nltk side by side on the data of docs/baselines.md (tiny-shakespeare, a 90/10 split,
   ``min_count = unk_cutoff = 2``): word trigram MLE, Laplace and Kneser-Ney (nltk_compat,
   d = 0.1), fit and the scoring of the first 2,000 validation trigrams, one ``prob`` / ``score``
   call each. Every probability must agree to 1e-6 (MLE: where nltk's context was seen; for
   an unseen context we back off, nltk says 0);
3. ours, character 5-gram Kneser-Ney on the whole corpus as one sequence: fit (goal < 10 s);
   the bits per character on the validation split come from a model of the train split.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from nltk.lm import MLE, KneserNeyInterpolated, Laplace, Vocabulary
from nltk.util import everygrams, ngrams

from lmcourse.data import load_text, train_val_split
from lmcourse.ngram import BOS, EOS, UNK, NGramLM
from lmcourse.tokenizers import WordTokenizer


def timed(fn, *args, repeat: int = 1, **kwargs):
    """(median seconds, the last result) of ``repeat`` calls of ``fn(*args, **kwargs)``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def score_all(score, grams) -> list[float]:
    """One ``score(token, context)`` call per n-gram, as a user of either library would."""
    return [score(gram[-1], gram[:-1]) for gram in grams]


def word_sentences(text: str) -> list[list[str]]:
    return [WordTokenizer.split(line) for line in text.splitlines() if line.strip()]


def padded(sentence, n: int) -> list[str]:
    return [BOS] * (n - 1) + list(sentence) + [EOS]


def fit_nltk(cls, train, n: int, min_count: int, **kwargs):
    """nltk's model of the same padded sentences (every k-gram, k = 1..n, counted)."""
    sentences = [padded(s, n) for s in train]
    model = cls(order=n, vocabulary=Vocabulary(unk_cutoff=min_count, unk_label=UNK), **kwargs)
    model.fit([everygrams(s, max_len=n) for s in sentences], [t for s in sentences for t in s])
    return model


def perplexity(probs: list[float]) -> float:
    if min(probs) == 0:
        return math.inf
    return 2 ** (-sum(math.log2(p) for p in probs) / len(probs))


def ours_at_scale(rows: list[tuple[str, str, str, str]]) -> None:
    """Row 1: word trigram KN on the whole corpus's train split."""
    train_text, val_text = train_val_split(load_text("shakespeare"))
    train, val = word_sentences(train_text), word_sentences(val_text)
    tokens = sum(map(len, train))
    fit_s, lm = timed(NGramLM(3, "kneser_ney", discount=0.75).fit, train, repeat=3)
    rows.append(
        (
            f"word trigram KN (d=0.75), fit: {tokens:,} train tokens, V={lm.vocab_size:,}",
            f"{fit_s:.2f} s",
            "—",
            "< 5 s",
        )
    )
    ce_s, ce = timed(lm.cross_entropy, val, repeat=3)
    n_val = sum(map(len, val)) + len(val)
    rows.append(
        (
            f"cross-entropy of the whole validation split ({n_val:,} predicted tokens)",
            f"{ce_s:.3f} s; {ce:.3f} bits, perplexity {2**ce:.1f}",
            "—",
            "< 1 s",
        )
    )


def side_by_side(rows: list[tuple[str, str, str, str]], num_trigrams: int) -> None:
    """Row 2: ours and nltk on the data of docs/baselines.md; every probability compared."""
    train_text, val_text = train_val_split(load_text("tiny-shakespeare"))
    train, val = word_sentences(train_text), word_sentences(val_text)
    grams = [g for s in val for g in ngrams(padded(s, 3), 3)][:num_trigrams]
    models = [  # name, ours, nltk class and arguments, the figures of docs/baselines.md
        ("MLE", dict(smoothing="mle"), MLE, {}, "≈3.4 s; ppl inf; 0.01 s"),
        ("Laplace", dict(smoothing="add_k", k=1.0), Laplace, {}, "≈3.4 s; ppl 2,237.5; 0.01 s"),
        (
            "KN (d=0.1)",
            dict(smoothing="kneser_ney", discount=0.1, nltk_compat=True),
            KneserNeyInterpolated,
            dict(discount=0.1),
            "≈3.4 s; ppl 278.0; 58.2 s (2,000)",
        ),
    ]
    tokens = sum(map(len, train))
    for name, ours_kwargs, cls, nltk_kwargs, baseline in models:
        ours_fit, ours = timed(NGramLM(3, min_count=2, **ours_kwargs).fit, train)
        nltk_fit, theirs = timed(fit_nltk, cls, train, 3, 2, **nltk_kwargs)
        assert len(ours.vocab) == len(theirs.vocab)
        ours_s, ours_p = timed(score_all, ours.prob, grams)
        nltk_s, nltk_p = timed(score_all, theirs.score, grams)
        backed_off = 0
        for gram, a, b in zip(grams, ours_p, nltk_p, strict=True):
            if name == "MLE" and theirs.context_counts(theirs.vocab.lookup(gram[:-1])).N() == 0:
                backed_off += 1
                continue
            assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12), (name, gram, a, b)
        note = f", {backed_off} backed off" if backed_off else ""
        rows.append(
            (
                f"word trigram {name}: {tokens:,} tokens, V={ours.vocab_size:,}; fit; "
                f"ppl and scoring of {len(grams):,} trigrams (agree to 1e-6{note})",
                f"{ours_fit:.2f} s; ppl {perplexity(ours_p):,.1f}; {ours_s:.3f} s",
                f"{nltk_fit:.2f} s; ppl {perplexity(nltk_p):,.1f}; {nltk_s:.3f} s",
                f"docs/baselines.md, nltk: {baseline}",
            )
        )


def characters(rows: list[tuple[str, str, str, str]]) -> None:
    """Row 3: character 5-gram KN on the whole corpus as one sequence."""
    text = load_text("shakespeare")
    train_text, val_text = train_val_split(text)
    fit_s, lm = timed(NGramLM(5, "kneser_ney").fit, [text], repeat=3)
    rows.append(
        (
            f"char 5-gram KN (d=0.75), fit on the whole corpus ({len(text):,} chars, one sequence)",
            f"{fit_s:.2f} s (V={lm.vocab_size})",
            "—",
            "< 10 s",
        )
    )
    train_s, lm = timed(NGramLM(5, "kneser_ney").fit, [train_text])
    ce_s, bpc = timed(lm.cross_entropy, [val_text])
    rows.append(
        (
            "char 5-gram KN fit on the train split; bits per char of the validation split",
            f"fit {train_s:.2f} s; {bpc:.3f} bits/char (scored in {ce_s:.2f} s)",
            "—",
            "—",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="nltk scores 200 trigrams")
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str]] = []
    ours_at_scale(rows)
    side_by_side(rows, num_trigrams=200 if args.quick else 2_000)
    characters(rows)
    print("| work | ours | nltk | goal |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
