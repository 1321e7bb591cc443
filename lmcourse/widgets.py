"""Interactive front ends (ipywidgets) on the course's models.

Each widget keeps its logic in plain methods (``generate``, ``model``) that tests call without
a browser, and shows its result in ``HTML`` widgets whose ``value`` is the whole state: nothing
is printed into an ``Output`` area. Errors in what the learner typed are shown inline, in
words, never as a traceback.

``TaskPlayground`` asks notebook 14's fine-tuned model to translate, summarise or answer.
The explorers of a trained neural LM (``SamplingPlayground``, ``AttentionExplorer``,
``NextTokenExplorer``) follow the same rules in ``lmcourse.explorers``.
"""

from __future__ import annotations

import html
import re

import ipywidgets as widgets
from torch import nn

from lmcourse.applications import PROMPTS, TASKS, WORD, check_stop_words, complete, gist, modernise
from lmcourse.ngram import NGramLM
from lmcourse.utils import generator_from_seed, is_int, is_real

__all__ = ["NGramSampler", "TaskPlayground", "WithFallback"]

_SMOOTHINGS = ("kneser_ney", "add_k", "interpolated", "mle")


def _error_html(message: str) -> str:
    return f'<span style="color:#b00020">⚠ {html.escape(message)}</span>'


#: The layout of a text box that holds prose: the width of the notebook.
WIDE = {"width": "95%"}


def _seed_box(style: dict, on_enter) -> widgets.Text:
    """A text box for the seed that calls ``on_enter()`` when a new seed is entered.

    A text box, not a number box: a number box would send what is typed through the browser's
    floating point, which rounds seeds of over 15 digits and reads "1.5" as 15, silently. With
    ``continuous_update=False`` the browser sends the seed on Enter (or on leaving the box),
    not at every keystroke, so pressing Enter generates, as in a search box.
    """
    box = widgets.Text(value="0", description="seed", continuous_update=False, style=style)
    box.observe(lambda _change: on_enter(), names="value")
    return box


