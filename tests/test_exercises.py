"""Tests of the checked exercises: right answers pass, typical wrong answers get specific feedback.

Each wrong answer below is a mistake a learner makes in notebook 00 or 01; the test asserts on
the words of the feedback, since the feedback is what the learner reads. Notebooks 02 and 03's
exercises are checked here for what every exercise promises (registered, references pass, no
solution code in the feedback); their hints are tested in test_exercises_counting.py.
"""

import ast
import copy
import importlib
import inspect
import math
import random
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lmcourse.exercises import (
    CheckResult,
    Exercise,
    check,
    core,
    describe,
    describe_difference,
    difference,
    get,
    names,
    register,
    show_solution,
)
from lmcourse.exercises.text_as_data import decode, encode, split, top_words, unk_rate
from lmcourse.exercises.welcome import HAMLET_MENTIONED, KING_LEAR, count_speeches
from lmcourse.tokenizers import WordTokenizer

NOTEBOOK_00 = ["00.count_speeches"]
NOTEBOOK_01 = ["01.decode", "01.encode", "01.split", "01.top_words", "01.unk_rate"]
NOTEBOOK_02 = ["02.bigram_counts", "02.sample_index", "02.kn_bigram_prob"]
NOTEBOOK_03 = ["03.softmax", "03.one_hot", "03.context_windows"]
# the exercises of notebooks 04 to 16, whose other tests are in test_exercises_<module>.py
NOTEBOOK_04 = ["04.gradient_back", "04.clip_by_norm"]
NOTEBOOK_05 = ["05.lstm_params", "05.gru_paper_step"]
NOTEBOOK_06 = ["06.causal_mask", "06.attention_weights", "06.attention_params"]
# (notebooks 07 to 10), whose other tests are in test_exercises_<module>.py
NOTEBOOK_07 = [
    "07.exact_gelu",
    "07.fixed_attention",
    "07.fixed_embed",
    "07.gpt_params",
    "07.mlp_params",
]
NOTEBOOK_08 = ["08.lr_schedule", "08.clip_scale", "08.decay_groups"]
NOTEBOOK_09 = ["09.apply_temperature", "09.top_k", "09.top_p", "09.kv_cache_numbers"]
NOTEBOOK_10 = ["10.offset_score", "10.word_start_positions"]
NOTEBOOK_11 = ["11.most_frequent_pair", "11.encode_by_replay", "11.bits_per_character"]
NOTEBOOK_12 = ["12.train_days", "12.adam_memory_gb", "12.kv_cache_tokens"]
NOTEBOOK_13 = ["13.weight_penalty", "13.early_stop", "13.shrink_factor"]
NOTEBOOK_14 = ["14.answer_targets", "14.who_said", "14.edit_distance"]
NOTEBOOK_15 = ["15.unpatchify", "15.image_share", "15.with_article"]
NOTEBOOK_16 = ["16.bits_per_character", "16.word_perplexity", "16.pareto_front"]


# --------------------------------------------------------------------------- wrong answers


def stub(*args):
    """An untouched exercise cell."""
    raise NotImplementedError


def ellipsis_body(*args): ...


def count_speeches_mentions(text, speaker):
    return text.count(speaker)  # every mention of the name, not only speaker lines


def count_speeches_in_line(text, speaker):
    return sum(speaker in line for line in text.splitlines())


def count_speeches_split(text, speaker):
    return len(text.split(speaker + ":"))  # n separators make n + 1 pieces


def unk_rate_ignores_min_count(train_words, val_words, min_count):
    known = set(train_words)
    return sum(w not in known for w in val_words) / len(val_words) if val_words else 0.0


def unk_rate_more_than_min_count(train_words, val_words, min_count):
    counts = Counter(train_words)
    return sum(counts[w] <= min_count for w in val_words) / len(val_words) if val_words else 0.0


def unk_rate_distinct_words(train_words, val_words, min_count):
    counts, kinds = Counter(train_words), set(val_words)
    return sum(counts[w] < min_count for w in kinds) / len(kinds) if kinds else 0.0


def unk_rate_known_share(train_words, val_words, min_count):
    counts = Counter(train_words)
    return sum(counts[w] >= min_count for w in val_words) / len(val_words) if val_words else 1.0


def unk_rate_count(train_words, val_words, min_count):
    counts = Counter(train_words)
    return sum(counts[w] < min_count for w in val_words)


def unk_rate_percent(train_words, val_words, min_count):
    counts = Counter(train_words)
    return 100 * sum(counts[w] < min_count for w in val_words) / max(len(val_words), 1)


def context_windows_off_by_one(ids, context, start):
    return [([start] * context + ids)[t : t + context] for t in range(len(ids))]


def encode_as_set(text, vocab):
    return {vocab.index(char) for char in text}


def encode_off_by_one(text, vocab):
    return [vocab.index(char) + 1 for char in text]


