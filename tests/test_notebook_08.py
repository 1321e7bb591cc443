"""Notebook 08 under papermill: it trains end to end, writes its files, resumes, names bad values.

The suite's ``LMCOURSE_PRESET=ci`` (tests/conftest.py) reaches the kernel too, so every run here
uses the ``ci`` preset: a few seconds of training.
"""

import json
from pathlib import Path

import nbformat
import papermill
import pytest

from lmcourse.checkpoint import load_checkpoint, model_from_checkpoint, tokenizer_from_checkpoint
from lmcourse.presets import PRESETS

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "08_train_gpt.ipynb"
CI_STEPS = PRESETS["ci"].train.max_steps


def execute(out: Path, **parameters) -> nbformat.NotebookNode:
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
        execution_timeout=600,
    )
    return nbformat.read(out, as_version=4)


def outputs(nb: nbformat.NotebookNode) -> list:
    return [output for cell in nb.cells if cell.cell_type == "code" for output in cell.outputs]


def stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in outputs(nb) if o.output_type == "stream")


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_the_ci_preset_trains_end_to_end_and_writes_its_files(tmp_path):
    run = tmp_path / "run"
    nb = execute(tmp_path / "08.ipynb", preset="ci", out_dir=str(run))
    assert not [o for o in outputs(nb) if o.output_type == "error"]
    assert (run / "ckpt.pt").is_file() and (run / "metrics.jsonl").is_file()

    entry = load_checkpoint(run / "ckpt.pt")
    assert entry["step"] == CI_STEPS
    model, tokenizer = model_from_checkpoint(entry), tokenizer_from_checkpoint(entry)
    assert model.config == PRESETS["ci"].gpt_config(tokenizer.vocab_size)

    records = metrics(run)
    assert [r["step"] for r in records if "loss" in r] == list(range(1, CI_STEPS + 1))
    assert [r["step"] for r in records if "val_loss" in r] == [0, 10, 20, 30]
    assert records[-1]["event"] == "done"

    text = stdout(nb)
    assert "preset 'ci' on cpu, seed 1337" in text
    assert f"{CI_STEPS} steps in" in text and "bits per character" in text
    assert f"checkpoint of step {CI_STEPS}:" in text and "equal the trained model's" in text


def test_resume_continues_the_run_in_out_dir(tmp_path):
    run = tmp_path / "run"
    execute(tmp_path / "first.ipynb", preset="ci", out_dir=str(run))
    nb = execute(tmp_path / "more.ipynb", preset="ci", out_dir=str(run), resume=True,
                 max_iters=CI_STEPS + 10)  # fmt: skip
    assert load_checkpoint(run / "ckpt.pt")["step"] == CI_STEPS + 10
    records = metrics(run)
    assert [r["step"] for r in records if "loss" in r] == list(range(1, CI_STEPS + 11))
    assert [r.get("event") for r in records].count("done") == 1  # the first run's was dropped
    assert f"{CI_STEPS + 10} steps in" in stdout(nb)


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"preset": "huge"}, ["preset must be one of", *PRESETS, "got 'huge'"]),
        ({"max_iters": 0}, ["max_iters must be an integer >= 1", "got 0"]),
    ],
)
def test_a_bad_parameter_stops_the_run_with_a_clear_message(tmp_path, parameters, words):
    with pytest.raises(papermill.PapermillExecutionError) as error:
        execute(tmp_path / "bad.ipynb", out_dir=str(tmp_path / "run"), **parameters)
    assert error.value.ename == "ValueError"
    for word in words:
        assert word in str(error.value)
    assert not (tmp_path / "run").exists()  # stopped before any training
