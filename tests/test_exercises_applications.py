"""Notebook 14's exercises: the references agree with ``lmcourse.applications``
(``encode_examples``, ``question_examples``, ``edit_distance``) and with ``nltk.edit_distance``,
a learner's right answers pass, typical mistakes are named, and no feedback shows the answer."""

import functools
import inspect
import re
import string

import nltk
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcourse.applications import (
    END,
    IGNORE,
    WORD,
    Example,
    char_error_rate,
    common_words,
    encode_examples,
    question_examples,
    speeches,
    summary_examples,
    task_examples,
    translation_examples,
)
from lmcourse.applications import edit_distance as package_edit_distance
from lmcourse.data import load_text
from lmcourse.exercises import check, describe, get
from lmcourse.exercises.answer_scores import _SOLUTIONS as _SCORE_SOLUTIONS
from lmcourse.exercises.answer_scores import edit_distance
from lmcourse.exercises.applications import _SOLUTIONS as _APPLICATION_SOLUTIONS
from lmcourse.exercises.applications import (
    _WORD,
    SPEECHES,
    TASK_TEXTS,
    _char_ids,
    answer_targets,
    who_said,
)
from lmcourse.exercises.applications import IGNORE as EXERCISE_IGNORE
from lmcourse.tokenizers import CharTokenizer

NOTEBOOK_14 = ["14.answer_targets", "14.who_said", "14.edit_distance"]
_SOLUTIONS = {**_APPLICATION_SOLUTIONS, **_SCORE_SOLUTIONS}

PLAY = """ROMEO:
Is she a Capulet?
O dear account! my life is my foe's debt.

Nurse:
The son and heir of old Tiberio.

ROMEO:
Thou art a villain, and hath been.

JULIET:
'Tis but thy name that is my enemy;
Thou art thyself, though not a Montague.

MERCUTIO:
Nay, I'll go with thee; wherefore art thou sad?
"""


def test_the_constants_are_the_packages():
    ignore_index = inspect.signature(F.cross_entropy).parameters["ignore_index"].default
    assert EXERCISE_IGNORE == IGNORE == ignore_index == -100
    assert _WORD.pattern == WORD.pattern
    assert END == "\n"


def test_the_task_texts_of_the_cases_are_the_packages():
    tasks = ("translate", "summarise", "answer")
    translate, summarise, answer = (Example(t, *texts) for t, texts in zip(tasks, TASK_TEXTS))
    assert translation_examples(["Thou art mad."], 1) == [translate]
    assert summary_examples(["Now, fair Hippolyta,"], 1, {"now"}) == [summarise]
    turns = speeches(PLAY)[:2]  # Romeo and the Nurse; the word is drawn at random
    asked = {question_examples(turns, 1, 40, torch.Generator().manual_seed(s))[0]
             for s in range(30)}  # fmt: skip
    assert answer in asked


# --------------------------------------------------------------------------- answer_targets


def unpadded(examples, tokenizer, block_size=None):
    """``encode_examples``'s rows as lists, cut to each text's length less one (no padding)."""
    lengths = [len(tokenizer.encode(e.text)) - 1 for e in examples]
    idx, targets = encode_examples(examples, tokenizer, block_size or max(lengths))
    for row, n in enumerate(lengths):
        assert (targets[row, n:] == IGNORE).all()  # the padding is never scored
    return [(idx[row, :n].tolist(), targets[row, :n].tolist()) for row, n in enumerate(lengths)]


def exercise_rows(examples, tokenizer):
    """``answer_targets`` of each example, under ``tokenizer``."""
    end = tokenizer.encode(END)
    assert len(end) == 1
    return [answer_targets(tokenizer.encode(e.prompt), tokenizer.encode(e.answer), end[0])
            for e in examples]  # fmt: skip


def test_answer_targets_by_hand():
    assert answer_targets([5, 2, 7], [3, 4], 0) == ([5, 2, 7, 3, 4], [-100, -100, 3, 4, 0])
    assert answer_targets([4], [2, 9], 1) == ([4, 2, 9], [2, 9, 1])  # nothing to mask
    assert answer_targets([3, 1, 4, 1], [], 5) == ([3, 1, 4, 1], [-100, -100, -100, 5])
    # encode_examples's docstring: prompt "ab", answer "c": idx "abc", targets [IGNORE, c, \n]
    assert answer_targets([1, 2], [3], 0) == ([1, 2, 3], [IGNORE, 3, 0])


