"""Interactive explorers (ipywidgets) of a trained neural LM: sampling, attention, next token.

Each takes ``(model, tokenizer)``: a ``GPT`` (or, for ``SamplingPlayground`` and
``NextTokenExplorer``, any LM with the course's interface) and its character tokenizer.
As in ``lmcourse.widgets``, the logic lives in plain methods that tests call without a browser
(``generate``, ``attention``, ``distribution``), results are widget values (``HTML`` text,
``Image`` PNG bytes) and errors in what the learner typed are shown inline, never as a
traceback. Every model call runs in ``eval_mode`` (dropout off, no gradients).

Example::

    SamplingPlayground(model, tokenizer)   # the last expression of a cell shows the widget
"""

from __future__ import annotations

import html
import inspect
import io
import math
import time

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import nn

from lmcourse.lm import eval_mode, next_token_logits, prompt_ids
from lmcourse.sampling import (
    _context_size,
    check_temperature,
    entropy_bits,
    generate,
    stream,
    streaming_decoder,
    tempered,
)
from lmcourse.utils import generator_from_seed, is_int
from lmcourse.viz import attention_heatmap, next_token_bars
from lmcourse.widgets import (
    WIDE,
    _check_model_and_tokenizer,
    _error_html,
    _read_seed,
    _seed_box,
    widget_bundle,
)

__all__ = ["AttentionExplorer", "NextTokenExplorer", "SamplingPlayground"]

_STYLE = {"description_width": "100px"}


def _check_counts(**counts: int) -> None:
    """A constructor's count arguments (``every``, ``dpi``, ``top``) as integers >= 1."""
    for name, value in counts.items():
        if not is_int(value) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")


def _png(fig: Figure, dpi: int) -> bytes:
    """The figure as PNG bytes (a ``Figure`` made without pyplot: nothing to close or leak)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _image() -> widgets.Image:
    """An image widget shown at its own size (in a VBox it would be stretched to the width)."""
    return widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))


def _pre(prompt: str, new: str) -> str:
    """The prompt and, in bold, the text the model wrote after it."""
    return f"<pre>{html.escape(prompt)}<b>{html.escape(new)}</b></pre>"


class SamplingPlayground:
    """Generate text from a language model and watch it appear: temperature, top-k, top-p, seed.

    "Generate" streams the text into ``output`` as the model writes it (every ``every``
    tokens); ``generate()`` returns the same text in one go. Temperature 0 is greedy (top-k and
    top-p then change nothing); top-k 0 and top-p 1 switch those filters off.

    Args:
        model: a ``GPT`` or any LM with the course's interface, on any device.
        tokenizer: its character tokenizer (``stoi``, ``encode``, ``decode``, ``vocab_size``).
        prompt: the text the model continues.
        every: tokens between two updates of the output while generating.

    Example::

        SamplingPlayground(model, tokenizer, prompt="ROSALIND:\\n")
    """

    def __init__(self, model: nn.Module, tokenizer, prompt: str = "FALSTAFF:\n", every: int = 8):
        _check_model_and_tokenizer(model, tokenizer)
        _check_counts(every=every)
        self.model, self.tokenizer, self.every = model, tokenizer, every
        self.prompt = widgets.Textarea(
            value=prompt, description="prompt", continuous_update=False, style=_STYLE, layout=WIDE
        )
        self.temperature = widgets.FloatSlider(
            value=0.8, min=0.0, max=2.0, step=0.05, description="temperature", style=_STYLE
        )
        self.top_k = widgets.IntSlider(
            value=0, min=0, max=tokenizer.vocab_size, description="top-k (0 off)", style=_STYLE
        )
        self.top_p = widgets.FloatSlider(
            value=1.0, min=0.05, max=1.0, step=0.05, description="top-p (1 off)", style=_STYLE
        )
        self.length = widgets.IntSlider(
            value=300, min=10, max=2000, step=10, description="length", style=_STYLE
        )
        self.seed = _seed_box(_STYLE, on_enter=self._on_generate)
        self.button = widgets.Button(description="Generate", button_style="primary")
        self.status = widgets.HTML()
        self.output = widgets.HTML()
        self.button.on_click(self._on_generate)
        controls = [self.prompt, self.temperature, self.top_k, self.top_p, self.length, self.seed]
        self.widget = widgets.VBox([*controls, self.button, self.status, self.output])

    def settings(self) -> dict:
        """The sampling arguments of ``lmcourse.sampling.generate`` that the controls set."""
        top_k, top_p = self.top_k.value, self.top_p.value
        return {
            "temperature": self.temperature.value,
            "top_k": top_k if top_k > 0 else None,
            "top_p": top_p if top_p < 1 else None,
        }

    def _start(self) -> tuple[torch.Tensor, torch.Generator]:
        """The prompt's ids and a generator seeded from the controls; ValueError on bad input."""
        idx = prompt_ids(self.model, self.tokenizer, self.prompt.value)
        return idx, generator_from_seed(_read_seed(self.seed))

    def generate(self) -> str:
        """The prompt and ``length`` new characters for the current settings, in one go."""
        idx, generator = self._start()
        with eval_mode(self.model):
            out = generate(self.model, idx, self.length.value, generator=generator,
                           **self.settings())  # fmt: skip
        return self.prompt.value + self.tokenizer.decode(out[0, idx.shape[1] :].tolist())

    def _describe(self, settings: dict) -> str:
        if settings["temperature"] == 0:
            words = ["temperature 0 (greedy)"]
        else:
            k, p = settings["top_k"], settings["top_p"]
            words = [f"temperature {settings['temperature']:g}",
                     "top-k off" if k is None else f"top-k {k}",
                     "top-p off" if p is None else f"top-p {p:g}"]  # fmt: skip
        words.append(f"seed {_read_seed(self.seed)}")
        block_size = _context_size(self.model, None)
        unit = "characters" if hasattr(self.tokenizer, "chars") else "tokens"  # (BPE: tokens)
        if block_size is not None and len(self.tokenizer.encode(self.prompt.value)) > block_size:
            words.append(f"the model sees the prompt's last {block_size} {unit}")
        return ", ".join(words)

    def _on_generate(self, _button=None) -> None:
        try:
            idx, generator = self._start()
        except ValueError as err:  # bad input: say what is wrong, keep the last output
            self.status.value = _error_html(str(err))
            return
        settings, before = self.settings(), self.output.value
        prompt, new, n, start = self.prompt.value, "", self.length.value, time.perf_counter()
        self.status.value, self.button.disabled = "generating…", True
        text_of = streaming_decoder(self.tokenizer)  # a BPE token can end inside a character
        try:
            with eval_mode(self.model):
                tokens = stream(self.model, idx, n, generator=generator, **settings)
                for i, token in enumerate(tokens, 1):  # token: (1, 1)
                    new += text_of(token[0].tolist())
                    if i % self.every == 0:
                        self.output.value = _pre(prompt, new)  # the text so far, as it is written
        except ValueError as err:
            self.status.value, self.output.value = _error_html(str(err)), before
            return
        finally:
            self.button.disabled = False
        self.output.value = _pre(prompt, new + text_of([], final=True))
        seconds = max(time.perf_counter() - start, 1e-9)
        speed = f"{n} tokens in {seconds:.2f} s ({n / seconds:.0f} tokens/s)"
        self.status.value = html.escape(f"{self._describe(settings)}: {speed}")

    _repr_mimebundle_ = widget_bundle


