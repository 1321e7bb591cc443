"""Widgets tested without a browser: set values, press buttons, read the widgets' state.

(tests/test_browser.py drives the same widgets in JupyterLab in a real browser.)
"""

import html
import math
import re

import ipywidgets as widgets
import pytest
import torch

from lmcourse.data import load_text
from lmcourse.explorers import AttentionExplorer, NextTokenExplorer, SamplingPlayground
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.ngram import NGramLM
from lmcourse.tokenizers import CharTokenizer
from lmcourse.widgets import NGramSampler, WithFallback


@pytest.fixture(scope="module")
def sampler():
    return NGramSampler(load_text("tiny-shakespeare")[:50_000], max_n=5)


def test_generate_button_shows_a_sample_that_continues_the_prompt(sampler):
    sampler.prompt.value = "ROMEO:\n"
    sampler.length.value = 100
    sampler.button.click()
    assert sampler.output.value.startswith("<pre>ROMEO:\n")
    assert len(sampler.output.value) > len("<pre>ROMEO:\n</pre>") + 50
    assert "n = 4, kneser_ney" in sampler.status.value


def test_same_seed_same_text_other_seed_other_text(sampler):
    sampler.temperature.value = 1.0
    sampler.seed.value = "1"
    first = sampler.generate()
    assert sampler.generate() == first
    sampler.seed.value = "2"
    assert sampler.generate() != first


def test_temperature_zero_is_greedy_whatever_the_seed(sampler):
    sampler.temperature.value = 0.0
    sampler.seed.value = "1"
    greedy = sampler.generate()
    sampler.seed.value = "99"
    assert sampler.generate() == greedy
    sampler.temperature.value = 1.0


def test_changing_n_and_smoothing_changes_the_model(sampler):
    sampler.n.value, sampler.smoothing.value = 2, "add_k"
    assert sampler.model(2, "add_k").n == 2
    sampler.button.click()
    assert "n = 2, add_k" in sampler.status.value
    assert sampler.model(2, "add_k") is sampler.model(2, "add_k")  # fitted once, then cached
    sampler.n.value, sampler.smoothing.value = 4, "kneser_ney"


def test_the_discount_reaches_the_kneser_ney_models():
    text = load_text("tiny-shakespeare")[:20_000]
    default, custom = NGramSampler(text, max_n=3), NGramSampler(text, max_n=3, discount=0.2)
    assert default.model(3, "kneser_ney").config.discount == 0.75  # NGramLM's default
    lm = custom.model(3, "kneser_ney")
    assert lm.config.discount == 0.2
    expected = NGramLM(n=3, smoothing="kneser_ney", discount=0.2).fit([text])
    context = ("t", "h")
    assert lm.next_token_probs(context) == pytest.approx(expected.next_token_probs(context))
    assert lm.prob("e", context) != default.model(3, "kneser_ney").prob("e", context)


def test_unknown_prompt_characters_are_reported_inline(sampler):
    sampler.button.click()
    before = sampler.output.value
    sampler.prompt.value = "Romeo ☕ é"
    sampler.button.click()
    assert "never saw" in sampler.status.value and "☕" in sampler.status.value
    assert "Traceback" not in sampler.status.value
    assert sampler.output.value == before  # the last good sample stays
    sampler.prompt.value = "ROMEO:\n"


# --------------------------------------------------------------------------- GPT explorers

TEXT = "ROMEO:\nTo be, or not to be, that is the question.\nJULIET:\nWherefore art thou Romeo?\n"
PNG = b"\x89PNG\r\n\x1a\n"