def encode_missing_key(text, vocab):
    table = {"a": 0}
    return [table[char] for char in text]


def decode_with_spaces(ids, vocab):
    return " ".join(vocab[i] for i in ids)


def split_round(data, val_fraction):
    n = round((1 - val_fraction) * len(data))
    return data[:n], data[n:]


def split_val_first(data, val_fraction):
    n = int((1 - val_fraction) * len(data))
    return data[n:], data[:n]


def split_shuffled(data, val_fraction):
    items = list(data)
    random.Random(0).shuffle(items)
    if isinstance(data, str):
        items = "".join(items)
    n = int((1 - val_fraction) * len(data))
    return items[:n], items[n:]


def top_words_most_common(words, k):
    return Counter(words).most_common(k)  # ties stay in order of first appearance


def top_words_ascending(words, k):
    return sorted(Counter(words).items(), key=lambda pair: (pair[1], pair[0]))[:k]


WRONG_ANSWERS = {
    "00.count_speeches": [count_speeches_mentions, count_speeches_in_line, count_speeches_split],
    "01.unk_rate": [
        unk_rate_ignores_min_count,
        unk_rate_more_than_min_count,
        unk_rate_distinct_words,
        unk_rate_known_share,
        unk_rate_count,
        unk_rate_percent,
    ],
    "01.encode": [encode_off_by_one, encode_missing_key, encode_as_set],
    "01.decode": [decode_with_spaces],
    "01.split": [split_round, split_val_first, split_shuffled],
    "01.top_words": [top_words_most_common, top_words_ascending],
    # notebooks 02 and 03: one typical wrong answer each (their hints: test_exercises_counting.py)
    "02.bigram_counts": [lambda t: dict(Counter(zip(t, t[1:] + t[:1])))],
    "02.sample_index": [lambda probs, u: next(i for i, p in enumerate(probs) if u <= p)],
    "02.kn_bigram_prob": [lambda bigrams, prev, word, d, V: 1 / V],
    "03.softmax": [lambda z: [math.exp(x) / sum(math.exp(y) for y in z) for x in z]],
    "03.one_hot": [lambda index, size: [1.0 if i == index + 1 else 0.0 for i in range(size)]],
    "03.context_windows": [context_windows_off_by_one],
}


def feedback(name, fn) -> str:
    # conftest.py's `feedback` fixture, plus checks of the result's type and truthiness
    result = check(name, fn)
    assert isinstance(result, CheckResult)
    assert not result.passed and not result
    return repr(result)


# --------------------------------------------------------------------------- right answers


@pytest.mark.parametrize(
    "name",
    NOTEBOOK_00
    + NOTEBOOK_01
    + NOTEBOOK_02
    + NOTEBOOK_03
    + NOTEBOOK_04
    + NOTEBOOK_05
    + NOTEBOOK_06
    + NOTEBOOK_07
    + NOTEBOOK_08
    + NOTEBOOK_09
    + NOTEBOOK_10
    + NOTEBOOK_11
    + NOTEBOOK_12
    + NOTEBOOK_13
    + NOTEBOOK_14
    + NOTEBOOK_15
    + NOTEBOOK_16,
)
def test_registered_and_references_pass(name):
    assert name in names()
    result = check(name, get(name).solution)
    assert (
        result.passed and repr(result) == f"✓ {name}: all {len(get(name).case_list())} cases pass."
    )
    assert f"check({name!r}" in describe(name)
    assert "not implemented yet" in feedback(name, stub)
    if name not in NONE_IS_AN_ANSWER:  # a body of `...` returns None: for these, sometimes right
        assert "not implemented yet" in feedback(name, ellipsis_body)
    if name in NOTEBOOK_11 + NOTEBOOK_12 + NOTEBOOK_13 + NOTEBOOK_14 + NOTEBOOK_15 + NOTEBOOK_16:
        assert get(name).case_list() == get(name).case_list()  # the same cases every time


NONE_IS_AN_ANSWER = {"11.most_frequent_pair"}  # None: no chunk has two ids
# (13.early_stop's stop is None when training never stops, but inside its tuple: never None;
# 16.pareto_front of no models is [], never None)


@pytest.mark.parametrize(
    "module",
    [
        "lmcourse.exercises",
        "lmcourse.exercises.decoding",
        "lmcourse.exercises.answer_scores",
        "lmcourse.exercises.applications",
        "lmcourse.exercises.inside",
        "lmcourse.exercises.leaderboard",
        "lmcourse.exercises.multimodal",
        "lmcourse.exercises.regularization",
        "lmcourse.exercises.scale",
        "lmcourse.exercises.tokenization",
    ],
)
def test_importing_the_exercises_does_not_import_torch(module):
    # notebook 00 checks the environment: its exercise must work before torch is known to import
    # (nor do notebooks 11 to 16's exercises import the modules whose answers they would give)
    answers = {"lmcourse.bpe", "lmcourse.lm", "lmcourse.scaling", "lmcourse.regularization",
               "lmcourse.applications", "lmcourse.multimodal", "sklearn", "nltk"}  # fmt: skip
    code = (f"import sys, {module}; assert 'torch' not in sys.modules, 'torch imported'; "
            f"assert not {answers!r} & set(sys.modules)")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "name", ["02.sample_index", "02.kn_bigram_prob"] + NOTEBOOK_09 + NOTEBOOK_10
)
def test_every_case_has_its_own_expected_output(name):
    # the hints find a case's inputs again from its expected output: they must differ
    exercise = get(name)
    outputs = [exercise.solution(*args) for args in exercise.case_list()]
    assert all(a != b for i, a in enumerate(outputs) for b in outputs[i + 1 :])


