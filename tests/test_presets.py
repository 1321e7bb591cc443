"""Tests of lmcourse.presets that need no training (training runs: test_checkpoint, test_cli*)."""

import re
import warnings

import pytest

from lmcourse.presets import PRESETS, train_gpt


@pytest.mark.parametrize("preset", [5, None, PRESETS["ci"].train])
def test_train_gpt_names_a_preset_that_is_neither_a_name_nor_a_preset(preset):
    message = f"preset must be a name of {list(PRESETS)} or a Preset, got {preset!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        train_gpt(preset)


def test_with_changes_replaces_model_and_training_settings_in_a_copy():
    cpu = PRESETS["cpu"]
    changed = cpu.with_changes(n_layer=2, dropout=0.1, max_steps=100, min_lr=None, seed=7)
    assert (changed.n_layer, changed.dropout) == (2, 0.1)
    assert (changed.train.max_steps, changed.train.min_lr, changed.train.seed) == (100, None, 7)
    # everything else is the preset's, and the preset itself is unchanged
    assert changed.n_head == cpu.n_head and changed.train.learning_rate == cpu.train.learning_rate
    assert (cpu.n_layer, cpu.train.max_steps, cpu.train.min_lr) == (4, 2000, 1e-4)
    assert cpu.with_changes() == cpu


def test_with_changes_names_an_unknown_setting_and_checks_the_values():
    with pytest.raises(ValueError, match=r"unknown settings \['layers', 'lr'\]; known: \['bias',"):
        PRESETS["cpu"].with_changes(layers=2, lr=1e-3)
    with pytest.raises(ValueError, match=r"unknown settings \['steps'\]"):
        train_gpt("ci", steps=5)  # train_gpt's overrides are with_changes'
    with pytest.raises(ValueError, match=r"max_steps must be an integer >= 1, got 0"):
        PRESETS["cpu"].with_changes(max_steps=0)  # TrainConfig checks its own fields


def test_bpe_on_a_text_with_few_places_to_cut_warns_that_it_may_take_minutes(tmp_path, monkeypatch):
    from lmcourse import presets
    from lmcourse.bpe import split_text
    from lmcourse.data import load_text

    # the real threshold, 10,000 characters, is never reached by Shakespeare's text
    assert max(map(len, split_text(load_text("tiny-shakespeare")))) < presets.SLOW_BPE_CHUNK
    monkeypatch.setattr(presets, "SLOW_BPE_CHUNK", 500)  # so that a small text reaches it
    dna, spaced = tmp_path / "dna.txt", tmp_path / "spaced.txt"
    dna.write_text("ACGT" * 250)  # one chunk: training takes the first 900 characters
    spaced.write_text("ACGT " * 200)
    settings = dict(bpe_vocab_size=257, max_steps=5, progress=False, device="cpu")
    with pytest.warns(UserWarning) as caught:
        train_gpt("ci", corpus=str(dna), **settings)
    [warning] = caught
    assert warning.filename == __file__  # the line that called train_gpt, not a line inside it
    assert str(warning.message) == (
        f"the longest chunk of {str(dna)!r} (the text between the spaces, line breaks and "
        "punctuation where BPE cuts it) is 900 characters: BPE training may take minutes, as "
        "each merge re-reads that chunk. A text with spaces or line breaks trains in seconds."
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a text with spaces: no warning at all
        train_gpt("ci", corpus=str(spaced), **settings)