def _tiny_gpt(tok, dropout=0.0):
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=16,
                       dropout=dropout)  # fmt: skip
    return GPT(config, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def gpt():
    tok = CharTokenizer.from_text(TEXT)
    return _tiny_gpt(tok), tok


@pytest.fixture
def playground(gpt):
    widget = SamplingPlayground(*gpt, prompt="ROMEO:\n")
    widget.length.value = 40  # 7 + 40 > block_size 32: the context window moves once
    return widget


def _shown(output) -> str:
    """The text of an HTML widget's <pre>, as the reader sees it (the bold tags removed)."""
    return html.unescape(re.sub(r"</?(pre|b)>", "", output.value))


def test_playground_shows_the_prompt_plain_and_the_new_text_bold(playground):
    playground.button.click()
    value = playground.output.value
    assert value.startswith("<pre>ROMEO:\n<b>") and value.endswith("</b></pre>")
    new = value.removeprefix("<pre>ROMEO:\n<b>").removesuffix("</b></pre>")
    assert len(html.unescape(new)) == 40 and "<b>" not in new


@pytest.mark.parametrize("widget", ["sampler", "playground"])
def test_entering_a_seed_generates_as_the_button_does(widget, request):
    # the browser sends the seed box's value on Enter (continuous_update=False): a new seed
    # generates at once, the same text the Generate button gives for that seed
    widget = request.getfixturevalue(widget)
    assert widget.seed.continuous_update is False
    widget.seed.value = "7"
    entered, status = widget.output.value, widget.status.value
    assert "seed 7" in status and entered.startswith("<pre>")
    widget.output.value = ""
    widget.button.click()
    assert widget.output.value == entered
    widget.seed.value = "seven"  # a bad seed entered: named inline, the sample stays
    assert "got 'seven'" in html.unescape(widget.status.value)
    assert widget.output.value == entered
    widget.seed.value = "0"


def test_playground_streams_the_sample_into_the_output(playground):
    shown = []
    playground.output.observe(lambda change: shown.append(_shown(playground.output)), "value")
    playground.button.click()
    text = _shown(playground.output)
    assert text.startswith("ROMEO:\n") and len(text) == len("ROMEO:\n") + 40
    assert len(shown) == 5 and shown[-1] == text  # every 8 tokens: 8, 16, 24, 32, 40
    assert [len(s) for s in shown] == [7 + 8 * i for i in range(1, 6)]
    assert all(text.startswith(s) for s in shown)  # each update extends the last one
    assert text == playground.generate()  # streaming gives the same text as generate()
    status = html.unescape(playground.status.value)
    assert "temperature 0.8, top-k off, top-p off, seed 0: 40 tokens in" in status
    assert "tokens/s" in status and not playground.button.disabled


def test_playground_same_seed_same_text_other_seed_other_text(playground):
    playground.seed.value = "1"
    first = playground.generate()
    assert playground.generate() == first
    playground.seed.value = "2"
    assert playground.generate() != first


def test_playground_greedy_whatever_the_seed_and_top_k_1_is_greedy(playground):
    playground.temperature.value = 0.0
    greedy = playground.generate()
    playground.seed.value = "99"
    assert playground.generate() == greedy
    playground.button.click()
    assert "temperature 0 (greedy), seed 99" in playground.status.value
    playground.temperature.value, playground.top_k.value = 1.0, 1
    assert playground.settings() == {"temperature": 1.0, "top_k": 1, "top_p": None}
    assert playground.generate() == greedy
    playground.top_k.value, playground.top_p.value = 0, 0.5
    assert playground.settings() == {"temperature": 1.0, "top_k": None, "top_p": 0.5}


def test_playground_reports_bad_input_inline_and_keeps_the_output(playground):
    playground.button.click()
    before = playground.output.value
    for prompt, words in [
        ("Romeo é€é", "outside the model's vocabulary: 'é', '€'. Remove"),
        ("", "The prompt is empty: type at least one character"),
    ]:
        playground.prompt.value = prompt
        playground.button.click()
        status = html.unescape(playground.status.value)
        assert words in status and "Traceback" not in status
        assert playground.output.value == before
    playground.prompt.value, playground.seed.value = "R", str(2**70)
    playground.button.click()
    assert "seed" in playground.status.value and playground.output.value == before


def test_playground_long_prompt_uses_the_last_block_size_characters(playground):
    playground.prompt.value = TEXT[:50]  # block_size is 32
    playground.button.click()
    assert _shown(playground.output).startswith(TEXT[:50])
    assert "the model sees the prompt's last 32 characters" in html.unescape(
        playground.status.value
    )


def test_attention_image_and_weights(gpt):
    explorer = AttentionExplorer(*gpt, text="ROMEO:\nTo be")
    first = bytes(explorer.image.value)
    assert first.startswith(PNG) and "12 characters" in explorer.status.value
    explorer.head.value = 1
    assert bytes(explorer.image.value).startswith(PNG) and bytes(explorer.image.value) != first
    explorer.layer.value = 1
    weights, tokens = explorer.attention("ROMEO:\nTo be", 1, 1)
    assert tokens == list("ROMEO:\nTo be") and weights.shape == (12, 12)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(12))
    assert (weights.triu(diagonal=1) == 0).all()  # no character looks ahead
    assert weights[0, 0] == 1  # the first character can only look at itself