@pytest.mark.parametrize("name", names())
def test_reference_solution_passes_its_own_checker(name):
    result = check(name, get(name).solution)
    assert result.passed and result
    n_cases = len(get(name).case_list())
    assert repr(result) == f"✓ {name}: all {n_cases} cases pass."


def learner_encode(text, vocab):
    return [vocab.index(char) for char in text]


def test_passing_result_text_and_check_prints_nothing(capsys):
    result = check("01.encode", learner_encode)
    assert repr(result) == str(result) == "✓ 01.encode: all 7 cases pass."
    assert result.messages == ["✓ 01.encode: all 7 cases pass."]
    assert result.name == "01.encode"
    assert capsys.readouterr().out == ""  # shown once, by the notebook, from the repr


def test_a_tuple_is_accepted_where_a_list_is_expected():
    assert check("01.encode", lambda text, vocab: tuple(learner_encode(text, vocab)))
    pairs_as_lists = [[w, c] for w, c in [("be", 2), ("to", 2)]]
    assert describe_difference([("be", 2), ("to", 2)], pairs_as_lists) is None


def test_learner_prints_are_allowed():
    def noisy_encode(text, vocab):
        print("thinking about", text)
        return learner_encode(text, vocab)

    assert check("01.encode", noisy_encode)


# --------------------------------------------------------------------------- typical mistakes


def test_count_speeches_counting_mentions():
    text = feedback("00.count_speeches", count_speeches_mentions)
    assert text.startswith("✗ 00.count_speeches: 2 of 7 cases fail.")
    assert "'KING': expected 0, got 2 (too many: count only the lines that are exactly" in text
    assert "Good morrow, HAMLET:" in text
    assert "'HAMLET': expected 1, got 2 (too many" in text


def test_count_speeches_with_in_counts_longer_names():
    text = feedback("00.count_speeches", count_speeches_in_line)
    assert "for inputs 'KING LEAR:" in text
    assert "'KING': expected 0, got 2 (too many" in text


def test_count_speeches_off_by_one():
    result = check("00.count_speeches", count_speeches_split)
    assert result.messages[0] == "✗ 00.count_speeches: 7 of 7 cases fail."
    assert "'HAMLET': expected 2, got 3 (too many" in result.messages[1]
    assert "'OPHELIA': expected 0, got 1 (too many" in result.messages[2]


def test_count_speeches_without_the_colon_gets_too_few():
    def count_name_lines(text, speaker):
        return sum(line == speaker for line in text.splitlines())

    text = feedback("00.count_speeches", count_name_lines)
    assert "'HAMLET': expected 2, got 0 (too few: count every line that is exactly" in text


def test_count_speeches_returning_a_string_gets_a_type_message():
    text = feedback("00.count_speeches", lambda text, speaker: str(text.count(speaker + ":")))
    assert "'HAMLET': expected an int, got a str" in text
    assert "too many" not in text and "too few" not in text


def test_encode_returning_a_set_gets_a_type_message():
    text = feedback("01.encode", encode_as_set)
    assert "for inputs 'hello', ['e', 'h', 'l', 'o']: expected a list, got a set" in text


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (unk_rate_ignores_min_count, "a word seen fewer than min_count times in training"),
        (unk_rate_more_than_min_count, "a word seen exactly min_count times is in the vocabulary"),
        (unk_rate_distinct_words, "count every validation token, repeats included"),
        (unk_rate_known_share, "that is the share of known tokens"),
        (unk_rate_count, "divide it by the number of validation tokens"),
        (unk_rate_percent, "not a percentage"),
    ],
)
def test_unk_rate_slips_get_their_hint(wrong, hint):
    assert hint in feedback("01.unk_rate", wrong)


def test_unk_rate_first_case_is_hand_checkable():
    text = feedback("01.unk_rate", unk_rate_ignores_min_count)
    first = "['to', 'be', 'or', 'not', 'to', 'be'], ['to', 'be', 'or', 'not'], 2: expected 0.5,"
    assert first + " got 0.0 (a word seen fewer than min_count times" in text


def test_encode_off_by_one():
    text = feedback("01.encode", encode_off_by_one)
    assert "for inputs 'hello', ['e', 'h', 'l', 'o']: position 0: expected 1, got 2" in text


