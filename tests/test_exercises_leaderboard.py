"""Notebook 16's exercises: the references agree with ``lmcourse.lm.bits_per_character``, with
counts on the course's text and with a brute-force front, a learner's right answers pass,
typical mistakes are named, and no feedback shows the answer."""

import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from lmcourse.bpe import train_bpe
from lmcourse.data import load_text
from lmcourse.exercises import check, describe, get
from lmcourse.exercises.leaderboard import (
    LEADERBOARD,
    bits_per_character,
    pareto_front,
    word_perplexity,
)
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.lm import bits_per_character as model_bits_per_character
from lmcourse.lm import bits_per_token, evaluate
from lmcourse.tokenizers import CharTokenizer

NOTEBOOK_16 = ["16.bits_per_character", "16.word_perplexity", "16.pareto_front"]

README = Path(__file__).parents[1] / "README.md"
SPEECH = (
    "ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet "
    "is the sun.\n\nJULIET:\nO Romeo, Romeo! wherefore art thou Romeo? 'Tis but thy name.\n"
)


def leaderboard_rows() -> list[tuple[float, float]]:
    """(parameters or counts, bits) of each row of the README's leaderboard table, in order."""
    section = README.read_text(encoding="utf-8").split("## Leaderboard")[1].split("\n## ")[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| ")]
    header, *rows = rows
    assert [column.strip() for column in header[1:3]] == ["bits per character", "parameters"]
    return [(int(size.split()[0].replace(",", "")), float(bits.strip(" *")))
            for _, bits, size, *_ in rows]  # fmt: skip


def test_the_cases_numbers_are_the_courses():
    assert [(size, bits) for _, size, bits in LEADERBOARD] == leaderboard_rows()
    assert get("16.pareto_front").case_list()[1] == (LEADERBOARD,)
    text = load_text("tiny-shakespeare")
    assert (len(text), len(text.split())) == (1_115_394, 205_335)
    assert get("16.word_perplexity").case_list()[1] == (2.128, len(text) / len(text.split()))
    # the bits of the cases: the README's rows for the BPE GPT, the cpu GPT, uniform, shipped
    bits = [
        round(bits_per_character(*case), 3) for case in get("16.bits_per_character").case_list()
    ]
    assert bits[:4] == [2.359, 2.731, 6.129, 2.128]
    assert 111_537 / 47_666 == pytest.approx(2.34, abs=0.001)


# --------------------------------------------------------------------------- bits_per_character


def test_bits_per_character_by_hand():
    assert bits_per_character(math.log(2), 10, 10) == pytest.approx(1.0)  # a bit is ln 2 nats
    assert bits_per_character(math.log(4), 3, 6) == pytest.approx(1.0)  # 6 bits, 6 characters
    assert bits_per_character(0.0, 500, 1170) == 0.0
    assert bits_per_character(1.8932, 111_540, 111_540) == pytest.approx(1.8932 / math.log(2))


def tiny_gpt(vocab_size: int, block_size: int) -> GPT:
    config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=1, n_head=2,
                       n_embd=16)  # fmt: skip
    return GPT(config, generator=torch.Generator().manual_seed(16)).eval()


def nats_per_token(model: GPT, ids: list[int]) -> float:
    """The mean cross-entropy of every token after the first, in one window, computed here."""
    ids = torch.tensor(ids)
    with torch.no_grad():
        logits = model(ids[None, :-1])[0][0]  # (T, V)
    return F.cross_entropy(logits.double(), ids[1:]).item()


def characters_predicted(tokenizer, text: str) -> int:
    """The characters that end inside a predicted token: all but those the first token spells
    whole. (The first token has no context, so it is not predicted; a byte-level token may end
    in the middle of a character, which then belongs to the second token.)"""
    first_bytes = len(bytes(tokenizer.decode_bytes(tokenizer.encode(text)[:1])))
    ends = np.cumsum([len(char.encode("utf-8")) for char in text])  # each character's last byte
    return int((ends > first_bytes).sum())


