"""Widgets tested without a browser: set values, press buttons, read the widgets' state.

(tests/test_browser.py drives the same widgets in JupyterLab in a real browser.)
"""

import pytest

from lmcourse.data import load_text
from lmcourse.widgets import NGramSampler


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
    sampler.seed.value = 1
    first = sampler.generate()
    assert sampler.generate() == first
    sampler.seed.value = 2
    assert sampler.generate() != first


def test_temperature_zero_is_greedy_whatever_the_seed(sampler):
    sampler.temperature.value = 0.0
    sampler.seed.value = 1
    greedy = sampler.generate()
    sampler.seed.value = 99
    assert sampler.generate() == greedy
    sampler.temperature.value = 1.0


def test_changing_n_and_smoothing_changes_the_model(sampler):
    sampler.n.value, sampler.smoothing.value = 2, "add_k"
    assert sampler.model(2, "add_k").n == 2
    sampler.button.click()
    assert "n = 2, add_k" in sampler.status.value
    assert sampler.model(2, "add_k") is sampler.model(2, "add_k")  # fitted once, then cached
    sampler.n.value, sampler.smoothing.value = 4, "kneser_ney"


def test_unknown_prompt_characters_are_reported_inline(sampler):
    sampler.button.click()
    before = sampler.output.value
    sampler.prompt.value = "Romeo ☕ é"
    sampler.button.click()
    assert "never saw" in sampler.status.value and "☕" in sampler.status.value
    assert "Traceback" not in sampler.status.value
    assert sampler.output.value == before  # the last good sample stays
    sampler.prompt.value = "ROMEO:\n"
