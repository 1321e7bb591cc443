"""Two processes with DistributedDataParallel (gloo, CPU) train like one with twice the batch."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from lmcourse import distributed

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
    assert distributed.average(2.5) == 2.5