@pytest.mark.parametrize("text", [SPEECH, "中文 and Romeo, Romeo! " * 3, "Juliet " + SPEECH])
def test_bits_per_character_is_lm_bits_per_character_over_bpe(text):
    tokenizer = train_bpe(SPEECH * 3, 300)
    ids = tokenizer.encode(text)
    model = tiny_gpt(tokenizer.vocab_size, block_size=len(ids))
    # lmcourse.lm.bits_per_character divides by the characters of the *predicted* tokens: the
    # first token is the context of the second and is never predicted, so neither its loss nor
    # the characters it spells count. The exercise gets exactly those counts as its arguments.
    tokens, characters = len(ids) - 1, characters_predicted(tokenizer, text)
    expected = model_bits_per_character(model, tokenizer, text, block_size=len(ids))
    got = bits_per_character(nats_per_token(model, ids), tokens, characters)
    assert got == pytest.approx(expected, rel=1e-5)  # the model computes in float32
    # with all the text's characters instead, the loss would look lower by the first token's;
    # 中's first byte alone is the first token, which spells no whole character: none skipped
    whole = bits_per_character(nats_per_token(model, ids), tokens, len(text))
    assert whole == pytest.approx(expected * characters / len(text), rel=1e-5)
    assert (whole < got) == (characters < len(text)) == (not text.startswith("中"))
    # in windows shorter than the text, evaluate's mean is the nats per predicted token
    windowed = evaluate(model, torch.tensor(ids), block_size=16)
    assert bits_per_character(windowed, tokens, characters) == pytest.approx(
        model_bits_per_character(model, tokenizer, text, block_size=16), rel=1e-9
    )


def test_bits_per_character_of_a_character_model_is_bits_per_token():
    tokenizer = CharTokenizer.from_text(SPEECH)
    ids = tokenizer.encode(SPEECH)
    model = tiny_gpt(tokenizer.vocab_size, block_size=len(ids))
    n = len(ids) - 1  # predicted tokens, and the characters they are
    got = bits_per_character(nats_per_token(model, ids), n, n)
    assert got == pytest.approx(model_bits_per_character(model, tokenizer, SPEECH, len(ids)))
    assert got == pytest.approx(bits_per_token(model, torch.tensor(ids), len(ids)), rel=1e-5)


# --------------------------------------------------------------------------- word_perplexity


def test_word_perplexity_by_hand():
    assert word_perplexity(2.0, 5.0) == 1024.0
    assert word_perplexity(1.0, 1.0) == 2.0 and word_perplexity(0.0, 5.5) == 1.0
    assert word_perplexity(2.128, 5.5) == pytest.approx(3336.2, abs=0.1)


@pytest.mark.parametrize("case", get("16.word_perplexity").case_list())
def test_word_perplexity_is_the_exponential_of_the_nats_a_word(case):
    bits, chars_per_word = case
    nats = math.log(2) * bits * chars_per_word
    assert word_perplexity(bits, chars_per_word) == pytest.approx(math.exp(nats), rel=1e-12)


def test_word_perplexity_is_counted_word_by_word_on_shakespeare():
    # a unigram character model of tiny-shakespeare, scored on the text itself: its bits per
    # character, and its perplexity per word counted word by word, each word with the spaces
    # or punctuation after it, so that the words spell the whole text
    text = load_text("tiny-shakespeare")
    counts = Counter(text)
    nats = {char: -math.log(count / len(text)) for char, count in counts.items()}
    bits_per_char = math.fsum(n * counts[c] for c, n in nats.items()) / len(text) / math.log(2)
    words = re.findall(r"\S+\s*", text)
    assert "".join(words) == text and len(words) == len(text.split())
    word_nats = [math.fsum(nats[char] for char in word) for word in words]
    counted = math.exp(math.fsum(word_nats) / len(words))  # e^(mean nats a word)
    assert word_perplexity(bits_per_char, len(text) / len(words)) == pytest.approx(counted)
    assert 4.5 < bits_per_char < 5  # the README's unigram, 4.774 bits on the validation text