def test_decode_joined_with_spaces():
    text = feedback("01.decode", decode_with_spaces)
    assert "expected 5 characters, got 9" in text
    assert "position 1: expected 'e', got ' '" in text


def test_split_with_round_names_the_training_part():
    text = feedback("01.split", split_round)
    # int(0.75 * 10) = 7 but round(7.5) = 8
    assert "for inputs [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 0.25: training part: expected 7" in text
    assert "got 8" in text
    assert "shuffle" not in text  # the items are in the right order


def test_split_with_validation_first():
    text = feedback("01.split", split_val_first)
    assert "return the training part first" in text


def test_split_that_shuffles():
    text = feedback("01.split", split_shuffled)
    assert "training part: position 0" in text
    assert "do not shuffle" in text


def test_top_words_without_tie_breaking():
    text = feedback("01.top_words", top_words_most_common)
    assert "position 0: expected ('be', 2), got ('to', 2)" in text
    assert "ties alphabetically" in text


def test_top_words_in_ascending_order():
    text = feedback("01.top_words", top_words_ascending)
    assert "position 0: expected ('be', 2), got ('not', 1)" in text


def test_at_most_three_failing_cases_are_described():
    result = check("01.encode", encode_as_set)  # fails all 7 cases
    assert result.messages[0] == "✗ 01.encode: 7 of 7 cases fail."
    assert len(result.messages) == 1 + 3 + 1
    assert result.messages[-1].strip() == "(and 4 more failing cases)"


def test_long_inputs_are_shortened():
    def fails_on_long_text(data, val_fraction):
        return split(data, val_fraction) if len(data) < 30 else (data, data[:0])

    text = feedback("01.split", fails_on_long_text)
    line = next(line for line in text.splitlines() if "Now is the winter" in line)
    shown_input = line.split("for inputs ")[1].split(", 0.1: ")[0]
    assert shown_input.endswith("…") and len(shown_input) == difference.REPR_WIDTH


# --------------------------------------------------------------------------- broken functions


@pytest.mark.parametrize("fn", [stub, ellipsis_body, lambda *args: ...])
def test_an_untouched_stub_is_not_implemented_yet(fn):
    result = check("01.encode", fn)
    assert not result
    assert result.messages == [
        "✗ 01.encode: not implemented yet: "
        "replace the `...`/`raise NotImplementedError` with your code"
    ]


def test_a_missing_return_in_some_cases():
    def encode_forgets_return(text, vocab):
        if text:
            learner_encode(text, vocab)  # computed, never returned
        else:
            return []

    text = feedback("01.encode", encode_forgets_return)
    message = "for inputs 'hello', ['e', 'h', 'l', 'o']: your function returned None"
    assert message + " (is a `return` missing?)" in text


def test_a_stub_with_a_docstring_and_pass_is_not_implemented_yet():
    def encode(text, vocab):
        """Turn text into ids."""
        pass

    assert check("01.encode", encode).messages == [
        "✗ 01.encode: not implemented yet: "
        "replace the `...`/`raise NotImplementedError` with your code"
    ]


def test_a_forgotten_return_everywhere_is_named_not_called_a_stub():
    # the usual slip: the body computes (or prints) the answer but never returns it; it is not
    # "not implemented yet", which would send the learner to replace code they already wrote
    def encode_prints(text, vocab):
        print([vocab.index(char) for char in text])

    def encode_forgets_return(text, vocab):
        ids = [vocab.index(char) for char in text]  # noqa: F841

    for fn in (encode_prints, encode_forgets_return):
        message = check("01.encode", fn).messages
        assert message == [
            "✗ 01.encode: your function returned None in every case: is a `return` missing? "
            "(print shows a value; only `return` hands it back)"
        ]
    unreadable = {}
    exec("def encode(text, vocab):\n    ids = []", unreadable)  # no source file to read
    assert (
        check("01.encode", unreadable["encode"]).messages[0].endswith("Or is its body still `...`?")
    )


def test_not_implemented_in_some_cases_only_still_checks_the_others():
    def encode_later(text, vocab):
        if not text:
            raise NotImplementedError("the empty text, later")
        return [vocab.index(char) for char in text]

    result = check("01.encode", encode_later)
    assert result.messages[0] == "✗ 01.encode: 1 of 7 cases fails."
    assert "your function raised NotImplementedError: the empty text, later" in result.messages[1]


def test_sys_exit_in_the_learners_function_is_feedback_not_the_end_of_check():
    import sys as system

    result = check("01.encode", lambda text, vocab: system.exit("bye"))
    assert not result and "your function raised SystemExit: bye" in repr(result)


