"""Notebooks run under papermill with other parameters, as the README shows."""

from pathlib import Path

import nbformat
import papermill
import pytest

from lmcourse.cli import main

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def stream_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )


def test_text_as_data_runs_on_a_users_own_file(tmp_path):
    poem = "Ἀρχὴ καὶ τέλος.\nThe quick brown fox: jumps over the lazy dog!\n日本語のテキスト。\n"
    corpus = tmp_path / "my poem.txt"
    corpus.write_text(poem * 40, encoding="utf-8")
    out = tmp_path / "01_out.ipynb"
    papermill.execute_notebook(
        NOTEBOOKS / "01_text_as_data.ipynb",
        out,
        parameters={"corpus": str(corpus), "block_size": 4},
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        execution_timeout=600,
    )
    text = stream_text(out)
    assert f"this notebook's corpus ({str(corpus)!r}): {len(poem) * 40:,} characters" in text
    assert f"{len(set(poem))} distinct characters:" in text
    assert "x: (4, 4) y: (4, 4)" in text


def test_a_missing_file_stops_the_run_with_a_clear_message(tmp_path):
    missing = tmp_path / "nowhere.txt"
    try:
        papermill.execute_notebook(
            NOTEBOOKS / "01_text_as_data.ipynb",
            tmp_path / "out.ipynb",
            parameters={"corpus": str(missing)},
            kernel_name="python3",
            cwd=str(NOTEBOOKS),
            progress_bar=False,
            execution_timeout=600,
        )
    except papermill.PapermillExecutionError as err:
        assert err.ename == "FileNotFoundError"
        assert "nowhere.txt" in err.evalue
    else:
        raise AssertionError("the notebook ran on a file that does not exist")


def test_sampling_and_inside_notebooks_run_on_the_learners_own_checkpoint(tmp_path):
    # "your own model": notebook 08's kind of checkpoint in notebooks 09 and 10, widgets and all
    from lmcourse.presets import train_gpt

    run = tmp_path / "run"
    model, _, _ = train_gpt("ci", out_dir=run, progress=False, device="cpu")
    params = f"{sum(p.numel() for p in model.parameters()):,}"
    for notebook, source in (("09_sampling", run / "ckpt.pt"), ("10_inside_gpt", run)):
        out = tmp_path / f"{notebook}.ipynb"
        papermill.execute_notebook(
            NOTEBOOKS / f"{notebook}.ipynb",
            out,
            parameters={"checkpoint": str(source)},
            kernel_name="python3",
            cwd=str(NOTEBOOKS),
            progress_bar=False,
            execution_timeout=600,
        )
        text = stream_text(out)
        if notebook == "09_sampling":
            assert f"{run / 'ckpt.pt'}: a GPT with {params} parameters" in text
            assert "(the run's last estimate)" in text and "trained for 30 steps" in text
        else:  # the ci model's context is 32 characters, shorter than the passage
            assert "the passage is cut to the model's context, its first 32 characters" in text


def test_the_leaderboard_places_a_character_or_a_bpe_checkpoint_and_notebook_09_names_bpe(
    tmp_path,
):
    # notebook 11 saves its BPE GPTs with their tokenizers: notebook 16 scores one like any row
    import re

    import torch

    from lmcourse.bpe import train_bpe
    from lmcourse.data import load_text, train_val_split
    from lmcourse.gpt import GPT
    from lmcourse.lm import bits_per_character
    from lmcourse.presets import PRESETS, train_gpt
    from lmcourse.train import train

    train_text, val_text = train_val_split(load_text("tiny-shakespeare"))
    bpe = train_bpe(train_text[:50_000], 300)
    recipe = PRESETS["ci"].with_changes(device="cpu")
    model = GPT(recipe.gpt_config(bpe.vocab_size))
    ids = torch.tensor(bpe.encode(train_text[:50_000]))
    train(model, ids, ids, recipe.train, progress=False, out_dir=tmp_path / "bpe", tokenizer=bpe,
          corpus="tiny-shakespeare")  # fmt: skip
    char_model, char_tok, _ = train_gpt("ci", out_dir=tmp_path / "char", progress=False,
                                        device="cpu")  # fmt: skip
    block = recipe.train.block_size
    for name, m, tok in (("bpe", model, bpe), ("char", char_model, char_tok)):
        out = tmp_path / f"16_{name}.ipynb"
        papermill.execute_notebook(NOTEBOOKS / "16_leaderboard.ipynb", out,
                                   parameters={"checkpoint": str(tmp_path / name)},
                                   kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False,
                                   execution_timeout=600)  # fmt: skip
        pattern = rf": ([\d.]+) bits per character in windows of {block}, ([\d,]+) parameters"
        placed = re.search(re.escape(str(tmp_path / name)) + pattern, stream_text(out))
        expected = bits_per_character(m.eval(), tok, val_text, block_size=block)
        assert placed and placed.group(1) == f"{expected:.3f}", (name, expected)
        assert placed.group(2) == f"{sum(p.numel() for p in m.parameters()):,}"
    with pytest.raises(papermill.PapermillExecutionError, match="holds a model over other tokens "
                       "than characters .BPETokenizer.vocab_size=300"):  # fmt: skip
        papermill.execute_notebook(NOTEBOOKS / "09_sampling.ipynb", tmp_path / "09.ipynb",
                                   parameters={"checkpoint": str(tmp_path / "bpe")},
                                   kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False,
                                   execution_timeout=600)  # fmt: skip


@pytest.mark.parametrize(
    "options, problem",
    [
        (["--device", "cuda:99"], "'cuda:99'"),  # no machine here has 100 GPUs
        (["-p", "device", "tpu"], "Unknown device 'tpu'; use one of cuda, mps, cpu"),
    ],
)
def test_lmcourse_run_refuses_a_missing_device_before_a_kernel_starts(tmp_path, capsys, options,
                                                                      problem):  # fmt: skip
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        main(["run", "08", "--preset", "ci", "--no-progress", "--out-dir", str(out), *options])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("lmcourse run: error: 08_train_gpt.ipynb: ") and problem in error
    assert error.count("\n") == 1  # one line, not a notebook's traceback
    assert not out.exists()  # no kernel, no half-run notebook left behind


def test_lmcourse_run_names_an_out_dir_it_cannot_make(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    for out_dir, reason in ((a_file, "File exists"), (a_file / "run", "Not a directory")):
        with pytest.raises(SystemExit) as stop:
            main(["run", "08", "--preset", "ci", "--no-progress", "--out-dir", str(out_dir)])
        assert stop.value.code == 2
        assert capsys.readouterr().err == (
            f"lmcourse run: error: cannot make the folder {str(out_dir)!r} for the executed "
            f"notebook ({reason}); choose another --out-dir.\n"
        )
    assert a_file.read_text() == "mine"