# --------------------------------------------------------------------------- pareto_front


def brute_force_front(models):
    """The models that no other dominates, one pair at a time, sorted by size, bits, name."""
    front = []
    for name, size, bits in models:
        dominated = False
        for _, other_size, other_bits in models:
            as_good = other_size <= size and other_bits <= bits
            better = other_size < size or other_bits < bits
            dominated = dominated or (as_good and better)
        if not dominated:
            front.append((size, bits, name))
    return [name for _, _, name in sorted(front)]


def test_pareto_front_by_hand():
    assert pareto_front(LEADERBOARD) == [
        "uniform", "unigram", "char bigram", "neural bigram", "MLP", "RNN lr 3e-3", "GRU",
        "char 6-gram KN", "GPT ship",
    ]  # fmt: skip
    assert pareto_front([("b", 10, 2.0), ("a", 10, 2.0), ("c", 20, 3.0)]) == ["a", "b"]
    assert pareto_front([("a", 10, 2.0), ("b", 10, 2.0), ("c", 5, 1.0)]) == ["c"]
    assert pareto_front([("x", 1, 1.0)]) == ["x"] and pareto_front([]) == []


MODELS = st.lists(
    st.tuples(
        st.text("abcdef", min_size=1, max_size=3),
        st.integers(0, 6),
        st.sampled_from([1.5, 2.0, 2.128, 2.5, 3.0]),
    ),  # fmt: skip
    max_size=12,
    unique_by=lambda model: model[0],
)


@given(MODELS)
def test_pareto_front_is_the_brute_force_front(models):
    front = pareto_front(models)
    assert front == brute_force_front(models)
    # and in words: every model left out is beaten by one on the front, and the front's bits
    # fall as its size grows (equal only for models of the same size and bits)
    on_front = [m for m in models if m[0] in front]
    for name, size, bits in models:
        if name not in front:
            assert any(s <= size and b <= bits and (s, b) != (size, bits) for _, s, b in on_front)
    points = [(size, bits) for _, size, bits in sorted(on_front, key=lambda m: front.index(m[0]))]
    assert all(a == b or (a[0] < b[0] and a[1] > b[1]) for a, b in zip(points, points[1:]))


@pytest.mark.parametrize("case", get("16.pareto_front").case_list())
def test_pareto_front_cases_are_the_brute_forces(case):
    assert pareto_front(*case) == brute_force_front(*case)


# --------------------------------------------------------------------------- right answers


def test_a_learners_right_answers_pass():
    def learner_bits(nats_per_token, tokens, characters):
        total_bits = nats_per_token * tokens * math.log2(math.e)
        return total_bits / characters

    def learner_front(models):  # one sweep by size: keep what beats every smaller model
        front, best, last = [], math.inf, None
        for name, size, bits in sorted(models, key=lambda m: (m[1], m[2], m[0])):
            if bits < best or (size, bits) == last:
                front.append(np.str_(name))  # numpy strings are strings
                best, last = bits, (size, bits)
        return front

    assert check("16.bits_per_character", learner_bits)
    assert check("16.bits_per_character", lambda n, t, c: np.float64(n) * t / np.log(2) / c)
    assert check("16.bits_per_character", lambda n, t, c: np.float32(n) * t / np.log(2) / c)
    assert check("16.word_perplexity", lambda b, w: math.exp(math.log(2) * b * w))
    assert check("16.word_perplexity", lambda b, w: (2**b) ** w)
    assert check("16.word_perplexity", lambda b, w: np.exp2(b * w))
    assert check("16.pareto_front", learner_front)
    assert check("16.pareto_front", brute_force_front)
    # a tuple of the names passes, as a tuple does for a list everywhere in the checker
    assert check("16.pareto_front", lambda models: tuple(learner_front(models)))


