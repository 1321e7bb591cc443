"""Checkpoints: a resumed run equals an uninterrupted one, and bad files fail clearly."""

import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import asdict

import pytest
import torch

from lmcourse import trainer
from lmcourse.bpe import train_bpe
from lmcourse.checkpoint import (
    CheckpointError,
    changed_settings,
    check_compatible,
    config_differences,
    data_sha256,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    set_aside_run,
    tokenizer_from_checkpoint,
)
from lmcourse.data import train_val_split
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.presets import PRESETS, train_gpt
from lmcourse.pretrained import MODELS_DIR
from lmcourse.tokenizers import CharTokenizer, WordTokenizer
from lmcourse.train import TrainConfig, lr_at, train

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind\n" * 30
TOKENIZER = CharTokenizer.from_text(TEXT)
TRAIN, VAL = train_val_split(torch.tensor(TOKENIZER.encode(TEXT)))
CONFIG = TrainConfig(max_steps=8, batch_size=4, block_size=16, learning_rate=3e-3, min_lr=3e-4,
                     warmup_steps=2, eval_interval=3, eval_batches=2, device="cpu")  # fmt: skip


def _gpt(n_embd=16, dropout=0.1, seed=0):
    config = GPTConfig(TOKENIZER.vocab_size, 16, n_layer=2, n_head=2, n_embd=n_embd,
                       dropout=dropout)  # fmt: skip
    return GPT(config, generator=torch.Generator().manual_seed(seed))


class Killed(Exception):
    """Stands for the process being killed right after a checkpoint."""


def _kill_after_checkpoint_at(monkeypatch, step):
    save = trainer.Run.save

    def save_then_die(run):
        save(run)
        if run.step == step:
            raise Killed

    monkeypatch.setattr(trainer.Run, "save", save_then_die)


def _train(out_dir=None, resume=False, model=None, config=CONFIG):
    model = model or _gpt()
    history = train(model, TRAIN, VAL, config, progress=False, out_dir=out_dir, resume=resume,
                    tokenizer=TOKENIZER)  # fmt: skip
    return model, history


def test_resume_after_a_kill_equals_the_uninterrupted_run_bit_for_bit(tmp_path, monkeypatch):
    reference, reference_history = _train()
    config = TrainConfig(**{**CONFIG.__dict__, "checkpoint_interval": 4})
    with monkeypatch.context() as patch:
        _kill_after_checkpoint_at(patch, 4)
        with pytest.raises(Killed):
            _train(tmp_path, config=config)
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 4
    resumed, history = _train(tmp_path, resume=True, model=_gpt(seed=99), config=config)
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name  # dropout, batches and Adam's moments all continued
    assert history.step_loss == reference_history.step_loss
    assert history.val_loss == reference_history.val_loss
    assert history.steps == reference_history.steps == [0, 3, 6, 8]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == list(range(1, 9))  # each step once
    assert [r["step"] for r in records if "val_loss" in r] == [0, 3, 6, 8]
    assert records[-1]["event"] == "done"


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path):
    a, _ = _train(tmp_path / "new", resume=True)
    b, _ = _train()
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def test_a_checkpoint_rebuilds_model_and_tokenizer(tmp_path):
    model, _ = _train(tmp_path)
    entry = load_checkpoint(tmp_path / "ckpt.pt")
    assert entry["step"] == 8 and entry["train_config"]["learning_rate"] == 3e-3
    rebuilt, tokenizer = model_from_checkpoint(entry).eval(), tokenizer_from_checkpoint(entry)
    assert tokenizer == TOKENIZER
    idx = torch.tensor([TOKENIZER.encode("To be, or")])
    torch.testing.assert_close(rebuilt(idx)[0], model.eval()(idx)[0], rtol=0, atol=0)