def test_the_cases_task_texts_are_char_tokenizers_and_encode_examples_rows():
    examples = [Example("translate", prompt, answer) for prompt, answer in TASK_TEXTS]
    for example in examples:
        tokenizer = CharTokenizer.from_text(example.text)
        prompt, answer, end = _char_ids(example.prompt, example.answer)
        assert (prompt, answer, [end]) == tuple(map(tokenizer.encode, (example.prompt,
                                                  example.answer, END)))  # fmt: skip
        assert [answer_targets(prompt, answer, end)] == unpadded([example], tokenizer, 90)
        assert (prompt, answer, end) in get("14.answer_targets").case_list()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.text("ab:?\n OLD", min_size=1, max_size=12), st.text("ab c\t'", max_size=8)),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 3),
)
def test_answer_targets_is_encode_examples_without_padding(texts, padding):
    examples = [Example("answer", prompt, answer) for prompt, answer in texts]
    tokenizer = CharTokenizer.from_text("".join(e.text for e in examples))
    longest = max(len(e.text) for e in examples) - 1
    assert exercise_rows(examples, tokenizer) == unpadded(examples, tokenizer, longest + padding)


def test_answer_targets_is_encode_examples_on_the_three_tasks():
    stop_words = common_words(PLAY, 12)
    examples = task_examples(PLAY, 5, stop_words, 45, torch.Generator().manual_seed(14))
    assert {e.task for e in examples} == {"translate", "summarise", "answer"}
    tokenizer = CharTokenizer.from_text(PLAY + "".join(e.text for e in examples))
    assert exercise_rows(examples, tokenizer) == unpadded(examples, tokenizer)


@given(
    st.lists(st.integers(0, 9), min_size=1, max_size=10),
    st.lists(st.integers(0, 9), max_size=10),
    st.integers(0, 9),
)
def test_answer_targets_scores_the_answer_and_end_alone(prompt, answer, end):
    inputs, targets = answer_targets(prompt, answer, end)
    assert len(inputs) == len(targets) == len(prompt) + len(answer)
    assert inputs + [targets[-1]] == prompt + answer + [end]  # the text, shifted by one
    assert [t for t in targets if t != IGNORE] == answer + [end]
    assert targets[: len(prompt) - 1] == [IGNORE] * (len(prompt) - 1)


def test_cross_entropy_of_the_targets_is_the_answers_loss():
    # what the -100s are for: the loss is the mean over the answer's tokens and END alone
    prompt, answer, end = [5, 2, 7], [3, 4], 0
    inputs, targets = answer_targets(prompt, answer, end)
    logits = torch.randn(len(inputs), 8, generator=torch.Generator().manual_seed(14))
    loss = F.cross_entropy(logits, torch.tensor(targets))
    scored = range(len(prompt) - 1, len(inputs))  # positions 2, 3, 4 predict 3, 4, END
    nll = [-logits[t].log_softmax(-1)[inputs[t + 1] if t + 1 < len(inputs) else end]
           for t in scored]  # fmt: skip
    torch.testing.assert_close(loss, torch.stack(nll).mean())


# --------------------------------------------------------------------------- who_said


def parse_question(prompt):
    """The (speaker, line) pairs and the word of a question prompt of ``question_examples``."""
    first, second, question, rest = prompt.split("\n")
    assert question.startswith("WHO SAID ") and question.endswith("?") and rest == ""
    return tuple(first.split(": ", 1)), tuple(second.split(": ", 1)), question[9:-1]


def test_who_said_by_hand():
    romeo, nurse = ("ROMEO", "Is she a Capulet?"), ("Nurse", "The son and heir of old Tiberio.")
    assert who_said(romeo, nurse, "heir") == "Nurse" == who_said(nurse, romeo, "heir")
    assert who_said(romeo, nurse, "Capulet") == "ROMEO"
    # heir is in "their", but not a word of it; "strain" is not a word of "strain'd"
    assert who_said(("A", "Their heir."), ("B", "Their son."), "heir") == "A"
    assert who_said(("A", "Not strain'd."), ("B", "Strain not."), "Strain") == "B"
    assert who_said(("A", "Come, madam."), ("B", "I come."), "come") == "B"


