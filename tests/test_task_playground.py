"""lmcourse.widgets.TaskPlayground: notebook 14's widget, without a browser."""

import pytest
import torch

from lmcourse.applications import PROMPTS, Example, complete, encode_examples, gist, modernise
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.supervised import train_rows
from lmcourse.tokenizers import CharTokenizer
from lmcourse.widgets import TaskPlayground

LINE = "Thou art mad."
PASSAGE = "ROMEO: Is she a Capulet?\nNurse: The son and heir."
STOP = {"the", "a", "is", "and", "art"}


@pytest.fixture(scope="module")
def playground():
    """A tiny GPT that has learned one translation by heart, and its playground."""
    example = Example("translate", PROMPTS["translate"].format(line=LINE), modernise(LINE))
    alphabet = example.text + PASSAGE + "LINE:GIST:Q.A?" + "abcdefghijklmnopqrstuvwxyz"
    tok = CharTokenizer.from_text(alphabet)
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=96, n_layer=2, n_head=2, n_embd=32)
    model = GPT(config, generator=torch.Generator().manual_seed(0))
    rows = encode_examples([example], tok, config.block_size)
    train_rows(model, rows, 80, 2, 3e-3, torch.Generator().manual_seed(0))
    return TaskPlayground(model, tok, STOP)


def test_the_prompt_is_the_training_prompt_and_the_answer_the_models(playground):
    playground.task.value, playground.text.value = "translate", LINE
    assert playground.prompt() == "OLD:\nThou art mad.\nNEW:\n"
    assert playground.answer() == complete(playground.model, playground.tokenizer, "OLD:\n" + LINE
                                           + "\nNEW:\n") == "You are mad."  # fmt: skip
    playground.button.click()
    assert "<pre>OLD:\nThou art mad.\nNEW:\n<b>You are mad.</b></pre>" == playground.output.value
    assert playground.status.value == "the rule&#x27;s answer: You are mad. ✓"


def test_each_task_has_its_rule(playground):
    playground.task.value, playground.text.value = "summarise", "The son and heir."
    assert playground.prompt() == "LINE:\nThe son and heir.\nGIST:\n"
    assert playground.rule() == gist("The son and heir.", STOP) == "son heir"
    playground.task.value, playground.text.value = "answer", PASSAGE
    playground.question.value = "The son and"
    assert playground.prompt() == PROMPTS["answer"].format(passage=PASSAGE, question="The son and")
    assert playground.rule() == "heir"
    playground.question.value = "Is she a"
    assert playground.rule() == "Capulet"
    playground.question.value = "a"  # in both lines, and in words: no single place to look
    assert playground.rule() is None
    playground.button.click()
    assert "no rule's answer" in playground.status.value.replace("&#x27;", "'")


@pytest.mark.parametrize(
    "task, text, question, verdict",
    [("answer", PASSAGE, "a", "the question is more than once in the speeches"),
     ("answer", PASSAGE, "heir is", "the question is not in the speeches"),
     ("answer", PASSAGE, "The son and heir.", "no word follows the question in the speeches"),
     ("summarise", "The son and the heir", "", "the rule's answer: son heir"),
     ("summarise", "And the art is a", "", "the rule's answer is empty (every word of the line is "
                                           "a stop word")],
)  # fmt: skip
def test_the_verdict_says_why_there_is_no_rules_answer(playground, task, text, question, verdict):
    playground.task.value, playground.text.value, playground.question.value = task, text, question
    playground.button.click()
    assert playground.status.value.replace("&#x27;", "'").startswith(verdict)


def test_switching_task_clears_the_last_answer(playground):
    playground.task.value, playground.text.value = "translate", LINE
    playground.button.click()
    assert playground.output.value and playground.status.value
    playground.task.value = "answer"
    assert playground.output.value == playground.status.value == ""


def test_the_question_box_shows_only_for_the_answer_task(playground):
    playground.task.value = "answer"
    assert playground.question.layout.display is None and playground.text.description == "speeches"
    playground.task.value = "summarise"
    assert playground.question.layout.display == "none" and playground.text.description == "line"


@pytest.mark.parametrize(
    "task, text, question, message",
    [
        ("translate", "  ", "", "Type a line first"),
        ("answer", "", "x", "Type two speeches first"),
        ("translate", "Thou\nart", "", "One line only"),
        ("summarise", "Thou art ☕", "", "never saw these characters: ['☕']"),
        ("answer", PASSAGE, " ", "Type a question"),
        (
            "translate",
            "a" * 90,
            "",
            "Your line is 90 characters long; at most 84 fit in the model's context of 96",
        ),
        ("answer", "a" * 60, "a" * 30, "Your speeches and question are 90 characters long"),
        ("answer", "is she a Capulet?", "is she", "'NAME: words', like 'ROMEO: But soft"),
        ("answer", PASSAGE + "\nthe son", "The son", "one a line, each 'NAME: words'"),
        ("answer", "ROMEO: Is she a Capulet?", "Is she", "Type two speeches.*typed 1 line\\)"),
        ("answer", PASSAGE + "\nROMEO: Ay.", "The son", "Type two speeches.*typed 3 lines"),
        ("answer", "ROMEO: Is she?\nThe son and heir.", "The son", "does not start with a name"),
    ],
)
def test_bad_input_is_named_inline_and_the_last_answer_stays(playground, task, text, question,
                                                             message):  # fmt: skip
    playground.task.value, playground.text.value, playground.question.value = "translate", LINE, ""
    playground.button.click()
    playground.task.value, playground.text.value, playground.question.value = task, text, question
    shown = playground.output.value  # (another task clears the answer to the last one)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        playground.prompt()
    playground.button.click()
    assert "⚠" in playground.status.value and playground.output.value == shown


@pytest.mark.parametrize(
    "stop_words, message",
    [("the and", r"stop_words must be a set of words, e\.g\. .*'the and'\.split\(\).*got a str"),
     (None, "stop_words must be a set of words.*got NoneType")],
)  # fmt: skip
def test_stop_words_must_be_words_not_a_string(playground, stop_words, message):
    with pytest.raises(TypeError, match=message):
        TaskPlayground(playground.model, playground.tokenizer, stop_words)


def test_the_model_and_tokenizer_are_checked_at_construction(playground):
    with pytest.raises(TypeError, match="model must be a torch nn.Module .*, got str"):
        TaskPlayground("notamodel", playground.tokenizer, STOP)
    with pytest.raises(TypeError, match="tokenizer must be .*encode, decode and vocab_size.*"
                                        "got NoneType"):  # fmt: skip
        TaskPlayground(playground.model, None, STOP)
    other = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=f"the tokenizer has 3 tokens but the model "
                                         f"{playground.tokenizer.vocab_size}"):  # fmt: skip
        TaskPlayground(playground.model, other, STOP)