def test_a_fresh_run_in_a_used_folder_keeps_the_earlier_run(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    first, _ = _train(run_dir)
    earlier = [(run_dir / name).read_bytes() for name in ("ckpt.pt", "metrics.jsonl")]
    with pytest.raises(FileExistsError, match="already holds a run"):
        _train(run_dir)
    kept = set_aside_run(run_dir)
    assert kept.parent == run_dir.resolve().parent and kept.name.startswith("run-20")
    assert [(kept / name).read_bytes() for name in ("ckpt.pt", "metrics.jsonl")] == earlier
    assert not (run_dir / "ckpt.pt").exists() and not (run_dir / "metrics.jsonl").exists()
    _train(run_dir)  # the folder is free again
    again = set_aside_run(run_dir)  # within the same second: another name, nothing replaced
    assert again != kept and (again / "ckpt.pt").is_file() and (kept / "ckpt.pt").is_file()
    rebuilt = model_from_checkpoint(load_checkpoint(kept / "ckpt.pt"))
    assert all(torch.equal(x, y) for x, y in zip(rebuilt.parameters(), first.parameters()))
    assert set_aside_run(run_dir) is None and set_aside_run(tmp_path / "never") is None
    (run_dir / "metrics.jsonl").write_text("{}\n")  # a relative out_dir: a relative answer
    monkeypatch.chdir(tmp_path)
    relative = set_aside_run("run")
    assert not relative.is_absolute() and relative.name.startswith("run-20")
    assert (relative / "metrics.jsonl").read_text() == "{}\n"


def test_resuming_into_another_config_lists_the_fields_that_differ(tmp_path):
    _train(tmp_path)
    with pytest.raises(CheckpointError, match="n_embd: checkpoint 16, model 32") as error:
        _train(tmp_path, resume=True, model=_gpt(n_embd=32, dropout=0.0))
    assert "dropout: checkpoint 0.1, model 0.0" in str(error.value)


def test_config_differences_names_fields_that_only_one_side_has():
    config = _gpt().config
    assert config_differences(asdict(config), config) == []
    # a field only the checkpoint has (e.g. from an older version of the course)
    assert config_differences({**asdict(config), "old": 1}, config) == [
        "old: checkpoint 1, model '(none)'"
    ]
    # a field only the model's config has
    saved = {name: value for name, value in asdict(config).items() if name != "dropout"}
    assert config_differences(saved, config) == ["dropout: checkpoint '(none)', model 0.1"]


def test_check_compatible_refuses_a_checkpoint_with_an_unknown_config_field():
    model = _gpt()
    entry = {"model_class": "GPT", "model_config": asdict(model.config)}
    check_compatible(entry, model)  # the same config fits
    entry["model_config"]["old"] = 1
    message = "another config; these fields differ:\n  old: checkpoint 1, model '(none)'"
    with pytest.raises(CheckpointError, match=re.escape(message)):
        check_compatible(entry, model)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_truncated_or_corrupt_checkpoint_fails_with_a_clear_message(tmp_path, damage):
    path = save_checkpoint(tmp_path / "ckpt.pt", _gpt(), step=3)
    data = path.read_bytes()
    broken = {"truncate": data[: len(data) // 2], "garbage": os.urandom(4096), "empty": b""}
    path.write_bytes(broken[damage])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_loading_never_runs_code(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "lmcourse-checkpoint-1", "model": Payload()}, path)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_other_files_are_refused_by_name(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an lmcourse checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize(
    "error, reason",
    [
        (OSError(28, "No space left on device"), "No space left on device"),
        # torch's zip writer reports a full disk so: the reason is put in words, not copied
        (
            RuntimeError(
                "[enforce fail at inline_container.cc:672] . unexpected pos 300416 vs 300304"
            ),
            "the write failed",
        ),  # fmt: skip
    ],
)
def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch, error, reason):
    path = save_checkpoint(tmp_path / "ckpt.pt", _gpt(), step=1)
    before = path.read_bytes()

    def crash(obj, f):
        f.write(b"half a file")
        raise error

    monkeypatch.setattr(torch, "save", crash)
    message = (
        rf"^Could not write the checkpoint {re.escape(str(path))} \({reason}\); the "
        r"previous one is kept\. [\d,.]+ MB are free on its disk: make room, then resume\.$"
    )
    with pytest.raises(OSError, match=message):  # one line, no torch internals
        save_checkpoint(path, _gpt(), step=2)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no temporary file left
    with pytest.raises(OSError, match=rf"\({reason}\); nothing was written\."):
        save_checkpoint(tmp_path / "new" / "ckpt.pt", _gpt(), step=2)  # no earlier checkpoint


KILLED_WHILE_SAVING = """
import io, json, os, signal, sys
import torch
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.bpe import train_bpe
from lmcourse.data import train_val_split
from lmcourse.tokenizers import CharTokenizer, WordTokenizer
from lmcourse.train import TrainConfig, train

text, settings, out_dir = open(sys.argv[1]).read(), json.loads(sys.argv[2]), sys.argv[3]
tok = CharTokenizer.from_text(text)
train_data, val_data = train_val_split(torch.tensor(tok.encode(text)))
model = GPT(GPTConfig(tok.vocab_size, 16, n_layer=2, n_head=2, n_embd=16, dropout=0.1),
            generator=torch.Generator().manual_seed(0))
save, calls = torch.save, []

def save_half_then_die(obj, f):  # kill -9 in the middle of writing the second checkpoint
    calls.append(1)
    if len(calls) == 2:
        whole = io.BytesIO()
        save(obj, whole)
        f.write(whole.getvalue()[: len(whole.getvalue()) // 2])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    save(obj, f)

torch.save = save_half_then_die
train(model, train_data, val_data, TrainConfig(**settings), progress=False, out_dir=out_dir,
      tokenizer=tok)
"""


def test_kill_9_while_a_checkpoint_is_written_loses_nothing_and_resume_equals_the_whole_run(
    tmp_path,
):
    config = TrainConfig(**{**CONFIG.__dict__, "checkpoint_interval": 2})
    reference, reference_history = _train(config=config)
    (tmp_path / "text.txt").write_text(TEXT)
    run = tmp_path / "run"
    died = subprocess.run([sys.executable, "-c", KILLED_WHILE_SAVING, str(tmp_path / "text.txt"),
                           json.dumps(asdict(config)), str(run)], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    assert load_checkpoint(run / "ckpt.pt")["step"] == 2  # the first save, whole
    (half,) = run.glob("ckpt.pt*.tmp")  # the second, cut short, under its temporary name
    resumed, history = _train(run, resume=True, model=_gpt(seed=99), config=config)
    assert not half.exists()  # the dead copy is removed, so kills never fill the disk
    assert sorted(p.name for p in run.iterdir()) == ["ckpt.pt", "metrics.jsonl"]
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert history.step_loss == reference_history.step_loss
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == list(range(1, 9))  # each step once


def test_learning_rate_warms_up_then_follows_the_cosine():
    _, history = _train()
    assert history.lr == [lr_at(step, CONFIG) for step in range(1, 9)]
    assert history.lr[:2] == [1.5e-3, 3e-3]  # warmup: lr · step / 2
    assert history.lr[-1] == pytest.approx(3e-4)  # the cosine ends at min_lr
    assert all(a >= b for a, b in zip(history.lr[1:], history.lr[2:]))  # then only decreases


def test_gradient_accumulation_equals_one_bigger_batch():
    model_a, model_b = _gpt(dropout=0.0), _gpt(dropout=0.0)
    config = TrainConfig(**{**CONFIG.__dict__, "max_steps": 3})
    _, a = _train(model=model_a, config=TrainConfig(**{**config.__dict__, "batch_size": 8}))
    accumulate = {**config.__dict__, "batch_size": 4, "grad_accum_steps": 2}
    _, b = _train(model=model_b, config=TrainConfig(**accumulate))
    assert b.step_loss == pytest.approx(a.step_loss, rel=1e-5)
    for p, q in zip(model_a.parameters(), model_b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_the_gpu_preset_code_path_runs_on_the_cpu(tmp_path):
    gpu = PRESETS["gpu"]
    assert (gpu.n_layer, gpu.n_head, gpu.n_embd, gpu.train.block_size) == (6, 6, 384, 256)
    with pytest.warns(UserWarning, match="^warmup_steps 100 > max_steps 2: "):  # a 2-step trial
        model, tokenizer, history = train_gpt(
            "gpu", out_dir=tmp_path, progress=False, device="cpu", compile=False, max_steps=2,
            batch_size=2, eval_batches=1, n_layer=1,
        )  # fmt: skip
    assert history.steps == [0, 2] and len(history.step_loss) == 2
    assert model.config.n_embd == 384 and model.config.dropout == 0.2
    assert load_checkpoint(tmp_path / "ckpt.pt")["train_config"]["batch_size"] == 2
    assert history.mfu is None  # no GPU peak to compare with


@pytest.mark.parametrize("resume", [False, True])
def test_a_fresh_run_keeps_the_metrics_of_an_older_one_aside(tmp_path, resume):
    # An older run that left its metrics but no checkpoint (moved away to sample from, say):
    # the new run writes its own metrics.jsonl, and the old one is renamed after its time.
    _train(tmp_path)
    (tmp_path / "ckpt.pt").rename(tmp_path.parent / f"{tmp_path.name}-moved.pt")
    old = (tmp_path / "metrics.jsonl").read_text()
    _train(tmp_path, resume=resume, config=TrainConfig(**{**CONFIG.__dict__, "max_steps": 4}))
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]
    (kept,) = tmp_path.glob("metrics-*.jsonl")
    assert re.fullmatch(r"metrics-\d{8}-\d{6}\.jsonl", kept.name) and kept.read_text() == old


# --------------------------------------------------- Ctrl-C and SIGTERM: finish the step, save


class Escaped(Exception):
    """Raised by the test's own handler: a signal reached it instead of the training loop's."""


@pytest.fixture
def guarded_signals():
    """SIGINT and SIGTERM raise ``Escaped`` (not a KeyboardInterrupt that would stop pytest)."""

    def escaped(number, frame):
        raise Escaped(signal.Signals(number).name)

    previous = {n: signal.signal(n, escaped) for n in (signal.SIGINT, signal.SIGTERM)}
    yield escaped
    for number, handler in previous.items():
        signal.signal(number, handler)


def _signal_during_step(monkeypatch, step, number, times=1):
    """Send ``number`` to this process ``times`` times in the middle of step ``step``."""
    step_once = trainer.Run._step_once

    def interrupted_step(run):
        if run.step == step - 1:
            for _ in range(times):
                os.kill(os.getpid(), number)
        return step_once(run)

    monkeypatch.setattr(trainer.Run, "_step_once", interrupted_step)


def test_ctrl_c_finishes_the_step_saves_it_and_resume_equals_the_uninterrupted_run(
    tmp_path, monkeypatch, guarded_signals
):
    reference, reference_history = _train()
    with monkeypatch.context() as patch:
        _signal_during_step(patch, 5, signal.SIGINT)
        with pytest.raises(trainer.TrainingInterrupted) as stop:
            _train(tmp_path)
    assert stop.value.step == 5 and stop.value.checkpoint == tmp_path / "ckpt.pt"
    assert "SIGINT: stopped after step 5 of 8" in str(stop.value)
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 5  # not a checkpoint step (3, 6)
    assert signal.getsignal(signal.SIGINT) is guarded_signals  # the handlers are given back
    assert signal.getsignal(signal.SIGTERM) is guarded_signals
    resumed, history = _train(tmp_path, resume=True, model=_gpt(seed=99))
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert history.step_loss == reference_history.step_loss
    assert history.steps == reference_history.steps == [0, 3, 6, 8]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == list(range(1, 9))  # each step once


def test_sigterm_without_out_dir_stops_after_the_step_and_says_nothing_was_saved(
    monkeypatch, guarded_signals
):
    model = _gpt()
    with monkeypatch.context() as patch:
        _signal_during_step(patch, 2, signal.SIGTERM)
        with pytest.raises(trainer.TrainingInterrupted, match="no out_dir") as stop:
            _train(model=model)
    assert stop.value.step == 2 and stop.value.checkpoint is None
    assert model.training  # the model is left as the caller gave it


def test_a_second_ctrl_c_stops_at_once(tmp_path, monkeypatch, guarded_signals):
    with monkeypatch.context() as patch:
        _signal_during_step(patch, 5, signal.SIGINT, times=2)
        with pytest.raises(Escaped):  # the second signal went to the previous handler
            _train(tmp_path)
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 3  # the last regular checkpoint


def test_lmcourse_train_stopped_by_ctrl_c_says_how_to_continue(tmp_path):
    out_dir, metrics = tmp_path / "run", tmp_path / "run" / "metrics.jsonl"
    command = [sys.executable, "-m", "lmcourse", "train", "--preset", "ci", "--max-steps",
               "100000", "--out-dir", str(out_dir), "--no-progress"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
        not metrics.exists() or metrics.read_text().count('"loss"') < 20
    ):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    step = load_checkpoint(out_dir / "ckpt.pt")["step"]
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert step >= 20 and [r["step"] for r in records if "loss" in r][-1] == step
    assert f"SIGINT: stopped after step {step} of 100000, saved in {out_dir / 'ckpt.pt'}" in stderr
    assert f"--out-dir {out_dir} --no-progress --resume" in stderr
    assert "Traceback" not in stderr


def test_resuming_knows_the_text_by_its_content_and_an_older_checkpoint_by_its_name(tmp_path):
    model, ckpt = _gpt(), tmp_path / "ckpt.pt"
    train(model, TRAIN, VAL, CONFIG, progress=False, out_dir=tmp_path, tokenizer=TOKENIZER,
          corpus="hamlet.txt")  # fmt: skip
    sha = hashlib.sha256(torch.cat([TRAIN, VAL]).numpy().tobytes()).hexdigest()  # int64 ids
    assert load_checkpoint(ckpt)["data_sha256"] == data_sha256(TRAIN, VAL) == sha
    # another text under the same name (and the same characters) is refused
    other = TRAIN.flip(0)
    other_sha = data_sha256(other, VAL)
    message = (f"{ckpt} was trained on 'hamlet.txt' (sha256 of its token ids {sha[:12]}...), "
               f"this run on 'hamlet.txt' ({other_sha[:12]}...): other data. Resume with the "
               "same text, or choose another out_dir to start a new run.")  # fmt: skip
    with pytest.raises(CheckpointError, match=re.escape(message)):
        train(_gpt(), other, VAL, CONFIG, progress=False, out_dir=tmp_path, resume=True,
              tokenizer=TOKENIZER, corpus="hamlet.txt")  # fmt: skip
    assert load_checkpoint(ckpt)["corpus"] == "hamlet.txt"  # left as it was
    # the same text moved or copied elsewhere resumes, and says so
    resumed = _gpt(seed=5)
    with pytest.warns(UserWarning) as notes:
        train(resumed, TRAIN, VAL, CONFIG, progress=False, out_dir=tmp_path, resume=True,
              tokenizer=TOKENIZER, corpus="moved/hamlet.txt")  # fmt: skip
    assert [str(note.message) for note in notes] == [
        f"{ckpt} was trained on 'hamlet.txt'; 'moved/hamlet.txt' holds the same data (the same "
        "sha256), so the run resumes.",
        f"{ckpt} is already at step 8: nothing to train (max_steps 8).",
    ]
    for a, b in zip(model.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the run was complete: resuming loads its last weights
    # an older checkpoint, without data_sha256, is known by its corpus name, as it was
    entry = torch.load(ckpt, weights_only=True)
    del entry["data_sha256"]
    torch.save(entry, ckpt)
    message = (f"{ckpt} was trained on 'hamlet.txt', this run on 'lear.txt': resume with the "
               "same text, or choose another out_dir to start a new run.")  # fmt: skip
    with pytest.raises(CheckpointError, match=re.escape(message)):
        train(_gpt(), TRAIN, VAL, CONFIG, progress=False, out_dir=tmp_path, resume=True,
              tokenizer=TOKENIZER, corpus="lear.txt")  # fmt: skip


def test_a_new_run_never_replaces_a_checkpoint(tmp_path):
    train(_gpt(), TRAIN, VAL, CONFIG, progress=False, out_dir=tmp_path, tokenizer=TOKENIZER)
    before = (tmp_path / "ckpt.pt").read_bytes(), (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(FileExistsError, match=r"ckpt.pt already holds a run: continue it with"):
        train(_gpt(), TRAIN, VAL, CONFIG, progress=False, out_dir=tmp_path, tokenizer=TOKENIZER)
    after = (tmp_path / "ckpt.pt").read_bytes(), (tmp_path / "metrics.jsonl").read_text()
    assert after == before  # neither file was touched


def test_an_out_dir_that_cannot_hold_a_run_is_refused_before_training(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        train(_gpt(), TRAIN, VAL, CONFIG, progress=False, out_dir=a_file)
    assert a_file.read_text() == "mine"
    (tmp_path / "run" / "ckpt.pt").mkdir(parents=True)  # a folder where the file would go
    with pytest.raises(FileExistsError, match="is not a file"):
        train(_gpt(), TRAIN, VAL, CONFIG, progress=False, out_dir=tmp_path / "run", resume=True)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # refused before any step
    under_a_file = a_file / "run"  # a folder that cannot be made: said before the first step
    with pytest.raises(OSError, match=r"^out_dir '.*notes.txt/run' cannot be created \(Not a dir"):
        train(_gpt(), TRAIN, VAL, CONFIG, progress=False, out_dir=under_a_file)


def test_resuming_knows_a_file_by_its_path_and_its_characters(tmp_path, monkeypatch):
    text = tmp_path / "mid.txt"
    text.write_text("abc")
    monkeypatch.chdir(tmp_path)
    train(_gpt(), TRAIN, VAL, CONFIG, progress=False, out_dir="run", tokenizer=TOKENIZER,
          corpus="mid.txt")  # fmt: skip
    assert load_checkpoint(tmp_path / "run" / "ckpt.pt")["corpus"] == str(text)  # absolute
    longer = TrainConfig(**{**vars(CONFIG), "max_steps": 10})
    with pytest.warns(UserWarning, match=r"max_steps \(was 8, now 10\)"):  # a longer cosine
        train(_gpt(), TRAIN, VAL, longer, progress=False, out_dir="run", resume=True,
              tokenizer=TOKENIZER, corpus="./mid.txt")  # the same file, spelt so  # fmt: skip
    assert load_checkpoint(tmp_path / "run" / "ckpt.pt")["step"] == 10
    # the same name, other characters (another folder's mid.txt): the weights would decode the
    # wrong characters, so the run is refused whatever the corpus is called
    other = CharTokenizer(list(reversed(TOKENIZER.chars)))
    longest = TrainConfig(**{**vars(CONFIG), "max_steps": 12})
    with pytest.raises(CheckpointError, match=r"trained on other characters \(\d+\)"):
        train(_gpt(), TRAIN, VAL, longest, progress=False, out_dir="run", resume=True,
              tokenizer=other)  # fmt: skip


# ------------------------------------------------------- divergence, damaged files, other runs


def _strict_records(path) -> list[dict]:
    """The records of a metrics.jsonl, read as strict JSON (NaN and Infinity are not JSON)."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def _kept(step, ckpt):
    return (f"The last checkpoint, from step {step}, is kept: {ckpt}. Start a new run with a "
            "lower learning rate, or resume with one if the losses up to step "
            f"{step} were still sensible.")  # fmt: skip


@pytest.mark.parametrize(
    "lr, what, step, logged",
    # at 1e3 the step's own loss is finite, the evaluation after its update sees the nan
    [(1e6, "loss", 2, [1]), (1e3, "training loss", 6, [1, 2, 3, 4, 5, 6])],
)
def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path, lr, what, step,
                                                                  logged):  # fmt: skip
    ckpt = tmp_path / "ckpt.pt"
    steep = TrainConfig(**{**vars(CONFIG), "learning_rate": lr, "min_lr": None,
                           "warmup_steps": 0, "checkpoint_interval": 1})  # fmt: skip
    model = _gpt()
    diverged = (f"The {what} became nan at step {step}: training diverged. Lower the learning "
                f"rate (it was {lr:g}).")  # fmt: skip
    with pytest.raises(trainer.TrainingDiverged) as error:
        _train(tmp_path, model=model, config=steep)
    assert str(error.value) == f"{diverged} {_kept(step - 1, ckpt)}"
    assert isinstance(error.value, ValueError)  # lmcourse train: one line, exit 2
    assert model.training  # left as the caller gave it
    entry = load_checkpoint(ckpt)
    assert entry["step"] == step - 1 and all(w.isfinite().all() for w in entry["model"].values())
    records = _strict_records(tmp_path / "metrics.jsonl")  # no NaN written
    assert [r["step"] for r in records if "loss" in r] == logged
    with pytest.raises(trainer.TrainingDiverged) as error:
        _train(config=steep)
    assert str(error.value) == f"{diverged} Nothing was saved (no out_dir)."


def test_weights_that_became_nan_are_never_saved_and_the_run_resumes(tmp_path, monkeypatch):
    reference, _ = _train()
    # a step whose update makes the weights nan, at a checkpoint that is not an evaluation
    step_once = trainer.Run._step_once

    def poisoned_step(run):
        loss, norm = step_once(run)  # (computed before the update: both finite)
        if run.step == 3:
            with torch.no_grad():
                next(run.model.parameters()).fill_(math.nan)
        return loss, norm

    config = TrainConfig(**{**vars(CONFIG), "eval_interval": 100, "checkpoint_interval": 2})
    ckpt = tmp_path / "ckpt.pt"
    diverged = ("The weights became nan or inf at step 4: training diverged. Lower the learning "
                f"rate (it was {lr_at(4, config):g}).")  # fmt: skip
    with monkeypatch.context() as patch, pytest.raises(trainer.TrainingDiverged) as error:
        patch.setattr(trainer.Run, "_step_once", poisoned_step)
        _train(tmp_path, config=config)
    assert str(error.value) == f"{diverged} {_kept(2, ckpt)}"
    entry = load_checkpoint(ckpt)
    assert entry["step"] == 2 and all(w.isfinite().all() for w in entry["model"].values())
    resumed, _ = _train(tmp_path, resume=True, model=_gpt(seed=99), config=config)
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name  # as if nothing had happened


def _run_killed_at_4(tmp_path, monkeypatch):
    """A run of CONFIG killed right after its checkpoint at step 4; the config to resume it."""
    config = TrainConfig(**{**vars(CONFIG), "checkpoint_interval": 4})
    with monkeypatch.context() as patch:
        _kill_after_checkpoint_at(patch, 4)
        with pytest.raises(Killed):
            _train(tmp_path, config=config)
    return config


def test_resume_drops_a_last_line_cut_short_and_blank_lines(tmp_path, monkeypatch):
    config = _run_killed_at_4(tmp_path, monkeypatch)
    metrics = tmp_path / "metrics.jsonl"
    lines = metrics.read_text().splitlines(keepends=True)
    # a blank line, and a record cut short by a crash (a kill, a full disk) while it was written
    metrics.write_text("".join(lines[:2]) + "\n" + "".join(lines[2:]) + '{"step": 5, "loss": 2.4')
    _train(tmp_path, resume=True, config=config)
    records = _strict_records(metrics)
    assert [r["step"] for r in records if "loss" in r] == list(range(1, 9))  # each step once
    assert [r["step"] for r in records if "val_loss" in r] == [0, 3, 6, 8]


def test_resume_names_a_damaged_line_before_the_last(tmp_path, monkeypatch):
    config = _run_killed_at_4(tmp_path, monkeypatch)
    metrics = tmp_path / "metrics.jsonl"
    lines = metrics.read_text().splitlines(keepends=True)
    lines[2] = lines[2][:20] + "\n"
    metrics.write_text("".join(lines))
    before = metrics.read_text(), (tmp_path / "ckpt.pt").read_bytes()
    message = (f"Line 3 of {metrics} is not a record of the run (Expecting value). "
               "Only a last line cut short (by a crash while it was written) is dropped on "
               "resuming: mend or delete this one, then resume again.")  # fmt: skip
    with pytest.raises(CheckpointError, match=re.escape(message)):
        _train(tmp_path, resume=True, config=config)
    assert (metrics.read_text(), (tmp_path / "ckpt.pt").read_bytes()) == before


def test_an_exported_model_cannot_be_resumed(tmp_path):
    shutil.copy(MODELS_DIR / "shakespeare-char.pt", tmp_path / "ckpt.pt")
    message = (f"'{tmp_path / 'ckpt.pt'}' holds a model's weights only (an exported model, such "
               "as lmcourse/models/shakespeare-char.pt), not the state of a training run (it has "
               "no optimizer, step, rng, history), so it cannot be resumed. Start a new run in "
               "another out_dir; to train these weights further, load them "
               "(lmcourse.pretrained.load_model) and pass the model to "
               "lmcourse.train.train.")  # fmt: skip
    with pytest.raises(CheckpointError, match=re.escape(message)):
        _train(tmp_path, resume=True)


def _without(entry, key):
    return {name: value for name, value in entry.items() if name != key}


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda e: _without(e, "model_config"), "it has no 'model_config' entry"),
        (lambda e: _without(e, "model"), "it has no 'model' entry"),
        (lambda e: {**e, "model_class": None}, "its 'model_class' entry is of type None, not str"),
        (lambda e: {**e, "tokenizer": ["a"]},
         "its 'tokenizer' entry is of type list, not dict or None"),
        (lambda e: {**e, "step": "3"}, "its 'step' entry is of type str, not int"),
        (lambda e: {**e, "model": {"wte.weight": [1.0]}},
         "its 'model' entry (the weights) holds values that are not tensors"),
        (lambda e: {**e, "tokenizer": {"type": "char", "chars": ["a", "b"], "unk": None}},
         f"its tokenizer has 2 tokens but its model's vocab_size is {TOKENIZER.vocab_size}: the "
         "model's token ids would not all become text"),
        (lambda e: {**e, "tokenizer": {"type": "sentencepiece"}},
         "its tokenizer is of an unknown type, 'sentencepiece' (known: char, word, bpe)"),
        (lambda e: {**e, "tokenizer": {"type": "char"}},
         "its tokenizer is not a complete char tokenizer: missing key(s) ['chars', 'unk']"),
        (lambda e: {**e, "tokenizer": {"type": "char", "chars": "abc", "unk": None}},
         "its tokenizer: 'chars' must be a list of characters"),
        (lambda e: {**e, "tokenizer": {"type": "char", "chars": ["ab"], "unk": None}},
         "its tokenizer is not a valid char tokenizer: Vocabulary entry 'ab' at id 0 is not a "
         "single character"),
        (lambda e: {**e, "tokenizer": {"type": "bpe", "pattern": None, "merges": [(0, 300)]}},
         "its tokenizer is a damaged tokenizer: Merge 0 (0, 300) uses an id that does not exist "
         "yet: merge 0 makes id 256, so it can only join ids 0 to 255"),
        (lambda e: {**e, "tokenizer": {"type": "bpe", "pattern": None, "merges": []}},
         f"its tokenizer has 256 tokens but its model's vocab_size is {TOKENIZER.vocab_size}: "
         "the model's token ids would not all become text"),
    ],
)  # fmt: skip
def test_a_checkpoint_with_missing_or_wrong_entries_is_refused_by_name(tmp_path, damage, problem):
    path = save_checkpoint(tmp_path / "ckpt.pt", _gpt(), step=3, tokenizer=TOKENIZER)
    torch.save(damage(torch.load(path, weights_only=True)), path)
    message = f"'{path}' is not a usable checkpoint: {problem}."
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load_checkpoint(path)


def test_the_shipped_model_passes_the_checks():
    entry = load_checkpoint(MODELS_DIR / "shakespeare-char.pt")
    assert tokenizer_from_checkpoint(entry).vocab_size == entry["model_config"]["vocab_size"]


def test_resuming_with_other_settings_says_which(tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    _train(tmp_path, config=TrainConfig(**{**vars(CONFIG), "max_steps": 4}))
    with pytest.warns(UserWarning) as notes:  # a longer cosine: the learning rate jumps up
        _train(tmp_path, resume=True, config=TrainConfig(**{**vars(CONFIG), "max_steps": 5}))
    assert "other training settings: max_steps (was 4, now 5)." in str(notes[0].message)
    constant = TrainConfig(**{**vars(CONFIG), "max_steps": 6, "min_lr": None})
    _train(tmp_path / "constant", config=TrainConfig(**{**vars(constant), "max_steps": 4}))
    with warnings.catch_warnings():  # a constant rate: training longer, evaluating otherwise
        warnings.simplefilter("error")  # change no step: no note
        _train(tmp_path / "constant", resume=True,
               config=TrainConfig(**{**vars(constant), "eval_interval": 2}))  # fmt: skip
    changed = TrainConfig(**{**vars(CONFIG), "batch_size": 2, "learning_rate": 1e-3, "seed": 3})
    with pytest.warns(UserWarning) as notes:
        _train(tmp_path, resume=True, config=changed)
    assert [str(note.message) for note in notes] == [
        f"{ckpt} goes on from step 5 with other training settings: max_steps (was 5, now 8), "
        "batch_size (was 4, now 2), "
        "learning_rate (was 0.003, now 0.001), seed (was 0, now 3). From here on the run differs "
        "from an uninterrupted one (and its speed, tokens/s, mixes both settings); the "
        "checkpoint will keep the new settings."
    ]
    assert load_checkpoint(ckpt)["train_config"]["batch_size"] == 2
    fewer = TrainConfig(**{**vars(changed), "max_steps": 5})
    with pytest.warns(UserWarning) as notes:
        _, history = _train(tmp_path, resume=True, config=fewer)
    assert str(notes[-1].message) == f"{ckpt} is already at step 8: nothing to train (max_steps 5)."
    assert history.steps[-1] == 8


def test_a_file_that_is_no_checkpoint_gets_no_advice_to_load_it_unsafely(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"n_layer": 4}')
    message = (f"'{path}' is not a readable checkpoint: it is truncated or corrupt (a copy cut "
               "short, a failed download?), not written by torch.save, or holds objects that "
               "only code could rebuild, which are never loaded. (torch.load: UnpicklingError: "
               "Unsupported operand 123)")  # fmt: skip
    with pytest.raises(CheckpointError, match=re.escape(message) + "$"):
        load_checkpoint(path)
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert "weights_only" not in str(error.value) and "Weights only" not in str(error.value)


def test_torchrun_batches_are_compared_over_all_processes():
    # under torchrun batch_size is per process: 2 processes of 4 read the 8 windows one of 8 does
    saved = asdict(CONFIG) | {"batch_size": 4}
    same = dataclasses.replace(CONFIG, batch_size=8)
    assert changed_settings(saved, same, saved_world=2, world=1) == []
    half = dataclasses.replace(CONFIG, batch_size=4)
    assert changed_settings(saved | {"batch_size": 8}, half, saved_world=1, world=2) == []
    assert changed_settings(saved, half, saved_world=2, world=1) == [
        "batch_size (was 4 on each of 2 processes, 8 in all, now 4)"
    ]
    assert changed_settings(saved, half, saved_world=1, world=3) == [
        "batch_size (was 4, now 4 on each of 3 processes, 12 in all)"
    ]
    assert changed_settings(saved, half) == []  # one process both times, as before
    assert changed_settings(saved, same) == ["batch_size (was 4, now 8)"]


@pytest.mark.parametrize("kind", ["bpe", "word"])
def test_a_checkpoint_keeps_a_bpe_or_word_tokenizer_and_refuses_to_resume_with_another(
    tmp_path, kind
):
    if kind == "bpe":
        tokenizer, other = train_bpe(TEXT, 270), train_bpe(TEXT.upper(), 270)
    else:
        tokenizer = WordTokenizer.from_text(TEXT)
        other = WordTokenizer(["<unk>", *reversed(tokenizer.words[1:])])  # the same, other ids
    ids = torch.tensor(tokenizer.encode(TEXT))
    config = GPTConfig(tokenizer.vocab_size, 16, n_layer=1, n_head=2, n_embd=16)
    train(GPT(config), ids, ids, CONFIG, progress=False, out_dir=tmp_path, tokenizer=tokenizer)
    entry = load_checkpoint(tmp_path / "ckpt.pt")  # weights_only: merges are tuples of ints
    assert entry["tokenizer"]["type"] == kind
    saved = tokenizer_from_checkpoint(entry)
    assert type(saved) is type(tokenizer) and saved == tokenizer
    assert saved.encode(TEXT) == tokenizer.encode(TEXT)
    # resuming with another tokenizer of the same size would decode the weights wrongly
    assert other.vocab_size == tokenizer.vocab_size and other != tokenizer
    with pytest.raises(CheckpointError, match="was trained on other tokens"):
        train(GPT(config), ids, ids, CONFIG, progress=False, out_dir=tmp_path, resume=True,
              tokenizer=other)  # fmt: skip


def test_a_tokenizer_a_checkpoint_cannot_keep_is_refused_before_training(tmp_path):
    class Letters:  # a student's own tokenizer: encode, decode and vocab_size, no to_dict
        vocab_size = TOKENIZER.vocab_size

    with pytest.raises(TypeError, match="tokenizer must be a CharTokenizer, WordTokenizer or "
                                        "BPETokenizer .* got Letters"):  # fmt: skip
        train(_gpt(), TRAIN, VAL, CONFIG, progress=False, out_dir=tmp_path, tokenizer=Letters())
    assert not (tmp_path / "ckpt.pt").exists()