def test_who_said_answers_the_packages_questions_on_shakespeare():
    turns = speeches(load_text("tiny-shakespeare"))
    examples = question_examples(turns, 300, 60, torch.Generator().manual_seed(14))
    assert len(examples) == 300
    assert all(who_said(*parse_question(e.prompt)) == e.answer for e in examples)


@pytest.mark.parametrize("case", get("14.who_said").case_list())
def test_who_said_cases_are_questions_the_package_could_ask(case):
    first, second, word = case
    # question_examples asks about a word of 4+ letters in exactly one of the two lines
    words = [{w for w in WORD.findall(line) if len(w) >= 4 and w.isalpha()}
             for _, line in (first, second)]  # fmt: skip
    assert word in words[0] ^ words[1] and first[0] != second[0]
    prompt = f"{first[0]}: {first[1]}\n{second[0]}: {second[1]}\nWHO SAID {word}?\n"
    assert parse_question(prompt) == case


def test_the_speeches_of_the_cases_are_all_different_speakers():
    assert len({speaker for speaker, _ in SPEECHES}) == len(SPEECHES)


# --------------------------------------------------------------------------- edit_distance


def test_edit_distance_by_hand():
    assert edit_distance("kitten", "sitting") == 3  # k -> s, e -> i, + g
    assert edit_distance("flaw", "lawn") == 2  # − f, + n, though no position matches
    assert edit_distance("heir", "their") == 1
    assert edit_distance("", "thou") == 4 and edit_distance("Thou art", "") == 8
    assert edit_distance("", "") == 0 and edit_distance("mad", "mad") == 0


@given(st.text("abct ", max_size=12), st.text("abct ", max_size=12))
def test_edit_distance_is_the_packages_and_nltks(a, b):
    assert edit_distance(a, b) == package_edit_distance(a, b) == nltk.edit_distance(a, b)


@given(st.text(max_size=15), st.text(max_size=15))
def test_edit_distance_is_the_packages_and_nltks_on_any_text(a, b):
    assert edit_distance(a, b) == package_edit_distance(a, b) == nltk.edit_distance(a, b)


@pytest.mark.parametrize("case", get("14.edit_distance").case_list())
def test_edit_distance_cases_are_nltks(case):
    assert edit_distance(*case) == nltk.edit_distance(*case)


@given(st.text("ab", max_size=8), st.text("ab", max_size=8), st.text("ab", max_size=8))
def test_edit_distance_is_a_distance(a, b, c):
    assert edit_distance(a, b) == edit_distance(b, a)
    assert edit_distance(a, c) <= edit_distance(a, b) + edit_distance(b, c)
    assert abs(len(a) - len(b)) <= edit_distance(a, b) <= max(len(a), len(b))


def test_char_error_rate_is_the_distance_per_reference_character():
    assert char_error_rate("You are mad.", "You are mad.") == 0.0
    assert (
        char_error_rate("Thou art mad.", "You are mad.")
        == edit_distance("Thou art mad.", "You are mad.") / len("You are mad.")
        == 3 / 12
    )
    assert char_error_rate("MERCUTIO", "ROMEO") == 6 / 5  # above 1: more edits than characters


# --------------------------------------------------------------------------- right answers


