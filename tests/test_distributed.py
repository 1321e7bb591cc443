"""Two processes with DistributedDataParallel (gloo, CPU) train like one with twice the batch."""

import json
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from lmcourse import distributed
from lmcourse.checkpoint import load_checkpoint

SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    from lmcourse import distributed
    from lmcourse.data import train_val_split
    from lmcourse.gpt import GPT, GPTConfig
    from lmcourse.tokenizers import CharTokenizer
    from lmcourse.train import TrainConfig, train

    batch_size, out = int(sys.argv[1]), sys.argv[2]
    torch.set_num_threads(1)
    device = distributed.setup("cpu")
    text = "To be, or not to be, that is the question:\\n" * 40
    tok = CharTokenizer.from_text(text)
    train_data, val_data = train_val_split(torch.tensor(tok.encode(text)))
    config = GPTConfig(tok.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=16)
    model = GPT(config, generator=torch.Generator().manual_seed(0))
    run = TrainConfig(max_steps=5, batch_size=batch_size, block_size=16, learning_rate=1e-2,
                      eval_interval=5, eval_batches=2, grad_accum_steps=2, device=device)
    history = train(model, train_data, val_data, run, progress=False)
    if distributed.is_main_process():
        weights = [p.detach().flatten().tolist() for p in model.parameters()]
        with open(out, "w") as f:
            json.dump({"loss": history.step_loss, "world": distributed.world_size(),
                       "weights": weights}, f)
    distributed.teardown()
    """
)


def _run(tmp_path, command, batch_size, name):
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"{name}.json"
    result = subprocess.run(
        [*command, str(script), str(batch_size), str(out)], capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    two = _run(tmp_path, torchrun, batch_size=3, name="two")
    one = _run(tmp_path, [sys.executable], batch_size=6, name="one")
    assert (two["world"], one["world"]) == (2, 1)
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-5)
    for a, b in zip(two["weights"], one["weights"]):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), rtol=1e-4, atol=1e-4)
    assert one["loss"][-1] < one["loss"][0]  # it trained


def test_without_torchrun_everything_is_single_process():
    assert not distributed.is_distributed()
    assert distributed.rank() == 0 and distributed.world_size() == 1
    assert distributed.is_main_process()
    assert distributed.setup("cpu") == "cpu"
    batch = torch.arange(6).view(3, 2)
    assert torch.equal(distributed.share(batch), batch)
    assert distributed.all_sum([2.5, 1.0]) == [2.5, 1.0]  # itself: one process


HOW = ("these are torchrun's variables: start with torchrun --nproc_per_node=K -m lmcourse.train "
       "..., or unset RANK to train in one process.")  # fmt: skip
TORCHRUN = {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "localhost", "MASTER_PORT": "29500"}


@pytest.mark.parametrize(
    "env, problem",
    [
        ({"RANK": "0"}, "RANK is set ('0') but not WORLD_SIZE, MASTER_ADDR, MASTER_PORT"),
        (TORCHRUN | {"MASTER_ADDR": " "}, "RANK is set ('0') but not MASTER_ADDR"),
        (TORCHRUN | {"RANK": "x"}, "RANK must be a whole number, got 'x'"),
        (TORCHRUN | {"RANK": "2"}, "RANK must be 0 to WORLD_SIZE - 1, got RANK 2 and WORLD_SIZE 2"),
        (TORCHRUN | {"WORLD_SIZE": "0"}, "RANK must be 0 to WORLD_SIZE - 1, got RANK 0 and "
                                         "WORLD_SIZE 0"),
        (TORCHRUN | {"MASTER_PORT": "70000"}, "LOCAL_RANK must be >= 0 and MASTER_PORT in "
                                              "1..65535, got None and '70000'"),
    ],
)  # fmt: skip
def test_torchrun_variables_set_by_hand_are_checked_before_joining(monkeypatch, env, problem):
    # without the check: a stack trace from torch.distributed, or (RANK 2 of 2) a wait of 30 min
    for name in (*TORCHRUN, "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"^{re.escape(problem)}: {re.escape(HOW)}$"):
        distributed.setup("cpu")
    assert not distributed.is_distributed()


def _train_cli(launcher, out_dir, *options):
    command = [*launcher, "-m", "lmcourse.train", "--preset", "ci", "--out-dir", str(out_dir),
               "--batch-size", "4", "--no-progress", "--device", "cpu", *options]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return [line for line in result.stderr.splitlines() if "lmcourse train: note:" in line]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_resuming_with_another_number_of_processes_says_how_the_batch_changed(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    run = tmp_path / "run"
    assert _train_cli(torchrun, run, "--max-steps", "10") == []
    assert load_checkpoint(run / "ckpt.pt")["world_size"] == 2
    # one process of 4 windows: half the batch the run had; said once, with both numbers
    (note,) = _train_cli([sys.executable], run, "--max-steps", "15", "--resume")
    assert "batch_size (was 4 on each of 2 processes, 8 in all, now 4)" in note
    assert load_checkpoint(run / "ckpt.pt")["world_size"] == 1
    # back to two processes: the note comes from process 0 only, not once per process
    (note,) = _train_cli(torchrun, run, "--max-steps", "20", "--resume")
    assert "batch_size (was 4, now 4 on each of 2 processes, 8 in all)" in note
    # one process of 8 windows reads the same 8 windows a step as 2 of 4: no batch to note
    (note,) = _train_cli([sys.executable], run, "--max-steps", "25", "--resume",
                         "--batch-size", "8")  # fmt: skip
    assert "max_steps (was 20, now 25)" in note and "batch_size" not in note


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_ctrl_c_at_torchrun_stops_every_process_after_the_same_step_and_saves_it(tmp_path):
    # torchrun passes a Ctrl-C (SIGINT) on to each process, each at its own moment; without an
    # agreement the processes die mid-step (a KeyboardInterrupt each) and the steps since the
    # last checkpoint are lost
    run, metrics = tmp_path / "run", tmp_path / "run" / "metrics.jsonl"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "lmcourse.train", "--preset", "ci", "--max-steps", "100000", "--out-dir",
               str(run), "--batch-size", "4", "--no-progress", "--device", "cpu"]  # fmt: skip
    torchrun = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (metrics.exists() and metrics.read_text().count("\n") > 25):  # after step 20
        assert torchrun.poll() is None and time.monotonic() < deadline, torchrun.stderr.read()
        time.sleep(0.1)
    torchrun.send_signal(signal.SIGINT)
    _, stderr = torchrun.communicate(timeout=120)
    # said once, by process 0, with the command that continues on as many processes; had the
    # other process stopped after another step, the all-reduce of that step would have failed
    stopped = re.findall(r"lmcourse train: SIGINT: stopped after step (\d+) of 100000", stderr)
    assert len(stopped) == 1, stderr[-3000:]
    assert "Continue with:\n    torchrun --nproc_per_node=2 -m lmcourse.train --preset ci" in stderr
    # (torchrun itself, the launcher, ends with its own SignalException traceback: not ours)
    assert "KeyboardInterrupt" not in stderr and "lmcourse/" not in stderr.split("Traceback")[-1]
    step = int(stopped[0])
    assert load_checkpoint(run / "ckpt.pt")["step"] == step > 20  # saved, not 10 or 20
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == list(range(1, step + 1))


EARLY_STOP_SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    from lmcourse import distributed
    from lmcourse.data import train_val_split
    from lmcourse.gpt import GPT, GPTConfig
    from lmcourse.tokenizers import CharTokenizer
    from lmcourse.train import TrainConfig, train

    class StopOnOneProcess:  # says stop at step 4 on process 1 only
        def update(self, step, val_loss, model):
            return distributed.rank() == 1 and step >= 4

    torch.set_num_threads(1)
    device = distributed.setup("cpu")
    text = "To be, or not to be, that is the question:\\n" * 40
    tok = CharTokenizer.from_text(text)
    train_data, val_data = train_val_split(torch.tensor(tok.encode(text)))
    model = GPT(GPTConfig(tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16))
    run = TrainConfig(max_steps=10, batch_size=2, block_size=16, eval_interval=2,
                      eval_batches=1, device=device)
    history = train(model, train_data, val_data, run, progress=False,
                    early_stopping=StopOnOneProcess())
    with open(sys.argv[1] + str(distributed.rank()), "w") as f:
        json.dump({"steps": len(history.step_loss), "evaluated": history.steps}, f)
    distributed.teardown()
    """
)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_early_stopping_on_one_process_stops_them_all_after_the_same_step(tmp_path):
    # the processes see the same validation losses, but a stop must never depend on that: one
    # process stopping alone would leave the others waiting in their next all-reduce forever
    script = tmp_path / "early_stop_ddp.py"
    script.write_text(EARLY_STOP_SCRIPT)
    out = tmp_path / "rank"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    result = subprocess.run([*torchrun, str(script), str(out)], capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in (0, 1):
        seen = json.loads((tmp_path / f"rank{rank}").read_text())
        assert seen == {"steps": 4, "evaluated": [0, 2, 4]}
