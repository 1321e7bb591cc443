"""lmcourse.applications: the three task rules, the training rows, greedy answers and scores."""

import math
import re

import nltk
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcourse.applications import (
    ARCHAIC,
    END,
    IGNORE,
    TASKS,
    Example,
    char_error_rate,
    common_words,
    complete,
    edit_distance,
    encode_examples,
    gist,
    modernise,
    question_examples,
    score,
    speeches,
    task_examples,
)
from lmcourse.bpe import train_bpe
from lmcourse.data import clean_play
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.supervised import train_rows
from lmcourse.tokenizers import CharTokenizer

PLAY = """ROMEO:
Is she a Capulet?
O dear account!

Nurse:
The son and heir of old Tiberio.

ROMEO:
Thou art a villain, and hath been.

JULIET:
'Tis but thy name that is my enemy;

MERCUTIO:
Nay, I'll go with thee.
"""


# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    "line, modern",
    [
        ("Thou art mad.", "You are mad."),
        ("Art thou mad?", "Are you mad?"),
        ("the art of war", "the art of war"),  # "art" alone is a noun: left alone
        ("'Tis thy name; hath he?", "It is your name; has he?"),
        ("Methinks I hear thee", "I think I hear you"),
        ("Thoughtful Thomas", "Thoughtful Thomas"),  # whole words only: no "you"ghtful
        ("O'er the hill, ne'er", "Over the hill, never"),
    ],
)
def test_modernise_by_hand(line, modern):
    assert modernise(line) == modern


words = st.lists(st.sampled_from([*ARCHAIC, "art", "the", "Thou", "king", "Hath", "o"]))


@settings(max_examples=200, deadline=None)
@given(words)
def test_modernise_leaves_no_archaic_word_and_is_idempotent(tokens):
    line = " ".join(tokens)
    modern = modernise(line)
    assert modernise(modern) == modern
    left = {w.lower() for w in re.findall(r"'?[A-Za-z]+(?:'[A-Za-z]+)*", modern)}
    assert not left & set(ARCHAIC)


def test_common_words_and_gist():
    text = "the king and the queen; the king is old, and the end"
    assert common_words(text, 2) == {"the", "king"}
    assert gist("The King is old, and the Queen is not.", {"the", "is", "and", "not"}) == (
        "King old Queen"
    )
    assert gist("the the", {"the"}) == ""


@pytest.mark.parametrize("k", [0, -1, 2.0, True])
def test_common_words_refuses_a_k_below_1(k):
    with pytest.raises(ValueError, match=f"k must be an integer >= 1, got {k!r}"):
        common_words("the king and the queen", k)


@pytest.mark.parametrize("stop_words, given", [("the and", "a str"), (None, "NoneType"),
                                               ({"the", 1}, "1")])  # fmt: skip
def test_gist_and_task_examples_refuse_stop_words_that_are_not_words(stop_words, given):
    with pytest.raises(TypeError, match=f"stop_words must be a set of words.*got {given}"):
        gist("The son and heir.", stop_words)
    with pytest.raises(TypeError, match=f"stop_words must be a set of words.*got {given}"):
        task_examples(PLAY, 2, stop_words)


def test_speeches_common_words_and_task_examples_refuse_a_text_that_is_not_a_str():
    for call in (lambda: speeches(None), lambda: common_words(b"the king"),
                 lambda: task_examples(None, 5, set())):  # fmt: skip
        with pytest.raises(TypeError, match=r"text must be a str \(a text from lmcourse.data"):
            call()


def test_speeches_reads_the_cleaned_text():
    text = clean_play("**ROMEO**  \nIs she a Capulet?  \nO dear!\n\n**Nurse**  \nThe son.\n")
    assert speeches(text) == [("ROMEO", ["Is she a Capulet?", "O dear!"]), ("Nurse", ["The son."])]


# --------------------------------------------------------------------------- the examples


def examples_of(task, examples):
    return [e for e in examples if e.task == task]


def test_task_examples_follow_their_rules():
    stop = {"the", "a", "and", "of", "is", "that", "my", "i'll", "go", "with"}
    examples = task_examples(PLAY, 10, stop, 40, torch.Generator().manual_seed(0))
    assert {e.task for e in examples} == set(TASKS)
    for e in examples_of("translate", examples):
        source = e.prompt.removeprefix("OLD:\n").removesuffix("\nNEW:\n")
        assert e.prompt == f"OLD:\n{source}\nNEW:\n" and e.answer == modernise(source) != source
    assert len(examples_of("translate", examples)) == 3  # the three lines with archaic words
    for e in examples_of("summarise", examples):
        source = e.prompt.removeprefix("LINE:\n").removesuffix("\nGIST:\n")
        assert e.answer == gist(source, stop) != ""
    for e in examples_of("answer", examples):  # a cloze question about one of the two lines
        first, second, question, answer = e.prompt.split("\n")
        (a, la), (b, lb) = first.split(": ", 1), second.split(": ", 1)
        assert a != b and question.startswith("Q: ") and question.endswith(" ...")
        asked = question.removeprefix("Q: ").removesuffix(" ...")
        assert answer == "A: " and f"{la}\n{lb}".count(asked) == 1  # one place to look
        line = la if asked in la else lb
        assert re.match(rf"{re.escape(asked)}\W*{e.answer}\b", line)  # the word that follows
        assert e.answer.isalpha() and len(e.answer) >= 3
    assert examples_of("answer", examples)
    assert all(e.text == e.prompt + e.answer + END for e in examples)