def test_attention_long_text_is_cropped_and_bad_text_reported(gpt):
    explorer = AttentionExplorer(*gpt, text=TEXT[:45])
    weights, tokens = explorer.attention(TEXT[:45], 0, 0)
    assert weights.shape == (32, 32) and "".join(tokens) == TEXT[13:45]
    assert "The text has 45 characters" in explorer.status.value
    assert "showing its last 32" in explorer.status.value
    before = bytes(explorer.image.value)
    explorer.text.value = "Roméo"
    assert "'é'" in html.unescape(explorer.status.value)
    assert bytes(explorer.image.value) == before  # the last heatmap stays
    with pytest.raises(ValueError, match="head must be 0 to 1"):
        explorer.attention("Romeo", 0, 2)


def _entropy(p):
    return -(p * p.clamp_min(1e-30).log()).sum().item()


def test_next_token_distribution(gpt):
    model, tok = gpt
    explorer = NextTokenExplorer(model, tok, prompt="To be")
    probs = explorer.distribution("To be", 1.0)
    assert probs.shape == (tok.vocab_size,) and math.isclose(probs.sum().item(), 1, rel_tol=1e-5)
    greedy = explorer.distribution("To be", 0.0)
    assert greedy.sum() == 1 and greedy[probs.argmax()] == 1  # one-hot at the argmax
    entropies = [_entropy(explorer.distribution("To be", t)) for t in (0.5, 1.0, 2.0)]
    assert entropies == sorted(entropies) and entropies[0] < entropies[-1]
    with torch.no_grad():  # an independent path: the model's last logits, softmax(z / T)
        logits, _ = model(torch.tensor([tok.encode(TEXT[8:40])]))
    torch.testing.assert_close(
        explorer.distribution(TEXT[:40], 0.5), torch.softmax(logits[0, -1] / 0.5, -1)
    )  # a prompt longer than block_size: its last 32 characters
    with pytest.raises(ValueError, match="temperature must be a number >= 0"):
        explorer.distribution("To be", -1.0)
    for tiny in (1e-50, 1e-300):  # below float32's range: still the argmax, never nan
        assert torch.equal(explorer.distribution("To be", tiny), greedy)


def test_next_token_widget_redraws_and_reports_errors(gpt):
    explorer = NextTokenExplorer(*gpt, prompt="To be")
    first = bytes(explorer.image.value)
    assert first.startswith(PNG) and "Most likely next" in explorer.status.value
    explorer.temperature.value = 0.0
    assert "p = 1.000" in explorer.status.value and "entropy 0.00 bits" in explorer.status.value
    greedy_chart = bytes(explorer.image.value)
    assert greedy_chart != first
    explorer.prompt.value = "To bé€"
    assert "'é', '€'" in html.unescape(explorer.status.value)
    assert bytes(explorer.image.value) == greedy_chart


