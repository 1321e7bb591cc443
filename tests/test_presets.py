"""Tests of lmcourse.presets that need no training (training runs: test_checkpoint, test_cli*)."""

import re

import pytest

from lmcourse.presets import PRESETS, train_gpt


@pytest.mark.parametrize("preset", [5, None, PRESETS["ci"].train])
def test_train_gpt_names_a_preset_that_is_neither_a_name_nor_a_preset(preset):
    message = f"preset must be a name of {list(PRESETS)} or a Preset, got {preset!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        train_gpt(preset)