def test_float32_answers_pass_and_a_wrong_digit_does_not():
    # PyTorch computes in float32 by default: 7 significant digits are right, not 16
    def softmax_float32(logits):
        return torch.softmax(torch.tensor(logits), dim=0).tolist()  # float32

    assert check("03.softmax", softmax_float32)

    def clip_float32(grads, max_norm):
        g = torch.tensor(grads)  # float32
        norm = g.norm().item()
        return (g * (max_norm / norm) if norm > max_norm else g).tolist()

    assert check("04.clip_by_norm", clip_float32)

    def softmax_off(logits):
        return [p * (1 + 1e-5) for p in torch.softmax(torch.tensor(logits).double(), 0).tolist()]

    assert not check("03.softmax", softmax_off)  # 1e-5 relative is a wrong answer


def test_numpy_scalars_are_taken_as_their_python_kind():
    assert describe_difference([True, False], [np.True_, np.False_]) is None
    assert describe_difference([1, 2.5], [np.int64(1), np.float32(2.5)]) is None
    assert describe_difference([True], [np.False_]) == "position 0: expected True, got np.False_"


def test_a_list_returned_as_an_array_or_generator_is_told_how_to_convert_it():
    assert describe_difference([0.5, 0.5], np.array([0.5, 0.5])) == (
        "expected a list, got a numpy array (return a plain list: x.tolist())"
    )
    assert describe_difference([0.5], torch.tensor([0.5])).endswith(
        "(return a plain list: x.tolist())"
    )
    assert describe_difference([1], (i for i in [1])) == (
        "expected a list, got a generator (return a list: wrap it in list(...))"
    )
    assert describe_difference([1], {1}) == "expected a list, got a set"


def test_nested_lists_name_the_wrong_item_by_its_indexes():
    row = [0.123456789] * 10
    assert describe_difference([row, row], [row, [0.5] + row[1:]]) == (
        "position [1][0]: expected 0.123456789, got 0.5"
    )


def test_tensor_inputs_are_shown_by_shape_on_one_line():
    line = core._describe_input((torch.zeros(3, 4, dtype=torch.float64), torch.ones(2)))
    assert line == "inputs a (3, 4) tensor of torch.float64, tensor([1., 1.])"


def test_an_exception_is_reported_with_its_input_and_line():
    text = feedback("01.encode", encode_missing_key)
    assert "for inputs 'hello', ['e', 'h', 'l', 'o']: your function raised KeyError: 'h'" in text
    assert "`return [table[char] for char in text]`" in text


@pytest.mark.parametrize(
    "fn", [lambda: [], lambda text: [], lambda text, vocab, extra: [], lambda *, text, vocab: []]
)
def test_wrong_number_of_parameters_is_reported_not_raised(fn):
    result = check("01.encode", fn)
    assert not result
    assert len(result.messages) == 1
    assert "TypeError" in result.messages[0]
    assert "encode(text: str, vocab: list[str]) -> list[int]" in result.messages[0]


def test_passing_the_result_instead_of_the_function():
    result = check("01.encode", encode("hello", ["e", "h", "l", "o"]))
    assert "got a list. Pass the function itself" in repr(result)
    assert "check('01.encode', encode)" in repr(result)


def test_a_comparison_that_raises_becomes_feedback(monkeypatch):
    def broken_compare(expected, got):
        raise RuntimeError("comparator bug")

    exercise = Exercise(
        "99.double", "Double x.", lambda x: 2 * x, ((1,), (2,)), compare=broken_compare
    )
    monkeypatch.setitem(core._EXERCISES, exercise.name, exercise)
    text = feedback("99.double", lambda x: 3 * x)
    assert "expected 2, got 3 (comparing them raised RuntimeError)" in text


# --------------------------------------------------------------------------- isolation


def test_a_function_that_mutates_its_input_does_not_change_later_cases(monkeypatch):
    shared = [1, 2, 3]
    exercise = Exercise(
        "99.total", "Sum the list.", sum, ((shared,), (shared,), ([5],)), noun="numbers"
    )
    monkeypatch.setitem(core._EXERCISES, exercise.name, exercise)

    def total_that_clears(xs):
        result = sum(xs)
        xs.clear()
        return result

    assert check("99.total", total_that_clears)
    assert shared == [1, 2, 3]

    def total_that_appends(xs):
        xs.append(100)
        return sum(xs)

    result = check("99.total", total_that_appends)
    assert result.messages[1] == "  ✗ for input [1, 2, 3]: expected 6, got 106"
    assert result.messages[2] == "  ✗ for input [1, 2, 3]: expected 6, got 106"
    assert shared == [1, 2, 3]


def test_mutating_a_registered_case_is_impossible():
    def split_then_clear(data, val_fraction):
        n = int((1 - val_fraction) * len(data))
        train, val = data[:n], data[n:]
        if isinstance(data, list):
            data.clear()  # empties the caller's list
        return train, val

    assert check("01.split", split_then_clear)
    assert get("01.split").case_list()[1] == (list(range(10)), 0.25)
    assert check("01.split", split)


# --------------------------------------------------------------------------- no solution leaks


