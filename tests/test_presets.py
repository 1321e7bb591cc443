"""Tests of lmcourse.presets that need no training (training runs: test_checkpoint, test_cli*)."""

import re

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