def _check_model_and_tokenizer(model, tokenizer) -> None:
    """Refuse, in words, what a widget cannot run: a model that is not a torch module, or a
    tokenizer without ``encode``/``decode``/``vocab_size`` or of another size than the model's.

    The constructors call it, so the mistake is named there, not by the first click.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module (e.g. a trained GPT), got "
                        f"{type(model).__name__}.")  # fmt: skip
    if not all(hasattr(tokenizer, name) for name in ("encode", "decode", "vocab_size")):
        raise TypeError(f"tokenizer must be the model's tokenizer (with encode, decode and "
                        f"vocab_size), got {type(tokenizer).__name__}.")  # fmt: skip
    model_vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if model_vocab is not None and tokenizer.vocab_size != model_vocab:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model "
                         f"{model_vocab}: pass the tokenizer it was trained with.")  # fmt: skip


def widget_bundle(owner, **kwargs) -> dict:
    """``owner.widget``'s display, with a text fallback that says what it is.

    JupyterLab shows the fallback for a notebook opened but not yet run (the widget lives in the
    kernel), and GitHub always does: a sentence there, not ``VBox(children=(Textarea(...``.
    """
    bundle = owner.widget._repr_mimebundle_(**kwargs)
    name = getattr(owner, "what", type(owner).__name__)
    bundle["text/plain"] = (f"{name}: an interactive widget. Run the notebook's "
                            "cells (Run > Run All Cells) to use it here.")  # fmt: skip
    return bundle


class WithFallback:
    """Show any ipywidget with ``widget_bundle``'s text fallback, saying ``what`` it is.

    Example::

        WithFallback(widgets.VBox([slider, label]), "A slider over the corpus's lines")
    """

    def __init__(self, widget: widgets.Widget, what: str) -> None:
        if not isinstance(widget, widgets.Widget):
            raise TypeError(f"widget must be an ipywidget, got {type(widget).__name__}.")
        self.widget, self.what = widget, what

    _repr_mimebundle_ = widget_bundle


def _read_seed(box: widgets.Text) -> int:
    """The seed typed into ``box`` as an int, or a ValueError that quotes what was typed."""
    typed = box.value.strip()
    if not re.fullmatch(r"-?[0-9]+", typed):  # ASCII digits: "٣" is not read as 3
        raise ValueError(f"The seed must be a whole number, like 0 or 1234; got {box.value!r}.")
    return int(typed)


class NGramSampler:
    """Sample text from character n-gram models of a text: pick n, smoothing, temperature, seed.

    Models are fitted the first time a combination of n and smoothing is asked for, then kept,
    so moving back to an earlier setting is instant.

    Args:
        text: the training text (a character model of it, as one sequence).
        max_n: the largest n offered.
        prompt: the text the samples continue (the model's context at the start).
        discount: Kneser-Ney's absolute discount d, in [0, 1), passed on to ``NGramLM``
            (the other smoothings ignore it).

    Example::

        NGramSampler(train_text, max_n=8, discount=0.75)   # a cell's last expression shows it
    """

    def __init__(
        self, text: str, max_n: int = 8, prompt: str = "FALSTAFF:\n", discount: float = 0.75
    ) -> None:
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty string: the text the models learn from.")
        if not is_int(max_n) or max_n < 1:
            raise ValueError(f"max_n must be an integer >= 1, got {max_n!r}.")
        if not is_real(discount) or not 0 <= discount < 1:
            raise ValueError(
                f"discount must be a number in [0, 1) (Kneser-Ney's d), got {discount!r}."
            )
        self.text, self.discount = text, float(discount)
        self._models: dict[tuple[int, str], NGramLM] = {}
        style = {"description_width": "90px"}
        self.n = widgets.IntSlider(value=4, min=1, max=max_n, description="n", style=style)
        self.smoothing = widgets.Dropdown(options=_SMOOTHINGS, description="smoothing", style=style)
        self.temperature = widgets.FloatSlider(
            value=1.0, min=0.0, max=2.0, step=0.05, description="temperature", style=style
        )
        self.seed = _seed_box(style, on_enter=self._on_generate)
        self.length = widgets.IntSlider(
            value=300, min=10, max=2000, step=10, description="length", style=style
        )
        self.prompt = widgets.Textarea(value=prompt, description="prompt", style=style,
                                       layout=WIDE)  # fmt: skip
        self.button = widgets.Button(description="Generate", button_style="primary")
        self.status = widgets.HTML()
        self.output = widgets.HTML()
        self.button.on_click(self._on_generate)
        controls = [self.n, self.smoothing, self.temperature, self.seed, self.length, self.prompt]
        self.widget = widgets.VBox([*controls, self.button, self.status, self.output])

    def model(self, n: int, smoothing: str) -> NGramLM:
        """The fitted n-gram model for these settings (fitted once, then cached)."""
        key = (n, smoothing)
        if key not in self._models:
            lm = NGramLM(n=n, smoothing=smoothing, discount=self.discount)
            self._models[key] = lm.fit([self.text])
        return self._models[key]

    def generate(self) -> str:
        """Sample ``length`` characters with the current settings; raise ValueError on bad input."""
        lm = self.model(self.n.value, self.smoothing.value)
        unknown = sorted(set(self.prompt.value) - set(lm.vocab))
        if unknown:
            raise ValueError(
                f"The prompt has characters the model never saw in training: {unknown}. "
                "Remove them or change the training text."
            )
        generator = generator_from_seed(_read_seed(self.seed))
        tokens = lm.generate(
            self.length.value,
            generator=generator,
            temperature=self.temperature.value,
            context=tuple(self.prompt.value),
        )
        return self.prompt.value + "".join(tokens)

    def _on_generate(self, _button=None) -> None:
        self.status.value = "generating…"
        try:
            sample = self.generate()
        except ValueError as err:  # bad settings: say what is wrong, keep the last sample
            self.status.value = _error_html(str(err))
            return
        new = sample[len(self.prompt.value) :]
        asked = self.length.value
        ended = (f"; the model chose the end of the text after {len(new)} of {asked} characters"
                 if len(new) < asked else "")  # fmt: skip
        self.status.value = html.escape(
            f"n = {self.n.value}, {self.smoothing.value}, temperature {self.temperature.value:g}, "
            f"seed {_read_seed(self.seed)}{ended}"
        )
        shown = f"{html.escape(self.prompt.value)}<b>{html.escape(new)}</b>"  # the new text bold
        self.output.value = f"<pre>{shown}</pre>"

    _repr_mimebundle_ = widget_bundle


class TaskPlayground:
    """Ask a model trained on ``lmcourse.applications``' tasks (notebook 14) for answers.

    Pick a task, type a line (for *answer*: two speeches, one a line, and a question), press
    Answer: the model completes the task's prompt greedily, and the rule's own answer is shown
    next to it, for comparison.

    Args:
        model, tokenizer: the fine-tuned model and its tokenizer.
        stop_words: the stop words the summaries were made with (``common_words``): a set
            or list of words, not a str (``"the and".split()``, not ``"the and"``).

    Example::

        TaskPlayground(fine_tuned, tok, stop_words)   # a cell's last expression shows it
    """

    def __init__(self, model, tokenizer, stop_words: set[str]) -> None:
        _check_model_and_tokenizer(model, tokenizer)
        self.model, self.tokenizer = model, tokenizer
        self.stop_words = check_stop_words(stop_words)
        style = {"description_width": "90px"}
        self.task = widgets.Dropdown(options=TASKS, description="task", style=style)
        self.text = widgets.Textarea(value="Thou art a villain.", description="line",
                                     style=style, layout=WIDE)  # fmt: skip
        self.question = widgets.Text(value="", description="question", style=style, layout=WIDE)
        self.question.layout.display = "none"  # only the answer task asks one
        self.button = widgets.Button(description="Answer", button_style="primary")
        self.status, self.output = widgets.HTML(), widgets.HTML()
        self.task.observe(self._on_task, names="value")
        self.button.on_click(self._on_answer)
        self.widget = widgets.VBox([self.task, self.text, self.question, self.button,
                                    self.status, self.output])  # fmt: skip

    def prompt(self) -> str:
        """The task's prompt for what is typed; a ValueError, in words, for what cannot be one."""
        text, task = self.text.value.strip(), self.task.value
        if not text:
            raise ValueError(f"Type {'two speeches' if task == 'answer' else 'a line'} first.")
        if task != "answer" and "\n" in text:
            raise ValueError("One line only: the model learned to translate and summarise lines.")
        question = self.question.value.strip()
        if task == "answer" and not question:
            raise ValueError("Type a question: the start of a line of the speeches, cut before "
                             "the word to find, like 'The son and'.")  # fmt: skip
        prompt = PROMPTS[task].format(line=text, passage=text, question=question)
        known = set(self.tokenizer.decode(list(range(self.tokenizer.vocab_size))))
        unknown = sorted(set(prompt) - known)
        if unknown:
            raise ValueError(f"The model never saw these characters: {unknown}. Remove them.")
        context = self.model.config.block_size
        room = context - 1 - (len(prompt) - len(text) - len(question))  # the answer needs one
        if len(text) + len(question) > room:
            typed = "speeches and question are" if task == "answer" else "line is"
            raise ValueError(f"Your {typed} {len(text) + len(question)} characters long; at most "
                             f"{room} fit in the model's context of {context}.")  # fmt: skip
        lines = text.split("\n")
        if task == "answer" and (len(lines) != 2 or
                                 not all(re.match(r"[^:\n]+: \S", s) for s in lines)):  # fmt: skip
            wrong = (f"you typed {len(lines)} line{'s' * (len(lines) > 1)}" if len(lines) != 2
                     else "a line does not start with a name and ': '")  # fmt: skip
            raise ValueError("Type two speeches as the model learned them: one a line, each "
                             f"'NAME: words', like 'ROMEO: But soft' ({wrong}).")  # fmt: skip
        return prompt

    def rule(self) -> str | None:
        """The rule's answer (``modernise``, ``gist``, or the word after the question), if any."""
        text = self.text.value.strip()
        if self.task.value == "translate":
            return modernise(text)
        if self.task.value == "summarise":
            return gist(text, self.stop_words)
        question = self.question.value.strip()
        if not question or text.count(question) != 1:
            return None  # the question is not (once) in the speeches: no single right answer
        word = WORD.search(text[text.index(question) + len(question) :])
        return word.group() if word else None

    def answer(self) -> str:
        """The model's greedy answer to ``prompt()``."""
        return complete(self.model, self.tokenizer, self.prompt())

    def _on_task(self, _change=None) -> None:
        answering = self.task.value == "answer"
        self.text.description = "speeches" if answering else "line"
        self.text.layout.height = "6em" if answering else None  # room for two speeches
        self.question.layout.display = None if answering else "none"
        self.status.value = self.output.value = ""  # the last task's answer no longer applies

    def _on_answer(self, _button=None) -> None:
        try:
            prompt, answer = self.prompt(), self.answer()
        except ValueError as err:  # bad input: say what is wrong, keep the last answer
            self.status.value = _error_html(str(err))
            return
        self.status.value = html.escape(self._verdict(answer))
        self.output.value = f"<pre>{html.escape(prompt)}<b>{html.escape(answer)}</b></pre>"

    def _verdict(self, answer: str) -> str:
        """The rule's answer next to the model's, or why there is none to compare."""
        rule, text, question = self.rule(), self.text.value.strip(), self.question.value.strip()
        if rule is None and text.count(question) != 1:
            return (f"the question is {'not' if question not in text else 'more than once'} in "
                    "the speeches: no rule's answer to compare")  # fmt: skip
        if rule is None:
            return "no word follows the question in the speeches: no rule's answer to compare"
        if not rule:
            return ("the rule's answer is empty (every word of the line is a stop word; the "
                    "model never saw such a line)")  # fmt: skip
        return f"the rule's answer: {rule} {'✓' if rule == answer else '✗'}"

    _repr_mimebundle_ = widget_bundle


_EXPLORERS = ("AttentionExplorer", "NextTokenExplorer", "SamplingPlayground")


def __getattr__(name: str):
    """The GPT widgets live in ``lmcourse.explorers``; importable from ``lmcourse.widgets`` too.

    (Imported on first use: ``explorers`` imports this module, so a plain import would be a cycle.)
    """
    if name in _EXPLORERS:
        from lmcourse import explorers

        return getattr(explorers, name)
    raise AttributeError(f"module 'lmcourse.widgets' has no attribute {name!r}")