def solution_body_lines(fn) -> list[str]:
    """The lines of ``fn``'s body (docstring excluded) longer than 20 characters."""
    source = textwrap.dedent(inspect.getsource(fn))
    function = ast.parse(source).body[0]
    body = function.body[1:] if ast.get_docstring(function) else function.body
    lines = source.splitlines()
    code = [lines[i] for node in body for i in range(node.lineno - 1, node.end_lineno)]
    return [line.strip() for line in code if len(line.strip()) > 20]


@pytest.mark.parametrize("name", NOTEBOOK_00 + NOTEBOOK_01 + NOTEBOOK_02 + NOTEBOOK_03)
def test_feedback_never_shows_the_solution_code(name):
    solution_lines = solution_body_lines(get(name).solution)
    assert solution_lines  # the test would be empty otherwise
    attempts = [*WRONG_ANSWERS[name], stub, ellipsis_body, lambda *args: 42, lambda: None]
    messages = [line for fn in attempts for line in check(name, fn).messages]
    messages += describe(name).splitlines()
    for line in solution_lines:
        assert not any(line in message for message in messages), line


def test_show_solution_is_the_explicit_way_to_see_it():
    source = show_solution("01.decode")
    assert source.startswith("def decode(ids: list[int], vocab: list[str]) -> str:")
    assert 'return "".join(vocab[i] for i in ids)' in source
    assert repr(source) == str(source)  # a notebook shows it as code, not as a quoted string


def test_describe_count_speeches_shows_a_small_text():
    text = describe("00.count_speeches")
    signature = "count_speeches(text: str, speaker: str) -> int"
    assert text.startswith(f"00.count_speeches: write {signature}")
    assert ">>> count_speeches('HAMLET:\\nTo be, or not to be.\\n\\n" in text
    assert "'HAMLET')\n    2\n" in text


def test_describe_shows_the_task_and_the_first_case():
    text = describe("01.unk_rate")
    signature = "unk_rate(train_words: list[str], val_words: list[str], min_count: int) -> float"
    assert text.startswith(f"01.unk_rate: write {signature}")
    assert "at least `min_count` times in `train_words`" in text
    call = ">>> unk_rate(['to', 'be', 'or', 'not', 'to', 'be'], ['to', 'be', 'or', 'not'], 2)"
    assert f"{call}\n    0.5" in text
    assert "check('01.unk_rate', unk_rate)" in text


def test_describe_names_multi_line_arguments_and_shows_annotations_of_lazy_imports():
    # recurrence.py imports torch for type checkers only: its annotations are strings that
    # cannot be evaluated, and the signature shows them as written, not as "gradient_back(...)"
    text = describe("04.gradient_back")
    tensor = "torch.Tensor"
    assert text.startswith(
        f"04.gradient_back: write gradient_back(a: {tensor}, weight_hh: {tensor}, g: {tensor}) "
        f"-> {tensor}\n"
    )
    example = text.split("Example:\n")[1].split("\n\n")[0].splitlines()
    # each tensor is named on its own lines, continuation rows under its first row
    assert example[0].startswith("    a = tensor([[")
    starts = [line.split(" = ")[0].strip() for line in example if " = tensor(" in line]
    assert starts == ["a", "weight_hh", "g"]
    # the second row of the (2, 2) weight, under its first row's "["
    first = next(line for line in example if line.startswith("    weight_hh = "))
    column = first.index("[[") + 1
    weight_rows = [line for line in example if line.startswith(" " * column + "[")]
    assert len(weight_rows) == 1
    assert "    >>> gradient_back(a, weight_hh, g)" in example
    assert example[-1].startswith("    tensor([")


def test_describe_shows_the_weights_of_module_arguments():
    # `fixed_embed(Embedding(5, 4), LearnedPositions(...), idx)` alone could not be reproduced
    text = describe("07.fixed_embed")
    assert "    token_embedding = Embedding(5, 4)\n    token_embedding.weight = tensor([[" in text
    assert "    positions = LearnedPositions(block_size=6, C=4)\n" in text
    assert "    >>> fixed_embed(token_embedding, positions, idx)" in text
    token_embedding, positions, idx = get("07.fixed_embed").case_list()[0]
    first_row = repr(token_embedding.weight.detach()).splitlines()[0]
    assert f"token_embedding.weight = {first_row}" in text


# --------------------------------------------------------------------------- registry


def test_unknown_name_lists_the_known_names_of_that_notebook():
    with pytest.raises(ValueError, match="Did you mean '01.encode'") as error:
        check("01.encod", encode)
    for name in NOTEBOOK_01:
        assert name in str(error.value)


def test_unknown_notebook_lists_every_name():
    with pytest.raises(ValueError, match="01.top_words"):
        get("42.nothing")


def test_exercise_validates_its_name():
    with pytest.raises(ValueError, match="'encode'"):
        Exercise("encode", "Task.", encode, (("a", ["a"]),))