def test_a_learners_right_answers_pass():
    def learner_targets(prompt_ids, answer_ids, end_id):
        text = [*prompt_ids, *answer_ids, end_id]
        inputs, targets = [], []
        for t in range(len(text) - 1):
            inputs.append(text[t])
            targets.append(text[t + 1] if t + 1 >= len(prompt_ids) else -100)
        return inputs, targets

    def learner_targets_numpy(prompt_ids, answer_ids, end_id):
        text = np.array(prompt_ids + answer_ids + [end_id])
        targets = text[1:].copy()
        targets[: len(prompt_ids) - 1] = -100
        return list(text[:-1]), list(targets)  # numpy ints are ints

    def learner_said(first, second, word):
        for speaker, line in (first, second):
            if word in [w.strip(string.punctuation) for w in line.split()]:
                return speaker

    def learner_said_second_first(first, second, word):
        words = re.findall(r"'?[A-Za-z]+(?:'[A-Za-z]+)*", second[1])
        return second[0] if word in words else first[0]

    def learner_distance(a, b):
        previous = list(range(len(b) + 1))
        for i, x in enumerate(a, start=1):
            row = [i]
            for j, y in enumerate(b, start=1):
                row.append(min(previous[j] + 1, row[-1] + 1, previous[j - 1] + (x != y)))
            previous = row
        return previous[-1]

    def learner_distance_recursive(a, b):
        @functools.cache
        def d(i, j):  # the distance between a[i:] and b[j:]
            if i == len(a) or j == len(b):
                return len(a) - i + len(b) - j
            if a[i] == b[j]:
                return d(i + 1, j + 1)
            return 1 + min(d(i + 1, j), d(i, j + 1), d(i + 1, j + 1))

        return d(0, 0)

    def learner_distance_numpy(a, b):
        d = np.zeros((len(a) + 1, len(b) + 1), dtype=np.int64)
        d[:, 0], d[0, :] = np.arange(len(a) + 1), np.arange(len(b) + 1)
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                d[i, j] = min(
                    d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (a[i - 1] != b[j - 1])
                )
        return d[-1, -1]  # a numpy int

    assert check("14.answer_targets", learner_targets)
    assert check("14.answer_targets", learner_targets_numpy)
    assert check("14.answer_targets", lambda p, a, e: tuple(map(tuple, answer_targets(p, a, e))))
    assert check("14.who_said", learner_said)
    assert check("14.who_said", learner_said_second_first)
    assert check("14.edit_distance", learner_distance)
    assert check("14.edit_distance", learner_distance_recursive)
    assert check("14.edit_distance", learner_distance_numpy)
    assert check("14.edit_distance", nltk.edit_distance)


# --------------------------------------------------------------------------- typical mistakes


def row(mask=lambda n: n - 1, fill=IGNORE, end=True):
    """A learner's answer_targets with a choice of slips: how many targets are masked, with
    what, and whether END ends the text."""

    def answer_targets(prompt_ids, answer_ids, end_id):
        ids = prompt_ids + answer_ids + ([end_id] if end else [])
        k = max(mask(len(prompt_ids)), 0)
        return ids[:-1], [fill] * k + ids[1:][k:]

    return answer_targets


def unshifted(prompt_ids, answer_ids, end_id):
    ids = prompt_ids + answer_ids + [end_id]
    return ids[:-1], [IGNORE] * len(prompt_ids) + ids[len(prompt_ids) : -1]


def masked_inputs(prompt_ids, answer_ids, end_id):
    ids = prompt_ids + answer_ids + [end_id]
    n = len(prompt_ids) - 1
    return [IGNORE] * n + ids[n:-1], ids[1:]


def masked_answer(prompt_ids, answer_ids, end_id):
    ids = prompt_ids + answer_ids + [end_id]
    n = len(prompt_ids) - 1
    return ids[:-1], ids[1 : n + 1] + [IGNORE] * (len(answer_ids) + 1)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (unshifted, "the targets are the inputs shifted by one"),
        (lambda p, a, e: (p + a + [e], [IGNORE] * len(p) + a + [e]), "shifted by one"),
        (row(mask=lambda n: n), "the first answer token must be scored"),
        (row(mask=lambda n: n - 2), "every target inside the prompt is -100"),
        (row(mask=lambda n: 0), "the prompt's targets are not scored: set them to -100"),
        (row(end=False), "the last answer token's target is end_id"),
        (row(fill=0), "0 is a token id like any other"),
        (masked_inputs, "mask the targets, not the inputs"),
        (lambda *args: answer_targets(*args)[::-1], "return (inputs, targets), in that order"),
        (masked_answer, "score the answer and end_id, not the prompt"),
        (lambda p, a, e: (p, a + [e]), "the inputs are every id but the last of prompt + answer"),
    ],
)
def test_answer_targets_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("14.answer_targets", wrong)