def test_question_examples_ask_who_said_a_word_of_one_line():
    turns = speeches(PLAY)
    examples = question_examples(turns, 10, 40, torch.Generator().manual_seed(0))
    assert examples
    for e in examples:
        first, second, question = e.prompt.split("\n")[:3]
        (a, la), (b, lb) = first.split(": ", 1), second.split(": ", 1)
        word = question.removeprefix("WHO SAID ").removesuffix("?")
        in_a, in_b = (word in re.findall(r"[A-Za-z']+", line) for line in (la, lb))
        assert len(word) >= 4 and in_a != in_b  # in exactly one of the two lines
        assert e.answer == (a if in_a else b) and a != b
    assert question_examples(turns, 10, 40, max_name=3) == []  # every name is longer


def test_task_examples_are_seeded_and_bounded():
    stop = common_words(PLAY, 5)
    first = task_examples(PLAY, 2, stop, 40, torch.Generator().manual_seed(1))
    again = task_examples(PLAY, 2, stop, 40, torch.Generator().manual_seed(1))
    assert first == again
    assert all(len(examples_of(t, first)) <= 2 for t in TASKS)
    short = task_examples(PLAY, 50, stop, 20, torch.Generator().manual_seed(1))
    for e in short:  # no line (nor name) longer than max_chars
        assert all(len(line.partition(": ")[2] or line) <= 20 for line in e.prompt.split("\n")[:2])
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        task_examples(PLAY, 0, stop)
    with pytest.raises(ValueError, match="max_chars must be a positive integer, got -1"):
        task_examples(PLAY, 2, stop, max_chars=-1)
    assert task_examples("no speeches here", 2, stop) == []


# --------------------------------------------------------------------------- training rows


def test_with_bpe_the_answers_first_token_is_learned_where_complete_asks_for_it():
    # GPT-2's split joins a space to the word after it: encoded whole, "A: heir" ends in the
    # token " heir" and the prompt "A: " in " ", so the answer's first token was never a target
    tok = train_bpe("Q: The son and ...\nA: heir\n" * 50 + " heir heir the son", 270)
    example = Example("answer", "Q: The son and ...\nA: ", "heir")
    idx, targets = encode_examples([example], tok, 64)
    prompt = tok.encode(example.prompt)
    assert idx[0, : len(prompt)].tolist() == prompt  # the prompt's own ids, as complete() sees
    scored = [tok.decode([t]) for t in targets[0].tolist() if t != IGNORE]
    assert "".join(scored) == "heir\n" and scored[0] != "\n"


def test_encode_examples_by_hand():
    tok = CharTokenizer.from_text("abc\n")
    idx, targets = encode_examples(
        [Example("t", "ab", "c"), Example("t", "a", "")], tok, block_size=5
    )
    a, b, c, n = tok.encode("abc\n")
    assert idx.tolist() == [[a, b, c], [a, 0, 0]]  # padded to the longest row
    assert targets.tolist() == [[IGNORE, c, n], [n, IGNORE, IGNORE]]
    with pytest.raises(ValueError, match="no examples to encode"):
        encode_examples([], tok, block_size=5)
    with pytest.raises(ValueError, match="has 4 tokens, more than block_size \\+ 1 = 3"):
        encode_examples([Example("t", "ab", "c")], tok, block_size=2)


def test_the_loss_of_a_row_is_the_mean_surprise_of_its_answer():
    """Independent reference: run each example's text alone, add -log p of the answer's tokens."""
    examples = [Example("t", "hello ", "world"), Example("t", "ab", "ba"), Example("t", "x", "")]
    tok = CharTokenizer.from_text("".join(e.text for e in examples))
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2,
                          n_embd=8), generator=torch.Generator().manual_seed(0))  # fmt: skip
    idx, targets = encode_examples(examples, tok, block_size=16)
    _, loss = model(idx, targets)
    total, count = 0.0, 0
    for e in examples:
        ids = torch.tensor([tok.encode(e.text)])
        logp = F.log_softmax(model(ids)[0][0], dim=-1)  # (T, V)
        for t in range(len(tok.encode(e.prompt)), ids.shape[1]):  # each answer token, and END
            total -= logp[t - 1, ids[0, t]].item()
            count += 1
    assert count == 5 + 1 + 2 + 1 + 0 + 1
    assert math.isclose(loss.item(), total / count, rel_tol=1e-5)


def tiny_model(vocab_size, seed=0):
    config = GPTConfig(vocab_size=vocab_size, block_size=24, n_layer=2, n_head=2, n_embd=32)
    return GPT(config, generator=torch.Generator().manual_seed(seed))