class AttentionExplorer:
    """The attention weights of any layer and head of a GPT on a text you type.

    Row t of the heatmap is what character t attends to (its weights sum to 1); everything
    above the diagonal is 0, because a character never sees the ones after it. A text longer
    than the model's context (``block_size``) is cut to its last ``block_size`` characters.

    Args:
        model: a ``GPT`` (any model whose ``forward`` takes ``return_attn=True`` and that has
            ``config.n_layer``, ``config.n_head`` and ``config.block_size``).
        tokenizer: its character tokenizer.
        text: the text to look at.
        dpi: the resolution of the heatmap image.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        text: str = "To be, or not to be, that is the question:",
        dpi: int = 80,
    ) -> None:
        _check_model_and_tokenizer(model, tokenizer)
        if "return_attn" not in inspect.signature(model.forward).parameters:
            raise TypeError(
                f"{type(model).__name__} cannot return attention weights (no return_attn "
                "argument): AttentionExplorer needs a GPT."
            )
        _check_counts(dpi=dpi)
        self.model, self.tokenizer, self.dpi = model, tokenizer, dpi
        config = model.config
        self.text = widgets.Textarea(  # a text area: line breaks (a speaker's line) show
            value=text, description="text", continuous_update=False, style=_STYLE,
            layout=widgets.Layout(width="95%", height="5em"),
        )  # fmt: skip
        self.layer = widgets.Dropdown(
            options=list(range(config.n_layer)), description="layer", style=_STYLE
        )
        self.head = widgets.Dropdown(
            options=list(range(config.n_head)), description="head", style=_STYLE
        )
        self.status = widgets.HTML()
        self.image = _image()
        for control in (self.text, self.layer, self.head):
            control.observe(self._redraw, names="value")
        controls = widgets.HBox([self.layer, self.head])
        self.widget = widgets.VBox([self.text, controls, self.status, self.image])
        self._redraw()

    def attention(self, text: str, layer: int, head: int) -> tuple[torch.Tensor, list[str]]:
        """The weights of one head on the text's last ``block_size`` characters, and those.

        Returns:
            ``(weights, tokens)``: the (T, T) weights on the CPU, row t summing to 1, and the
            T characters as strings.
        """
        config = self.model.config
        for name, value, count in (("layer", layer, config.n_layer), ("head", head, config.n_head)):
            if not is_int(value) or not 0 <= value < count:
                raise ValueError(f"{name} must be 0 to {count - 1}, got {value!r}.")
        idx = prompt_ids(self.model, self.tokenizer, text, "text")  # all of it is checked
        idx = idx[:, -config.block_size :]  # (1, T): the last block_size characters
        with eval_mode(self.model):
            _, _, attn = self.model(idx, return_attn=True)  # L maps, (1, H, T, T) each
        weights = attn[layer][0, head].float().cpu()  # (T, T)
        return weights, [self.tokenizer.decode([i]) for i in idx[0].tolist()]

    def _redraw(self, _change=None) -> None:
        text, layer, head = self.text.value, self.layer.value, self.head.value
        try:
            weights, tokens = self.attention(text, layer, head)
        except ValueError as err:  # bad text: say why, keep the last heatmap
            self.status.value = _error_html(str(err))
            return
        T = len(tokens)
        side = min(max(3.0, 0.25 * T + 2), 10.0)  # inches: about a quarter inch per token
        fig = Figure(figsize=(side + 1, side))
        attention_heatmap(weights, tokens, ax=fig.subplots(), title=f"Layer {layer}, head {head}")
        self.image.value = _png(fig, self.dpi)
        note = f"{T} character{'s' * (T != 1)}; row t: what character t attends to (rows sum to 1)."
        if len(text) > T:
            note = (
                f"The text has {len(text)} characters, more than the model's context "
                f"(block_size = {T}): showing its last {T}. " + note
            )
        self.status.value = html.escape(note)

    _repr_mimebundle_ = widget_bundle


class NextTokenExplorer:
    """The model's distribution over the next character after a prompt, at a temperature.

    Temperature T divides the logits: ``softmax(logits / T)``; below 1 sharper, above 1
    flatter, and 0 is the greedy choice (all the probability on the most likely character).

    Args:
        model: a ``GPT`` or any LM with the course's interface.
        tokenizer: its character tokenizer.
        prompt: the text before the next character.
        top: how many characters the bar chart shows.
        dpi: the resolution of the chart.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        prompt: str = "FALSTAFF:\nWhat, art thou mad? art thou mad? is not the tr",
        top: int = 10,
        dpi: int = 80,
    ) -> None:
        _check_model_and_tokenizer(model, tokenizer)
        _check_counts(top=top, dpi=dpi)
        self.model, self.tokenizer, self.top, self.dpi = model, tokenizer, top, dpi
        self.labels = [tokenizer.decode([i]) for i in range(tokenizer.vocab_size)]
        self.prompt = widgets.Textarea(  # a text area: line breaks show and can be typed
            value=prompt, description="prompt", continuous_update=False, style=_STYLE,
            layout=widgets.Layout(width="95%", height="4em"),
        )  # fmt: skip
        self.temperature = widgets.FloatSlider(
            value=1.0, min=0.0, max=2.0, step=0.05, description="temperature",
            continuous_update=False, style=_STYLE,
        )  # fmt: skip
        self.status = widgets.HTML()
        self.image = _image()
        for control in (self.prompt, self.temperature):
            control.observe(self._redraw, names="value")
        self.widget = widgets.VBox([self.prompt, self.temperature, self.status, self.image])
        self._redraw()

    def distribution(self, prompt: str, temperature: float) -> torch.Tensor:
        """``softmax(logits / T)`` of the next token after ``prompt`` (its last ``block_size``).

        Shapes:
            returns (V,) on the CPU, summing to 1; all of it on the argmax for T = 0.
        """
        check_temperature(temperature)  # before the model runs
        logits = next_token_logits(self.model, self.tokenizer, prompt)  # (V,)
        return torch.softmax(tempered(logits, temperature), dim=-1)

    def _redraw(self, _change=None) -> None:
        prompt, temperature = self.prompt.value, self.temperature.value
        try:
            probs = self.distribution(prompt, temperature)
        except ValueError as err:  # bad prompt: say why, keep the last chart
            self.status.value = _error_html(str(err))
            return
        fig = Figure(figsize=(6, 0.3 * min(self.top, len(probs)) + 1.2))
        shown = prompt if len(prompt) <= 20 else "…" + prompt[-20:]
        title = f"Next token after {shown!r}, temperature {temperature:g}"
        next_token_bars(probs, self.labels, ax=fig.subplots(), top=self.top, title=title)
        self.image.value = _png(fig, self.dpi)
        best = int(probs.argmax())
        entropy = entropy_bits(probs)
        V = len(probs)
        note = (f"Most likely next: {self.labels[best]!r} (p = {probs[best]:.3f}); entropy "
                f"{entropy:.2f} bits (at most log2 {V} = {math.log2(V):.2f}).")  # fmt: skip
        block_size = _context_size(self.model, None)
        if block_size is not None and len(prompt) > block_size:
            note += (
                f" The prompt is longer than the model's context: it sees its last {block_size}."
            )
        self.status.value = html.escape(note)

    _repr_mimebundle_ = widget_bundle
