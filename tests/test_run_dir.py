"""lmcourse.run_dir: one run at a time trains into a folder, and nothing kept is overwritten."""

import os
import socket
import subprocess
import sys
import time

import pytest
import torch

from lmcourse.cli import main
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.run_dir import LOCK, RunInUse, claim, keep_aside, set_aside_run
from lmcourse.train import TrainConfig, train


@pytest.fixture
def live_process():
    """The id of a process that runs for the whole test (another run, as far as a lock can tell)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process.pid
    process.kill()
    process.wait()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # reaped: its id names no process now
    return process.pid


def hold(folder, pid, host=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK).write_text(f"{pid} {host or socket.gethostname()}\n")


def test_claim_writes_who_holds_the_folder_and_removes_the_lock_afterwards(tmp_path):
    with claim(tmp_path):
        assert (tmp_path / LOCK).read_text() == f"{os.getpid()} {socket.gethostname()}\n"
    assert not (tmp_path / LOCK).exists()
    with pytest.raises(KeyError), claim(tmp_path):  # an error inside: released all the same
        raise KeyError("boom")
    assert not (tmp_path / LOCK).exists()


def test_a_live_run_holds_its_folder(tmp_path, live_process):
    hold(tmp_path, live_process)
    message = (f"{tmp_path} is in use: a run (process {live_process} on {socket.gethostname()}) "
               f"is training into it now. Wait for it to end, or choose another folder. (If no "
               f"run is training there, delete {tmp_path / LOCK}.)")  # fmt: skip
    with pytest.raises(RunInUse) as error, claim(tmp_path):
        pass
    assert str(error.value) == message
    assert (tmp_path / LOCK).read_text().startswith(f"{live_process} ")  # left to its owner


def test_a_lock_of_a_process_that_is_gone_is_taken_over(tmp_path):
    hold(tmp_path, dead_pid())  # a run killed with kill -9 left it
    with claim(tmp_path):
        assert (tmp_path / LOCK).read_text().startswith(f"{os.getpid()} ")
    assert not (tmp_path / LOCK).exists()


@pytest.mark.parametrize("text", ["not-a-pid somewhere\n", "0 here\n", "", "1 2 3\n"])
def test_a_lock_this_module_did_not_write_is_taken_over(tmp_path, text):
    (tmp_path / LOCK).write_text(text)
    with claim(tmp_path):
        assert (tmp_path / LOCK).read_text().startswith(f"{os.getpid()} ")


def test_a_process_of_another_machine_cannot_be_asked_and_counts_as_alive(tmp_path):
    hold(tmp_path, dead_pid(), host="another-machine")  # a shared disk
    with pytest.raises(RunInUse, match=r"process \d+ on another-machine"), claim(tmp_path):
        pass


def _tiny_run(out_dir, resume=False):
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=8),
                generator=torch.Generator().manual_seed(0))  # fmt: skip
    data = torch.arange(200) % 5
    config = TrainConfig(max_steps=3, batch_size=2, block_size=4, eval_interval=3,
                         eval_batches=1)  # fmt: skip
    return train(model, data, data, config, out_dir=out_dir, resume=resume, progress=False)


def test_train_is_refused_a_folder_another_run_holds_and_leaves_its_files(tmp_path, live_process):
    run = tmp_path / "run"
    _tiny_run(run)
    before = (run / "ckpt.pt").read_bytes(), (run / "metrics.jsonl").read_bytes()
    hold(run, live_process)
    with pytest.raises(RunInUse, match=r"is in use: a run \(process"):
        _tiny_run(run, resume=True)
    assert ((run / "ckpt.pt").read_bytes(), (run / "metrics.jsonl").read_bytes()) == before
    # nor may notebook 08 move that run's files aside while it trains
    with pytest.raises(RunInUse, match=r"is in use"):
        set_aside_run(run)
    assert (run / "ckpt.pt").exists()
    (run / LOCK).unlink()  # the other run has ended
    assert set_aside_run(run) is not None and not (run / "ckpt.pt").exists()


def test_lmcourse_train_into_a_held_folder_is_one_line(tmp_path, live_process, capsys):
    hold(tmp_path / "run", live_process)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--preset", "ci", "--max-steps", "5", "--out-dir", str(tmp_path / "run"),
              "--no-progress"])  # fmt: skip
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("lmcourse train: error: ") and "is in use: a run (process" in err
    assert len(err.strip().splitlines()) == 1


def test_keep_aside_renames_a_file_after_its_time_and_never_over_another(tmp_path):
    path = tmp_path / "metrics.jsonl"
    assert keep_aside(path) is None  # nothing to keep
    names = []
    for text in ("first", "second"):
        path.write_text(text)
        os.utime(path, (1_700_000_000, 1_700_000_000))  # both written in the same second
        names.append(keep_aside(path).name)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(1_700_000_000))
    assert names == [f"metrics-{stamp}.jsonl", f"metrics-{stamp}-2.jsonl"]
    assert [(tmp_path / n).read_text() for n in names] == ["first", "second"]
    assert not path.exists()


@pytest.mark.parametrize(
    ("name", "what"), [("ckpt.pt", "checkpoint"), ("metrics.jsonl", "metrics")]
)
@pytest.mark.parametrize("resume", [False, True])
def test_a_run_file_that_is_a_folder_is_one_line_before_training(tmp_path, capsys, name, what,
                                                                   resume):  # fmt: skip
    (tmp_path / "run" / name).mkdir(parents=True)
    argv = ["train", "--preset", "ci", "--max-steps", "2", "--out-dir", str(tmp_path / "run"),
            "--no-progress", "--device", "cpu"] + ["--resume"] * resume  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err  # not "[Errno 21] Is a directory: ..."
    path = tmp_path / "run" / name
    message = f"{path} is not a file: the {what} could not be written there."
    assert err.splitlines()[-1] == f"lmcourse train: error: {message}"  # (resume: a note first)
    assert "Errno" not in err and "Traceback" not in err
    assert not (tmp_path / "run" / "ckpt.pt").is_file()  # refused before any step