def test_a_name_cannot_be_taken_by_another_module():
    def impostor(text):
        return []

    impostor.__module__ = "somewhere.else"
    with pytest.raises(ValueError, match="already registered"):
        register(Exercise("01.encode", "Task.", impostor, (("a", ["a"]),)))
    assert get("01.encode").solution is encode


def test_generated_cases_are_the_same_every_time():
    exercise = get("01.top_words")
    assert callable(exercise.cases)
    assert exercise.case_list() == exercise.case_list()


# --------------------------------------------------------------------------- describe_difference


@pytest.mark.parametrize(
    ("expected", "got", "message"),
    [
        (["a", "b"], "ab", "expected a list, got a str"),
        ([1, 2], None, "expected a list, got None"),
        (3, 3.0, "expected the int 3, got the float 3.0 (the right number: return it as an int)"),
        (3, 3.5, "expected an int, got a float"),
        (["a", "b", "c"], ["a", "b", "c", "d"], "expected 3 tokens, got 4; yours continues with"),
        (
            ["a", "b", "c"],
            ["a"],
            "expected 3 tokens, got 1; yours is missing ['b', 'c'] at the end",
        ),
        (["a", "b", "c"], ["a", "c", "b"], "position 1: expected 'b', got 'c'"),
        ("abc", "abd", "position 2: expected 'c', got 'd'"),
        (0.5, 0.25, "expected 0.5, got 0.25"),
        ({"a": 1, "b": 2}, {"a": 1}, "missing key 'b'"),
        ({"a": 1}, {"a": 1, "z": 0, "y": 0}, "unexpected key 'z' (and 1 more)"),
        ({"a": 1}, {"a": 2}, "value for key 'a': expected 1, got 2"),
        ([[1, 2], [3, 4]], [[1, 2], [3, 5]], "position 1: expected [3, 4], got [3, 5]"),
        (["x" * 80], ["x" * 79], "position 0: expected 80 characters, got 79"),
        (torch.zeros(2, 3), torch.zeros(3, 2), "expected shape (2, 3), got shape (3, 2)"),
        (torch.zeros(2), torch.zeros(2, dtype=torch.long), "expected dtype torch.float32"),
        (torch.tensor([1, 2, 3]), torch.tensor([1, 2, 4]), "position 2: expected 3, got 4"),
        (torch.eye(2), torch.ones(2, 2), "at index (0, 1): expected 0.0, got 1.0"),
        (np.arange(3), np.arange(4), "expected shape (3,), got shape (4,)"),
        (np.arange(3), [0, 1, 2], "expected a numpy array, got a list"),
        (torch.ones(2), np.ones(2), "expected a tensor, got a numpy array"),
    ],
)
def test_describe_difference_examples(expected, got, message):
    difference = describe_difference(expected, got, "tokens")
    assert difference is not None and message in difference


@pytest.mark.parametrize(
    ("expected", "got"),
    [
        (0.1 + 0.2, 0.3),  # equal within math.isclose(rel_tol=1e-9)
        (1.0, 1),  # an int is fine where a float is expected
        ([1, "a"], (1, "a")),  # a tuple is fine where a list is expected
        ({"a": 1}, Counter({"a": 1})),  # any mapping for a dict
        (float("nan"), float("nan")),
        (torch.tensor([0.1, 0.2]), torch.tensor([0.1, 0.2]) * (1 + 1e-7)),  # float32 noise
        (np.array([[1, 2]]), np.array([[1, 2]])),
    ],
)
def test_describe_difference_accepts_equal_values(expected, got):
    assert describe_difference(expected, got) is None


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=12,
)


@given(json_like)
def test_describe_difference_of_a_copy_is_none(value):
    assert describe_difference(value, copy.deepcopy(value)) is None


@given(st.lists(st.integers(), max_size=6), st.lists(st.integers(), max_size=6))
def test_describe_difference_finds_every_difference_between_int_lists(a, b):
    assert (describe_difference(a, b) is None) == (a == b)


# --------------------------------------------------------------------------- reference invariants


@given(st.text())
def test_decode_inverts_encode(text):
    vocab = sorted(set(text))
    assert decode(encode(text, vocab), vocab) == text
    assert all(0 <= i < len(vocab) for i in encode(text, vocab))


SPEAKERS = ["HAMLET", "HORATIO", "KING", "KING LEAR"]
SPEECH_LINES = ["To be, or not to be.", "Good morrow, HAMLET:", "KING LEAR:  ", "My lord!", ""]


@given(
    st.lists(
        st.tuples(st.sampled_from(SPEAKERS), st.lists(st.sampled_from(SPEECH_LINES), min_size=1))
    ),
    st.sampled_from(SPEAKERS),
)
def test_count_speeches_counts_the_speeches_a_play_was_built_from(speeches, speaker):
    play = "\n\n".join(f"{name}:\n" + "\n".join(lines) for name, lines in speeches)
    assert count_speeches(play, speaker) == [name for name, _ in speeches].count(speaker)