# --------------------------------------------------------------------------- typical mistakes


def bits(log=None, per=lambda n, t, c: n * t / c):
    """A learner's bits per character: ``per`` nats, over ``log`` (ln 2 by default)."""
    return lambda n, t, c: per(n, t, c) / (math.log(2) if log is None else log)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (bits(log=1.0), "that is in nats per character"),
        (bits(log=math.log10(2)), "not math.log10(2)"),
        (bits(log=math.log(10)), "divide by ln 2, not by ln 10 nor times it"),
        (bits(log=1 / math.log(10)), "divide by ln 2, not by ln 10 nor times it"),
        (bits(log=1 / math.log(2)), "bits = nats / ln 2, not nats · ln 2"),
        (bits(per=lambda n, t, c: n), "that is in bits per token"),
        (bits(per=lambda n, t, c: n * c / t), "the tokens and the characters are the wrong way"),
        (bits(per=lambda n, t, c: n * t), "that is the text's total in bits"),
        (bits(per=lambda n, t, c: n / c), "nats_per_token is a mean: multiply it by the tokens"),
        (lambda n, t, c: 1.0, "turn the mean into the text's total"),
    ],
)
def test_bits_per_character_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("16.bits_per_character", wrong)


def test_bits_per_character_feedback_shows_the_case(feedback):
    text = feedback("16.bits_per_character", bits(per=lambda n, t, c: n))
    assert "for inputs 3.8262, 47666, 111537: expected 2.359021808" in text
    assert "got 5.520039765449352 (that is in bits per token: multiply by the tokens" in text
    # the character models' tokens are their characters: bits per token are bits per character
    assert text.startswith("✗ 16.bits_per_character: 5 of 10 cases fail.")


def perplexity(base=2.0, exponent=lambda b, w: b * w):
    return lambda b, w: base ** exponent(b, w)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (perplexity(base=math.e), "the perplexity is 2, not e nor 10"),
        (perplexity(base=10.0), "the perplexity is 2, not e nor 10"),
        (perplexity(exponent=lambda b, w: b), "that is the perplexity per character"),
        (lambda b, w: b * w, "that is the bits per word, a logarithm"),
        (perplexity(exponent=lambda b, w: b / w), "multiply the bits per character by it"),
        (perplexity(exponent=lambda b, w: b * (w - 1)), "already counts the space or punctuation"),
        (perplexity(exponent=lambda b, w: b * (w + 1)), "already counts the space or punctuation"),
        (lambda b, w: 2**b * w, "perplexities multiply"),
        (lambda b, w: 7.0, "find the bits a word costs"),
    ],
)
def test_word_perplexity_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("16.word_perplexity", wrong)


def front(beats=None, key=lambda m: (m[1], m[2], m[0])):
    """A learner's front with a choice of slips: who ``beats`` whom, and the order."""
    beats = beats or (lambda a, b: a[1] <= b[1] and a[2] <= b[2] and a[1:] != b[1:])

    def pareto_front(models):
        kept = [m for i, m in enumerate(models)
                if not any(beats(o, m) for j, o in enumerate(models) if j != i)]  # fmt: skip
        return [m[0] for m in sorted(kept, key=key)]

    return pareto_front


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda models: [m[0] for m in sorted(models, key=lambda m: m[2])], "that keeps models"),
        (front(beats=lambda a, b: False), "that keeps models that another one beats"),
        (front(beats=lambda a, b: a[2] < b[2]), "compare both axes"),
        (lambda models: [min(models, key=lambda m: m[2])[0]] if models else [], "compare both"),
        (front(beats=lambda a, b: a[1] < b[1]), "compare both axes"),
        (front(beats=lambda a, b: a[1] <= b[1] and a[2] <= b[2]), "do not beat each other"),
        (front(beats=lambda a, b: a[1] < b[1] and a[2] < b[2]), "the same size with fewer bits"),
        (
            front(beats=lambda a, b: a[1] <= b[1] and a[2] >= b[2] and a[1:] != b[1:]),
            "fewer bits is better",
        ),  # fmt: skip
        (front(key=lambda m: m[2]), "sort the front by size"),
        (front(key=lambda m: -m[1]), "sort the front by size"),
        (front(key=lambda m: m[1]), "(ties by bits, then name)"),
        (lambda models: [m[0] for m in models[-1:]], "keep each model that no other matches"),
    ],
)
def test_pareto_front_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("16.pareto_front", wrong)