def test_explorers_check_the_whole_text_and_say_when_the_model_sees_its_end(gpt):
    # a character outside the vocabulary is named even before the last block_size (32)
    long = "€" + TEXT[:40]
    next_token, attention = NextTokenExplorer(*gpt, prompt=TEXT[:40]), AttentionExplorer(*gpt)
    assert "longer than the model's context: it sees its last 32" in html.unescape(
        next_token.status.value
    )
    for widget, box in ((next_token, next_token.prompt), (attention, attention.text)):
        before = bytes(widget.image.value)
        box.value = long
        assert "'€'" in html.unescape(widget.status.value)
        assert bytes(widget.image.value) == before
    attention.text.value = "R"
    assert attention.status.value.startswith("1 character;")


def test_explorer_images_keep_their_own_size(gpt):
    # in a VBox an image is stretched to the cell's width unless it aligns to the start
    for widget in (NextTokenExplorer(*gpt), AttentionExplorer(*gpt)):
        assert widget.image.layout.align_self == "flex-start"


def test_explorers_compute_in_eval_mode():
    tok = CharTokenizer.from_text(TEXT)
    model = _tiny_gpt(tok, dropout=0.5).train()  # dropout would make every call differ
    explorer = NextTokenExplorer(model, tok, prompt="To be")
    torch.testing.assert_close(explorer.distribution("To be", 1), explorer.distribution("To be", 1))
    weights, _ = AttentionExplorer(model, tok, text="To be").attention("To be", 0, 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(5))
    playground = SamplingPlayground(model, tok, prompt="To be")
    playground.length.value = 10
    playground.button.click()
    assert _shown(playground.output) == playground.generate()
    assert model.training  # the mode is restored
    assert isinstance(playground.widget, widgets.VBox)
    assert playground._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]


def test_the_gpt_widgets_are_importable_from_lmcourse_widgets_too():
    from lmcourse import explorers
    from lmcourse.widgets import AttentionExplorer, NextTokenExplorer, SamplingPlayground

    assert SamplingPlayground is explorers.SamplingPlayground
    assert (AttentionExplorer, NextTokenExplorer) == (
        explorers.AttentionExplorer,
        explorers.NextTokenExplorer,
    )


def test_constructor_arguments_are_checked_in_words(gpt):
    with pytest.raises(ValueError, match="every must be an integer >= 1, got 0"):
        SamplingPlayground(*gpt, every=0)
    with pytest.raises(ValueError, match="dpi must be an integer >= 1, got 0"):
        AttentionExplorer(*gpt, dpi=0)
    with pytest.raises(ValueError, match="top must be an integer >= 1, got -2"):
        NextTokenExplorer(*gpt, top=-2)
    with pytest.raises(ValueError, match="max_n must be an integer >= 1, got 0"):
        NGramSampler(TEXT, max_n=0)
    with pytest.raises(ValueError, match="text must be a non-empty string"):
        NGramSampler("")
    for bad in (1.0, -0.1, "0.5", None, True, math.nan):
        with pytest.raises(
            ValueError, match=r"discount must be a number in \[0, 1\) \(Kneser-Ney's d\)"
        ):
            NGramSampler(TEXT, discount=bad)


@pytest.mark.parametrize("explorer", [SamplingPlayground, AttentionExplorer, NextTokenExplorer])
def test_explorers_name_a_wrong_model_or_tokenizer_at_construction(gpt, explorer):
    # named when the widget is made, not by a traceback at the first click
    model, tok = gpt
    with pytest.raises(TypeError, match="model must be a torch nn.Module .* got str"):
        explorer("notamodel", tok)
    with pytest.raises(TypeError, match="tokenizer must be the model's tokenizer .* got NoneType"):
        explorer(model, None)
    other = CharTokenizer.from_text(TEXT + "é")  # one character more: ids would decode wrongly
    with pytest.raises(ValueError, match=f"the tokenizer has {tok.vocab_size + 1} tokens but the "
                                         f"model {tok.vocab_size}: pass the tokenizer it was "
                                         "trained with"):  # fmt: skip
        explorer(model, other)