def test_count_speeches_hand_made_texts():
    assert count_speeches(KING_LEAR, "KING") == 0
    assert count_speeches(KING_LEAR, "KING LEAR") == 2
    assert count_speeches(HAMLET_MENTIONED, "HAMLET") == 1
    assert "HAMLET:" in HAMLET_MENTIONED.splitlines()[1]  # a mention that looks like a speaker


@given(st.text(), st.floats(min_value=0.01, max_value=0.99))
def test_split_keeps_every_item_in_order(data, val_fraction):
    train, val = split(data, val_fraction)
    assert train + val == data
    assert len(train) == int((1 - val_fraction) * len(data))


@given(st.lists(st.sampled_from(["a", "b", "be", "or", "to", "not", "B"])), st.integers(0, 9))
def test_top_words_ranks_by_count_then_alphabet_and_keeps_the_best_k(words, k):
    got = top_words(words, k)
    distinct = set(words)
    assert len(got) == min(k, len(distinct))
    assert all(count == words.count(word) for word, count in got)  # brute-force counts
    assert len({word for word, _ in got}) == len(got)  # no word twice
    ranks = [(-count, word) for word, count in got]
    assert ranks == sorted(ranks)  # most frequent first, ties alphabetically
    kept = {word for word, _ in got}
    for left_out in distinct - kept:  # no word left out outranks a kept one
        assert all((-words.count(left_out), left_out) > rank for rank in ranks)


def test_top_words_hand_case_with_ties():
    words = "to be or not to be that is the question to".split()
    assert top_words(words, 4) == [("to", 3), ("be", 2), ("is", 1), ("not", 1)]
    assert top_words(["b", "a", "B"], 5) == [("B", 1), ("a", 1), ("b", 1)]  # "B" < "a" < "b"
    assert top_words(words, 0) == [] and top_words([], 3) == []


@given(
    st.lists(
        st.sampled_from(["to", "be", "or", "not", ",", "sleep", "o'er", "to-night"]), max_size=30
    ),
    st.lists(st.sampled_from(["to", "be", "or", "not", ",", "dream", "ay", "o'er"]), max_size=30),
    st.integers(1, 4),
)
def test_unk_rate_is_word_tokenizers(train_words, val_words, min_count):
    # the words survive WordTokenizer.split unchanged, so the tokenizer sees the same tokens
    train_text, val_text = " ".join(train_words), " ".join(val_words)
    assert WordTokenizer.split(val_text) == val_words
    tokenizer = WordTokenizer.from_text(train_text, min_count=min_count)
    assert unk_rate(train_words, val_words, min_count) == tokenizer.unk_rate(val_text)


def test_unk_rate_hand_cases():
    to_be = "to be or not to be".split()
    assert unk_rate(to_be, "to be or not".split(), 2) == 0.5  # or, not: seen once
    assert unk_rate(to_be, "to be or not".split(), 1) == 0.0
    assert unk_rate(to_be, "sleep sleep to".split(), 1) == 2 / 3  # repeats count twice
    assert unk_rate(to_be, [], 3) == 0.0


@pytest.mark.parametrize("module", ["scale", "regularization", "leaderboard"])
def test_slip_hints_name_the_mistake_not_the_answer(module):
    # the modules whose feedback names slips (lmcourse.exercises.slips): a hint is the same words
    # in every case, so it cannot give away any case's answer
    solutions = importlib.import_module(f"lmcourse.exercises.{module}")._SOLUTIONS
    for name, (_, cases, slips) in solutions.items():
        hints = {tuple(dict.fromkeys(hint for hint, _ in slips(*args))) for args in cases()}
        assert len(hints) == 1, name


# the exercises whose answer is a float, checked by lmcourse.exercises.slips.number_compare
NUMBER_ANSWERS = ["12.train_days", "12.adam_memory_gb", "13.weight_penalty", "13.shrink_factor",
                  "16.bits_per_character", "16.word_perplexity"]  # fmt: skip


@pytest.mark.parametrize("name", NUMBER_ANSWERS)
def test_bad_number_answers_get_clear_feedback(feedback, name):
    solution = get(name).solution
    first_call = iter([None])  # a `return` missing in one branch: None once, then right
    text = feedback(name, lambda *a: next(first_call, solution(*a)))
    assert "your function returned None (is a `return` missing?)" in text
    assert "expected a float, got a str" in feedback(name, lambda *a: str(solution(*a)))
    text = feedback(name, lambda *a: torch.tensor(solution(*a)))
    assert "expected a float, got a tensor (return a plain number: float(x) or x.item())" in text
    text = feedback(name, lambda *a: np.array([solution(*a)]))
    assert "expected a float, got a numpy array (return a plain number" in text
    assert "expected a float, got a list" in feedback(name, lambda *a: [solution(*a)])
    assert "expected a float, got a bool" in feedback(name, lambda *a: True)