def test_train_rows_learns_answers_and_complete_gives_them_back():
    examples = [
        Example("t", "OLD:\nthou\nNEW:\n", "you"),
        Example("t", "OLD:\nhath\nNEW:\n", "has"),
    ]
    tok = CharTokenizer.from_text("".join(e.text for e in examples))
    model = tiny_model(tok.vocab_size)
    rows = encode_examples(examples, tok, 24)
    losses = train_rows(model, rows, steps=150, batch_size=4, lr=3e-3,
                        generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert len(losses) == 150 and losses[-1] < 0.05 < losses[0]
    assert not model.training
    assert [complete(model, tok, e.prompt) for e in examples] == ["you", "has"]
    assert len(complete(model, tok, "OLD:\n", max_new_tokens=2)) <= 2  # cut at max_new_tokens
    with pytest.raises(ValueError, match="the prompt is empty"):
        complete(model, tok, "")


def test_train_rows_is_seeded_and_leaves_the_global_random_state_alone():
    examples = [Example("t", "ab", "ba"), Example("t", "ba", "ab")]
    tok = CharTokenizer.from_text("ab\n")
    rows = encode_examples(examples, tok, 8)
    runs = []
    for _ in range(2):
        model = GPT(GPTConfig(vocab_size=3, block_size=8, n_layer=1, n_head=1, n_embd=8,
                              dropout=0.2), generator=torch.Generator().manual_seed(0))  # fmt: skip
        state = torch.get_rng_state()
        runs.append(train_rows(model, rows, 5, 2, generator=torch.Generator().manual_seed(3)))
        assert torch.equal(torch.get_rng_state(), state)
    assert runs[0] == runs[1]


def test_train_rows_names_bad_input():
    model = tiny_model(3)
    rows = (torch.zeros(4, 8, dtype=torch.long), torch.zeros(3, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"as many rows, got \[4, 3\]"):
        train_rows(model, rows, 1)
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        train_rows(model, rows[:1], 0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got -1"):
        train_rows(model, rows[:1], 1, batch_size=-1)


# --------------------------------------------------------------------------- scores


@settings(max_examples=300, deadline=None)
@given(st.text("abc ", max_size=12), st.text("abcd", max_size=12))
def test_edit_distance_equals_nltk(a, b):
    assert edit_distance(a, b) == nltk.edit_distance(a, b)


def test_char_error_rate_and_score_by_hand():
    assert char_error_rate("kitten", "sitting") == 3 / 7
    with pytest.raises(ValueError, match="reference is empty"):
        char_error_rate("a", "")
    examples = [Example("translate", "p", "you are"), Example("translate", "p", "has"),
                Example("answer", "p", "ROMEO")]  # fmt: skip
    table = score(["you are", "hath", "JULIET"], examples)
    assert table["translate"] == {"exact": 0.5, "cer": (0 + 2 / 3) / 2, "n": 2}
    assert table["answer"] == {"exact": 0.0, "cer": 5 / 5, "n": 1}  # J-R U-O L-M, -I, E, T-O
    assert "summarise" not in table
    with pytest.raises(ValueError, match="2 predictions for 3 examples"):
        score(["a", "b"], examples)


def test_train_rows_decays_the_learning_rate_along_lr_at():
    """A cosine to min_lr = lr is the constant rate; to a lower min_lr, the first loss (before
    any step) is the same, and every later one differs (lr_at's cosine starts at step 1)."""
    tok = CharTokenizer.from_text("ab\n")
    rows = encode_examples([Example("t", "ab", "ba"), Example("t", "ba", "ab")], tok, 8)

    def run(**kwargs):
        model = tiny_model(3)
        losses = train_rows(model, rows, 6, 2, 1e-2, torch.Generator().manual_seed(0), **kwargs)
        return losses, model.lm_head.weight.detach().clone()

    constant, same, decayed = run(), run(min_lr=1e-2), run(min_lr=0.0)
    assert constant[0] == same[0] and torch.equal(constant[1], same[1])
    assert decayed[0][0] == constant[0][0]
    assert all(d != c for d, c in zip(decayed[0][1:], constant[0][1:]))
    with pytest.raises(ValueError, match="min_lr"):
        train_rows(tiny_model(3), rows, 2, 2, 1e-3, min_lr=1.0)
    for lr in (-1e-3, 0, "1e-3"):  # named by the course before torch's AdamW sees it
        with pytest.raises(ValueError, match=f"learning_rate must be a number > 0, got {lr!r}"):
            train_rows(tiny_model(3), rows, 2, 2, lr)


def test_train_rows_stops_with_a_message_when_the_loss_is_not_finite():
    tok = CharTokenizer.from_text("ab\n")
    rows = encode_examples([Example("t", "ab", "ba")], tok, 8)
    model = tiny_model(3)
    with torch.no_grad():
        model.lm_head.weight.fill_(float("nan"))  # (tied to the embedding: every logit is nan)
    with pytest.raises(ValueError, match=r"the loss is nan at step 1: lower lr \(0.001\)"):
        train_rows(model, rows, 3, 1)