def test_answer_targets_feedback_shows_the_case_and_which_list_differs(feedback):
    text = feedback("14.answer_targets", row(mask=lambda n: n))
    assert text.startswith("✗ 14.answer_targets: 12 of 12 cases fail.")
    assert (
        "for inputs [5, 2, 7], [3, 4], 0: targets: position 2: expected 3, got -100 (the first "
        "answer token must be scored: it is the target of the last prompt position)"
    ) in text
    text = feedback("14.answer_targets", masked_inputs)
    assert "inputs: position 0: expected 5, got -100; targets: position 0: expected -100" in text


def test_bad_answer_targets_get_clear_feedback(feedback):
    name = "14.answer_targets"
    text = feedback(name, lambda *a: tuple(torch.tensor(x) for x in answer_targets(*a)))
    assert "expected lists of ids, got a tensor (return lists of ints: x.tolist())" in text
    text = feedback(name, lambda *a: np.array(answer_targets(*a)[1]))
    assert "expected lists of ids, got a numpy array" in text
    text = feedback(name, lambda *a: answer_targets(*a)[1])
    assert "(return two lists of ids, (inputs, targets))" in text
    text = feedback(name, lambda *a: (*answer_targets(*a), True))
    assert "expected 2 lists, got 3" in text


def said(contains, second_first=False):
    """A learner's who_said that looks for the word with ``contains(word, line)``."""

    def who_said(first, second, word):
        one, other = (second, first) if second_first else (first, second)
        return one[0] if contains(word, one[1]) else other[0]

    return who_said


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (said(lambda w, line: w in line), "match whole words, not pieces of them"),
        (said(lambda w, line: w in line.split()), "leaves the punctuation stuck to the words"),
        (said(lambda w, line: w in line.split(), second_first=True), "leaves the punctuation"),
        (said(lambda w, line: w.lower() in re.findall(r"[a-z']+", line.lower())), "capitals"),
        (said(lambda w, line: w in re.findall(r"\w+", line)), "kill'd is one word"),
        (said(lambda w, line: re.search(rf"\b{w}\b", line) is not None), "kill'd is one word"),
        (lambda f, s, w: (f if w in WORD.findall(f[1]) else s)[1], "not the line"),
        (lambda f, s, w: f[0], "split each line into its words, then answer the speaker"),
    ],
)
def test_who_said_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("14.who_said", wrong)


def test_who_said_feedback_shows_the_case(feedback):
    text = feedback("14.who_said", said(lambda w, line: w in line))
    assert (
        "for inputs ('BENVOLIO', 'I do but keep the peace: put up thy sword.'), ('TYBALT', "
        "'What, drawn, and talk of peace! I hate the word…, 'word': expected 'TYBALT', got "
        "'BENVOLIO' (match whole words, not pieces of them: a word is not in a line because its "
        "letters are inside another word)\n"
    ) in text
    assert text.startswith("✗ 14.who_said: 2 of 14 cases fail.")  # "word" in sword, strain'd
    # strain'd: both a piece of a word and a word cut at its apostrophe; both are named
    assert "got 'PORTIA' (match whole words, not pieces of them" in text
    assert "another word; or an apostrophe inside a word belongs to it: kill'd is one" in text


def test_bad_who_said_answers_get_clear_feedback(feedback):
    name = "14.who_said"
    text = feedback(name, lambda f, s, w: f if who_said(f, s, w) == f[0] else s)
    assert "expected a str, got a tuple (return the speaker's name alone, not a pair)" in text
    assert "(the name as it is given, with no colon" in feedback(
        name, lambda *a: who_said(*a) + ":"
    )
    assert "(the name as it is given, capitals and all)" in feedback(
        name, lambda *a: who_said(*a).upper()
    )
    text = feedback(name, lambda *a: None if "o" in a[2] else who_said(*a))
    assert "your function returned None (is a `return` missing?)" in text


def hamming(a, b):
    return sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b))