def test_pareto_front_feedback_shows_the_case_and_what_differs(feedback):
    text = feedback("16.pareto_front", front(beats=lambda a, b: a[1] <= b[1] and a[2] <= b[2]))
    shown = "('big', 20, 2.5), ('be…: expected 4 names, got 2; first difference at position 1: "
    assert shown + "expected 'one', got 'best' (two models of the same size and bits do" in text
    # the right names in an order no slip explains
    message = get("16.pareto_front").compare(["a", "b", "c"], ["b", "a", "c"])
    assert message == "position 0: expected 'a', got 'b' (the right models in the wrong order: " \
        "sort them by size, smallest first)"  # fmt: skip


# --------------------------------------------------------------------------- bad answers


def test_bad_front_answers_get_clear_feedback(feedback):
    name = "16.pareto_front"
    text = feedback(name, lambda models: pareto_front(models) if models else None)
    assert "your function returned None (is a `return` missing?)" in text
    text = feedback(name, lambda models: ", ".join(pareto_front(models)))
    assert "expected a list, got a str (return a list of the models' names)" in text
    text = feedback(name, lambda models: set(pareto_front(models)))
    assert "expected a list, got a set (a set has no order: return a list, sorted by size)" in text
    text = feedback(name, lambda models: np.array(pareto_front(models)))
    assert "expected a list, got a numpy array (return a plain list: x.tolist())" in text
    text = feedback(name, lambda models: [m for m in models if m[0] in pareto_front(models)])
    assert "not their (name, size, bits) tuples)" in text
    text = feedback(name, lambda models: [models.index(m) for m in models if m[0] in
                                          pareto_front(models)])  # fmt: skip
    assert "(the items are the models' names, strings)" in text


# --------------------------------------------------------------------------- every exercise


def test_describe_shows_the_signatures_and_a_first_case():
    signatures = [
        "bits_per_character(nats_per_token: float, tokens: int, characters: int) -> float",
        "word_perplexity(bits_per_char: float, chars_per_word: float) -> float",
        "pareto_front(models: list[tuple[str, float, float]]) -> list[str]",
    ]
    for name, signature in zip(NOTEBOOK_16, signatures):
        assert describe(name).startswith(f"{name}: write {signature}\n")
    assert ">>> word_perplexity(2.128, 5.5)\n    3336.22297" in describe("16.word_perplexity")
    assert ">>> pareto_front([('a', 10, 2.0), ('b', 20, 1.5), ('c', 30, 1.8)])\n    ['a', 'b']" in (
        describe("16.pareto_front")
    )


def test_feedback_never_shows_the_solution_code(solution_hidden):
    attempts = {
        "16.bits_per_character": [bits(log=1.0), bits(per=lambda n, t, c: n), lambda *a: 42.0],
        "16.word_perplexity": [perplexity(base=math.e), lambda b, w: b * w, lambda *a: 42.0],
        "16.pareto_front": [
            front(beats=lambda a, b: False),
            front(key=lambda m: m[2]),
            lambda models: ["GPT ship"],
        ],  # fmt: skip
    }
    for name, wrong in attempts.items():
        solution_hidden(name, wrong)