def test_a_seed_is_read_exactly_as_typed(sampler, playground):
    # a text box: a number box would pass the seed through the browser's floating point
    for widget in (sampler, playground):
        widget.seed.value = " 123456789012345678 "  # 18 digits: a float would end in ...680
        widget.button.click()
        assert "seed 123456789012345678" in widget.status.value
        before = widget.output.value
        for typed in ("1.5", "", "seven", "1e3", "0x10"):
            widget.seed.value = typed
            widget.button.click()
            message = html.unescape(widget.status.value)
            assert f"The seed must be a whole number, like 0 or 1234; got {typed!r}." in message
            assert widget.output.value == before
        widget.seed.value = "0"


def test_a_seed_too_large_for_torch_is_reported_inline(sampler):
    sampler.seed.value = str(10**20)
    before = sampler.output.value
    sampler.button.click()
    assert "too large" in sampler.status.value and sampler.output.value == before
    sampler.seed.value = "0"


def test_a_widgets_text_fallback_says_what_it_is(gpt, sampler):
    # what a notebook opened but not yet run shows (and GitHub): not VBox(children=(Textarea(...
    for widget in (sampler, SamplingPlayground(*gpt), AttentionExplorer(*gpt)):
        bundle = widget._repr_mimebundle_()
        name = type(widget).__name__
        assert bundle["text/plain"] == (f"{name}: an interactive widget. Run the notebook's "
                                        "cells (Run > Run All Cells) to use it here.")  # fmt: skip
        assert "application/vnd.jupyter.widget-view+json" in bundle  # the widget itself


def test_any_widget_can_have_the_text_fallback():
    box = widgets.VBox([widgets.IntSlider()])
    bundle = WithFallback(box, "A slider over the corpus's lines")._repr_mimebundle_()
    assert bundle["text/plain"].startswith("A slider over the corpus's lines: an interactive")
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == box.model_id
    with pytest.raises(TypeError, match="widget must be an ipywidget, got str"):
        WithFallback("a slider", "A slider")


def test_the_progress_bar_of_a_saved_notebook_says_what_it_is_not_0_percent():
    import nbformat
    from nbclient import NotebookClient

    code = "from lmcourse.progress import tqdm\nfor _ in tqdm(range(3), desc='training'): pass"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    (shown,) = [o.data for o in nb.cells[0].outputs if o.output_type == "display_data"]
    assert shown["text/plain"] == "training: a progress bar, live while the cell runs"
    assert "application/vnd.jupyter.widget-view+json" in shown


def test_playground_streams_a_bpe_models_characters_whole():
    # a byte-level BPE model writes "é" as two tokens (0xC3, 0xA9): each half alone is no
    # character, so the playground must wait for the second before it shows either
    from types import SimpleNamespace

    from lmcourse.bpe import BPETokenizer

    class WritesE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = SimpleNamespace(vocab_size=256, block_size=64)

        def forward(self, idx, targets=None):  # greedy: after 0xC3 comes 0xA9, else 0xC3
            following = torch.where(idx == 0xC3, 0xA9, 0xC3)  # (B, T)
            logits = torch.full((*idx.shape, 256), -1e9).scatter(2, following[..., None], 0.0)
            return logits, None

    playground = SamplingPlayground(WritesE(), BPETokenizer([]), prompt="x", every=1)
    playground.temperature.value, playground.length.value = 0.0, 10
    playground.button.click()
    assert _shown(playground.output) == "x" + "é" * 5
    playground.prompt.value = "x" * 70  # 70 tokens, past the context of 64: counted in tokens
    playground.button.click()
    assert "the model sees the prompt's last 64 tokens" in html.unescape(playground.status.value)