def table(a, b, first=lambda k: k, substitution=lambda x, y: x != y, corner=0):
    """A learner's edit distance with a choice of slips: the first row and column, the cost of
    the diagonal step, and the cell returned."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = first(i)
    for j in range(len(b) + 1):
        d[0][j] = first(j)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            step = d[i - 1][j - 1] + substitution(a[i - 1], b[j - 1])
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, step)
    return d[max(len(a) - corner, 0)][max(len(b) - corner, 0)]


def lcs(a, b):
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            same = a[i - 1] == b[j - 1]
            d[i][j] = d[i - 1][j - 1] + 1 if same else max(d[i - 1][j], d[i][j - 1])
    return d[-1][-1]


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (hamming, "position by position (Hamming's distance)"),
        (lambda a, b: sum(x != y for x, y in zip(a, b)), "position by position"),
        (lambda a, b: table(a, b, substitution=lambda x, y: 2 * (x != y)), "not 2"),
        (lambda a, b: nltk.edit_distance(a, b, substitution_cost=2), "a substitution is one"),
        (lambda a, b: len(a) + len(b) - 2 * lcs(a, b), "not a deletion and an insertion"),
        (lambda a, b: table(a, b, first=lambda k: 0), "d[i][0] = i and d[0][j] = j"),
        (lambda a, b: table(a, b, substitution=lambda x, y: 1), "equal characters cost nothing"),
        (lcs, "the longest common subsequence"),
        (lambda a, b: abs(len(a) - len(b)), "the difference in length counts only"),
        (lambda a, b: table(a, b, corner=1), "the last cell of a (len(a) + 1) × (len(b) + 1)"),
        (lambda a, b: -1, "fill the table of the distances between every prefix"),
    ],
)
def test_edit_distance_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("14.edit_distance", wrong)


def test_edit_distance_feedback_shows_the_case(feedback):
    text = feedback("14.edit_distance", hamming)
    assert "for inputs 'flaw', 'lawn': expected 2, got 4 (comparing the characters position" in text
    # the first row and column left at 0: a string from or to nothing costs no edit
    text = feedback("14.edit_distance", lambda a, b: table(a, b, first=lambda k: 0))
    assert "for inputs 'heir', 'their': expected 1, got 0 (the first row and column are" in text
    # from the empty string, the slips that give 0 are all named
    message = get("14.edit_distance").compare(4, 0)
    assert message.startswith("expected 4, got 0 (comparing the characters position by")
    assert "; or the first row and column are the distances to and from the empty" in message


def test_bad_edit_distance_answers_get_clear_feedback(feedback):
    name = "14.edit_distance"
    text = feedback(name, lambda a, b: float(edit_distance(a, b)))
    assert "expected an int, got a float (a number of edits is a whole number: an int)" in text
    text = feedback(name, lambda a, b: torch.tensor(edit_distance(a, b)))
    assert "expected an int, got a tensor (return a plain number: int(x))" in text
    assert "expected an int, got a str" in feedback(name, lambda a, b: str(edit_distance(a, b)))
    assert "expected an int, got a bool" in feedback(name, lambda a, b: a == b)
    assert "your function raised IndexError" in feedback(name, lambda a, b: len(a[0] + b[0]))


# --------------------------------------------------------------------------- every exercise


def test_describe_shows_the_signatures_and_a_first_case():
    signatures = [
        "answer_targets(prompt_ids: list[int], answer_ids: list[int], end_id: int) "
        "-> tuple[list[int], list[int]]",
        "who_said(first: tuple[str, str], second: tuple[str, str], word: str) -> str",
        "edit_distance(a: str, b: str) -> int",
    ]
    for name, signature in zip(NOTEBOOK_14, signatures):
        assert describe(name).startswith(f"{name}: write {signature}\n")
    example = (
        ">>> answer_targets([5, 2, 7], [3, 4], 0)\n    ([5, 2, 7, 3, 4], [-100, -100, 3, 4, 0])"
    )
    assert example in describe("14.answer_targets")
    assert "'heir')\n    'Nurse'" in describe("14.who_said")
    assert ">>> edit_distance('kitten', 'sitting')\n    3" in describe("14.edit_distance")


def test_feedback_never_shows_the_solution_code(solution_hidden):
    attempts = {
        "14.answer_targets": [row(mask=lambda n: n), unshifted, masked_inputs],
        "14.who_said": [said(lambda w, line: w in line), lambda f, s, w: f[1]],
        "14.edit_distance": [hamming, lcs, lambda a, b: 42],
    }
    for name, wrong in attempts.items():
        solution_hidden(name, wrong)
