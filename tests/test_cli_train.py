"""Tests of ``lmcourse train`` and ``lmcourse sample`` (and ``python -m lmcourse.train``)."""

import contextlib
import io
import json
import math
import re
import shutil
import statistics
import subprocess
import sys

import pytest
import torch

from lmcourse.checkpoint import (
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    tokenizer_from_checkpoint,
)
from lmcourse.cli import main
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.sampling import generate

TRAIN = ["train", "--preset", "ci", "--no-progress", "--device", "cpu"]


def records(out_dir) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A ci-preset run of 4 steps: its folder and what the command printed."""
    out_dir = tmp_path_factory.mktemp("run")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([*TRAIN, "--max-steps", "4", "--out-dir", str(out_dir)]) == 0
    return out_dir, stdout.getvalue()


def sample(capsys, checkpoint, *argv) -> str:
    assert main(["sample", "--checkpoint", str(checkpoint), "--device", "cpu", *argv]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n")
    return out[:-1]  # print's newline


def test_train_writes_checkpoint_and_metrics_and_reports_the_loss(trained):
    out_dir, out = trained
    assert (out_dir / "ckpt.pt").is_file()
    final = [r for r in records(out_dir) if "val_loss" in r][-1]
    assert final["step"] == 4
    nats = float(re.search(r"validation loss\s+([\d.]+) nats/char", out).group(1))
    bits = float(re.search(r"= ([\d.]+) bits/char", out).group(1))
    assert nats == pytest.approx(final["val_loss"], abs=1e-4)
    assert bits == pytest.approx(final["val_loss"] / math.log(2), abs=1e-4)
    assert re.search(r"speed\s+[\d,]+ tokens/s", out)
    step_ms = statistics.median(r["ms"] for r in records(out_dir) if "ms" in r)
    assert f"median step {step_ms:.1f} ms" in out
    assert str(out_dir / "ckpt.pt") in out and str(out_dir / "metrics.jsonl") in out


def test_resume_continues_the_run(trained, tmp_path):
    out_dir = tmp_path / "run"
    shutil.copytree(trained[0], out_dir)
    assert main([*TRAIN, "--max-steps", "6", "--out-dir", str(out_dir), "--resume"]) == 0
    steps = [r["step"] for r in records(out_dir) if "loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_resume_with_other_settings_prints_a_note_not_a_python_warning(trained, tmp_path, capsys):
    out_dir = tmp_path / "run"
    shutil.copytree(trained[0], out_dir)
    argv = [*TRAIN, "--max-steps", "5", "--out-dir", str(out_dir), "--resume"]
    assert main([*argv, "--seed", "7"]) == 0
    err = capsys.readouterr().err
    note = f"lmcourse train: note: {out_dir / 'ckpt.pt'} goes on from step 4 with other training"
    assert err.startswith(note) and "seed (was " in err and "now 7)" in err
    assert "UserWarning" not in err and "warnings.warn" not in err
    assert main(argv) == 0  # at step 5 already
    assert "is already at step 5: nothing to train (max_steps 5)." in capsys.readouterr().err


def test_resume_without_a_checkpoint_says_so_and_starts_afresh(tmp_path, capsys):
    out_dir = tmp_path / "typo"
    assert main([*TRAIN, "--max-steps", "2", "--out-dir", str(out_dir), "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"no checkpoint at {out_dir / 'ckpt.pt'} to resume from; starting a new run" in err
    assert [r["step"] for r in records(out_dir) if "loss" in r] == [1, 2]


def test_sample_continues_the_prompt_reproducibly(trained, capsys):
    checkpoint = trained[0] / "ckpt.pt"
    text = sample(capsys, checkpoint, "--prompt", "ROMEO:", "--max-new-tokens", "50")
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 50
    same = sample(capsys, checkpoint, "--prompt", "ROMEO:", "--max-new-tokens", "50")
    other = sample(
        capsys, checkpoint, "--prompt", "ROMEO:", "--max-new-tokens", "50", "--seed", "1"
    )
    assert same == text and other != text
    assert sample(capsys, checkpoint, "--max-new-tokens", "7").startswith("\n")  # the default
    # the run's folder works too: its ckpt.pt is read
    assert sample(capsys, trained[0], "--prompt", "ROMEO:", "--max-new-tokens", "50") == text
    assert len(sample(capsys, checkpoint, "--prompt", "A", "--max-new-tokens", "0")) == 1
    assert sample(capsys, checkpoint, "--prompt=-Nay", "--max-new-tokens", "3").startswith("-Nay")


def test_sample_filters_and_the_shipped_model(trained, capsys):
    checkpoint = trained[0] / "ckpt.pt"
    greedy = sample(capsys, checkpoint, "--temperature", "0", "--max-new-tokens", "30")
    # top-k 1 keeps only the likeliest character: greedy, whatever the seed
    for seed in ("0", "5"):
        top1 = sample(capsys, checkpoint, "--top-k", "1", "--seed", seed, "--max-new-tokens", "30")
        assert top1 == greedy
    # a tiny nucleus holds only the likeliest character too
    assert sample(capsys, checkpoint, "--top-p", "1e-6", "--max-new-tokens", "30") == greedy
    plain = sample(capsys, checkpoint, "--max-new-tokens", "30")
    assert sample(capsys, checkpoint, "--top-p", "1", "--max-new-tokens", "30") == plain
    # what the command streams is what generate() gives with the same seed and settings
    entry = load_checkpoint(checkpoint)
    model, tokenizer = model_from_checkpoint(entry), tokenizer_from_checkpoint(entry)
    idx = torch.tensor([tokenizer.encode("ROMEO:")])
    out = generate(
        model, idx, 30, temperature=0.9, top_k=7, generator=torch.Generator().manual_seed(3)
    )
    argv = ["--prompt", "ROMEO:", "--max-new-tokens", "30", "--temperature", "0.9", "--top-k", "7"]
    assert sample(capsys, checkpoint, *argv, "--seed", "3") == tokenizer.decode(out[0].tolist())
    # the shipped model by name: a real continuation, reproducible
    shipped = sample(capsys, "shakespeare-char", "--prompt", "ROMEO:", "--max-new-tokens", "40")
    assert shipped.startswith("ROMEO:") and len(shipped) == len("ROMEO:") + 40
    assert sample(capsys, "shakespeare-char", "--prompt", "ROMEO:", "--max-new-tokens", "40") == (
        shipped
    )


def test_train_from_the_shell_with_python_m(tmp_path):
    # The entry point that torchrun uses: torchrun --nproc_per_node=K -m lmcourse.train ...
    out_dir = tmp_path / "run"
    command = [sys.executable, "-m", "lmcourse.train", "--preset", "ci", "--max-steps", "3",
               "--out-dir", str(out_dir), "--no-progress", "--device", "cpu"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (out_dir / "ckpt.pt").is_file() and (out_dir / "metrics.jsonl").is_file()
    assert "bits/char" in result.stdout


# ------------------------------------------------------------------ mistakes: exit 2, one line


@pytest.fixture
def bad_checkpoints(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a checkpoint\xff" * 10)
    no_tokenizer = tmp_path / "no_tokenizer.pt"
    tiny = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8))
    save_checkpoint(no_tokenizer, tiny)  # a model alone: no tokenizer in the file
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    return {"missing": tmp_path / "missing.pt", "corrupt": corrupt, "no_tokenizer": no_tokenizer,
            "empty_dir": empty_dir}  # fmt: skip


def test_a_value_that_looks_like_an_option_says_how_to_write_it(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--checkpoint", "shakespeare-char", "--prompt", "-Nay"])
    assert exit_info.value.code == 2
    *usage, last = capsys.readouterr().err.strip().splitlines()  # argparse's usage, then this
    assert usage[0].startswith("usage: lmcourse sample")
    assert last == ("lmcourse sample: error: argument --prompt: expected one argument "
                    "(for a value that starts with '-', write --prompt=VALUE)")  # fmt: skip


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["train", "--preset", "huge"], "preset must be one of ['ci', 'cpu', 'gpu', 'ship']"),
        ([*TRAIN, "--max-steps", "-3"], "max_steps must be an integer >= 1, got -3"),
        ([*TRAIN, "--learning-rate", "0"], "learning_rate must be a number > 0"),
        ([*TRAIN, "--corpus", "tiny-shakespear"], "did you mean 'tiny-shakespeare'"),
        (["sample", "--checkpoint", "{missing}"], "name works too: shakespeare-char"),
        (["sample", "--checkpoint", "{empty_dir}"], "No checkpoint at"),
        (["sample", "--checkpoint", "{ckpt}", "--top-k", "0"], "--top-k must be an integer >= 1"),
        (["sample", "--checkpoint", "{ckpt}", "--top-p", "1.5"], "--top-p must be a number in"),
        (["sample", "--checkpoint", "{ckpt}", "--top-p", "0"], "got 0.0"),
        (["sample", "--checkpoint", "{corrupt}"], "truncated or corrupt"),
        (["sample", "--checkpoint", "{no_tokenizer}"], "holds no tokenizer"),
        (
            ["sample", "--checkpoint", "{ckpt}", "--prompt", "héllo €"],
            "'é' (U+00E9), '€' (U+20AC).",
        ),
        # a combining accent alone looks like nothing: its code point says what it is
        (["sample", "--checkpoint", "{ckpt}", "--prompt", "e\u0301"], ": '\u0301' (U+0301)."),
        (["sample", "--checkpoint", "{ckpt}", "--temperature", "-0.5"], "--temperature must be"),
        # argparse alone reads -1e-3 and -inf as options: "expected one argument"
        (["sample", "--checkpoint", "{ckpt}", "--temperature", "-1e-3"], "0: greedy), got -0.001."),
        (["sample", "--checkpoint", "{ckpt}", "--temperature", "-inf"], "0: greedy), got -inf."),
        ([*TRAIN, "--learning-rate", "-1e-3"], "learning_rate must be a number > 0, got -0.001"),
        (["sample", "--checkpoint", "{ckpt}", "--max-new-tokens", "-1"], "must be >= 0, got -1"),
        (["sample", "--checkpoint", "{ckpt}", "--prompt", ""], "--prompt is empty"),
        (["sample", "--checkpoint", "{ckpt}", "--seed", str(10**20)], "--seed: The seed 1000"),
        (["sample", "--checkpoint", "{ckpt}", "--seed", "-1"], "--seed: The seed must be 0 or"),
        ([*TRAIN, "--out-dir", "{run_dir}"], "ckpt.pt already holds a run: continue it"),
        ([*TRAIN, "--out-dir", "{corrupt}"], "is a file, not a folder"),
        ([*TRAIN, "--seed", str(2**64)], "seed must be an integer from 0 to 2**63 - 1"),
        ([*TRAIN, "--corpus", "{short}"], "the validation part of"),
        (
            [*TRAIN, "--corpus", "{one}"],
            "(the last 10% of its 1 characters) is too short for a context of 32, which needs 33",
        ),  # (it said val_fraction, an option the command does not have)
        ([*TRAIN, "--corpus", "{empty_dir}"], "is a folder; pass the path of one text file."),
        (
            [*TRAIN, "--corpus", ""],
            ": --corpus is empty: give a corpus name or the path of a text file.\n",
        ),
        ([*TRAIN, "--out-dir", " "], ": --out-dir is empty: give a folder (without it: runs/"),
        (["run", "01", "--out-dir", ""], "run: error: --out-dir is empty: give a folder"),
    ],
)
def test_mistakes_exit_2_with_a_one_line_message(argv, expected, trained, bad_checkpoints, capsys):
    short = bad_checkpoints["empty_dir"].parent / "short.txt"
    short.write_text("To be, or not to be. " * 14)  # 294 characters: validation has 30
    paths = {
        **bad_checkpoints,
        "ckpt": trained[0] / "ckpt.pt",
        "run_dir": trained[0],
        "short": short,
        "one": short.with_name("one.txt"),
    }
    paths["one"].write_text("a")
    argv = [arg.format(**paths) if arg.startswith("{") else arg for arg in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lmcourse {argv[0]}: error: ") and expected in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_sample_into_a_closed_pipe_or_interrupted_ends_quietly():
    # `lmcourse sample ... | head -c 20`: the reader leaves after 20 bytes
    command = [sys.executable, "-m", "lmcourse", "sample", "--checkpoint", "shakespeare-char",
               "--max-new-tokens", "3000", "--device", "cpu"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(process.stdout.read(20)) == 20
    process.stdout.close()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 141, stderr  # 128 + SIGPIPE
    assert b"Traceback" not in stderr and b"BrokenPipeError" not in stderr


def test_running_out_of_memory_is_one_line(monkeypatch, capsys):
    import lmcourse.presets

    def too_big(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 25600000000 bytes. Error code 12"
        )

    monkeypatch.setattr(lmcourse.presets, "train_gpt", too_big)
    with pytest.raises(SystemExit) as stop:
        main([*TRAIN, "--batch-size", "100000000"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "lmcourse train: error: out of memory (25.6 GB asked for): lower --batch-size, or the "
        "model's size (--n-embd, --n-layer)."
    )
    monkeypatch.setattr(lmcourse.presets, "train_gpt", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # any other failure is not dressed up as one
        main([*TRAIN])


def test_learning_rate_alone_scales_the_presets_min_lr_and_min_lr_sets_it(tmp_path, capsys):
    # ci's recipe decays lr 1e-3 to min_lr 1e-4: a tenth, kept for a learning rate of 1e-5
    assert main([*TRAIN, "--max-steps", "2", "--out-dir", str(tmp_path / "a"),
                 "--learning-rate", "1e-5"]) == 0  # fmt: skip
    config = load_checkpoint(tmp_path / "a" / "ckpt.pt")["train_config"]
    assert config["learning_rate"] == 1e-5 and config["min_lr"] == pytest.approx(1e-6)
    assert main([*TRAIN, "--max-steps", "2", "--out-dir", str(tmp_path / "b"),
                 "--learning-rate", "1e-5", "--min-lr", "0"]) == 0  # fmt: skip
    assert load_checkpoint(tmp_path / "b" / "ckpt.pt")["train_config"]["min_lr"] == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # (argparse wraps the lines)
    assert ("--learning-rate X (default: the preset's; without --min-lr, min_lr changes by the "
            "same factor, keeping the preset's min_lr/lr (nanoGPT's rule: min_lr = lr/10)) "
            "--min-lr X (default: the preset's, scaled with --learning-rate; where the cosine "
            "decay ends)") in help_text  # fmt: skip


@pytest.mark.parametrize("command", [[*TRAIN], ["sample", "--checkpoint", "x"], ["run", "01"]])
def test_an_unknown_option_is_reported_with_the_commands_own_usage(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*command, "--bogus", "1"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: lmcourse {command[0]} [-h]")
    assert err.endswith(f"\nlmcourse {command[0]}: error: unrecognized arguments: --bogus 1\n")


def test_the_continue_line_after_ctrl_c_can_be_pasted_back(monkeypatch, capsys):
    import lmcourse.presets
    from lmcourse.trainer import TrainingInterrupted

    def interrupted(*args, **kwargs):
        raise TrainingInterrupted(3, 30, "runs/my run/ckpt.pt", "SIGINT")

    monkeypatch.setattr(lmcourse.presets, "train_gpt", interrupted)
    argv = [*TRAIN, "--corpus", "txt/my file.txt", "--out-dir", "runs/my run"]
    assert main(argv) == 130
    assert capsys.readouterr().err == (
        "lmcourse train: SIGINT: stopped after step 3 of 30, saved in runs/my run/ckpt.pt. "
        "Continue with:\n    lmcourse train --preset ci --no-progress --device cpu --corpus "
        "'txt/my file.txt' --out-dir 'runs/my run' --resume\n"
    )


def test_train_into_a_closed_pipe_ends_quietly_and_keeps_the_run(tmp_path):
    # `lmcourse train ... | head -1`: the report comes after the last step was saved
    out_dir = tmp_path / "run"
    # 5 steps: the ci preset's warmup, so no note on stderr (warmup_steps > max_steps)
    command = [sys.executable, "-m", "lmcourse", *TRAIN, "--max-steps", "5",
               "--out-dir", str(out_dir)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader has gone before the first line
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 141, stderr  # 128 + SIGPIPE
    assert stderr == b""
    assert load_checkpoint(out_dir / "ckpt.pt")["step"] == 5


@pytest.fixture
def diverged(trained, tmp_path):
    """Copies of the trained checkpoint: weights all nan, and weights so large the logits are."""
    paths = {}
    for name, value in (("nan", math.nan), ("huge", 1e30)):
        entry = torch.load(trained[0] / "ckpt.pt", weights_only=False)
        for weight in entry["model"].values():
            if weight.is_floating_point():
                weight.fill_(value)
        paths[name] = tmp_path / f"{name}.pt"
        torch.save(entry, paths[name])
    return paths


def test_sampling_a_model_that_diverged_is_one_line(diverged, capsys):
    argv = ["sample", "--device", "cpu", "--prompt", "AB", "--max-new-tokens", "5"]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--checkpoint", str(diverged["nan"])])  # refused before sampling
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (
        f"lmcourse sample: error: the model of {diverged['nan']} has weights that are not "
        "finite (NaN or inf: its training diverged); it cannot write text.\n"
    )
    with pytest.raises(SystemExit) as stop:  # finite weights, infinite outputs
        main([*argv, "--checkpoint", str(diverged["huge"])])
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert out == "AB\n" and err == (
        f"lmcourse sample: error: the model of {diverged['huge']} gives outputs that are not "
        "finite (its weights may be NaN: training diverged).\n"
    )


def test_sample_a_bpe_checkpoint_streams_whole_characters(tmp_path, capsys):
    from lmcourse.bpe import BPETokenizer, train_bpe
    from lmcourse.sampling import streaming_decoder

    bpe = train_bpe("To be, or not to be: café, naïve. " * 20, 270)
    config = GPTConfig(bpe.vocab_size, 16, n_layer=1, n_head=2, n_embd=16)
    model = GPT(config, generator=torch.Generator().manual_seed(0))
    save_checkpoint(tmp_path / "ckpt.pt", model, tokenizer=bpe)
    argv = ["--prompt", "café", "--max-new-tokens", "40", "--seed", "3"]
    text = sample(capsys, tmp_path / "ckpt.pt", *argv)
    idx = torch.tensor([bpe.encode("café")])
    out = generate(model, idx, 40, generator=torch.Generator().manual_seed(3))
    assert text == bpe.decode(out[0].tolist())  # the tokens it streamed, decoded as one text
    # token by token: the first byte of "é" (0xC3 0xA9) waits for the second
    text_of = streaming_decoder(BPETokenizer([]))
    assert [text_of([0xC3]), text_of([0xA9]), text_of([0x21])] == ["", "é", "!"]
    assert text_of([0xC3]) + text_of([], final=True) == "�"  # half a character at the end


def test_a_prompt_that_is_not_utf8_is_one_line_for_any_model(tmp_path, trained, capsys):
    from lmcourse.bpe import train_bpe

    bpe = train_bpe("To be, or not to be. " * 20, 260)
    model = GPT(GPTConfig(bpe.vocab_size, 16, n_layer=1, n_head=1, n_embd=8))
    save_checkpoint(tmp_path / "bpe.pt", model, tokenizer=bpe)
    # Python reads a command-line byte that is not UTF-8 as a lone surrogate: 0xff as '\udcff'
    message = "lmcourse sample: error: the prompt is not valid UTF-8 (byte 0x{:02x} at byte offset"
    for checkpoint in (tmp_path / "bpe.pt", trained[0] / "ckpt.pt", "shakespeare-char"):
        for prompt, byte, offset in (("\udcff", 0xFF, 0), ("né\udce9e", 0xE9, 3)):
            with pytest.raises(SystemExit) as exit_info:
                main(["sample", "--checkpoint", str(checkpoint), "--prompt", prompt])
            assert exit_info.value.code == 2
            err = capsys.readouterr().err
            assert err.startswith(message.format(byte) + f" {offset}); give it as UTF-8 text")
            assert len(err.splitlines()) == 1 and "surrogate" not in err and "udc" not in err
    # and from a shell, as bytes: no traceback from deep inside the BPE tokenizer
    argv = [sys.executable, "-m", "lmcourse", "sample", "--checkpoint", tmp_path / "bpe.pt"]
    done = subprocess.run([*argv, "--prompt", b"\xff"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith(message.format(0xFF) + " 0);")


def test_a_prompt_with_windows_or_old_mac_line_ends_samples_as_with_newlines(capsys):
    argv = ["--max-new-tokens", "20", "--seed", "1"]
    text = sample(capsys, "shakespeare-char", "--prompt", "ROMEO:\nI\n", *argv)
    for prompt in ("ROMEO:\r\nI\r\n", "ROMEO:\rI\r"):  # no '\r' outside the vocabulary
        assert sample(capsys, "shakespeare-char", "--prompt", prompt, *argv) == text


def test_a_top_p_too_small_for_float32_keeps_the_likeliest_token(capsys):
    # 1e-46 is a valid p (in (0, 1]) that float32 rounds to 0: it means "the likeliest token"
    from lmcourse.sampling import top_p_filter

    logits = torch.tensor([[1.0, 3.0, 2.0], [0.5, 0.1, 0.2]])
    for p in (1e-46, 1e-300):
        kept = torch.isfinite(top_p_filter(logits, p))
        assert kept.tolist() == [[False, True, False], [True, False, False]]
    argv = ["--prompt", "ROMEO:", "--max-new-tokens", "20"]
    greedy = sample(capsys, "shakespeare-char", *argv, "--temperature", "0")
    assert sample(capsys, "shakespeare-char", *argv, "--top-p", "1e-46") == greedy


def test_train_over_bpe_tokens_saves_the_tokenizer_samples_and_resumes(tmp_path, capsys):
    # notebook 11's GPT from the shell: the merges learned on the training text (the first 90%)
    from lmcourse.bpe import train_bpe
    from lmcourse.data import load_text, train_val_split

    out_dir = tmp_path / "bpe"
    argv = [*TRAIN, "--bpe-vocab-size", "300", "--max-steps", "3", "--out-dir", str(out_dir)]
    assert main(argv) == 0
    assert "nats/token" in capsys.readouterr().out  # not per character: a token holds several
    entry = load_checkpoint(out_dir / "ckpt.pt")
    tokenizer = tokenizer_from_checkpoint(entry)
    train_text, _ = train_val_split(load_text("tiny-shakespeare"))
    assert tokenizer == train_bpe(train_text, 300) and entry["model_config"]["vocab_size"] == 300
    text = sample(capsys, out_dir, "--prompt", "ROMEO:", "--max-new-tokens", "5")
    assert text.startswith("ROMEO:") and len(text) > len("ROMEO:")
    # a longer run resumes from the same merges (learned again, the same); another vocabulary
    # is another model: refused by name
    assert main([*argv[:-4], "--max-steps", "4", "--out-dir", str(out_dir), "--resume"]) == 0
    assert load_checkpoint(out_dir / "ckpt.pt")["step"] == 4
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main([*TRAIN, "--bpe-vocab-size", "280", "--max-steps", "5", "--out-dir", str(out_dir),
              "--resume"])  # fmt: skip
    err = capsys.readouterr().err
    assert "was trained on other tokens (BPETokenizer(vocab_size=300" in err
    assert "than this run's tokenizer gives (BPETokenizer(vocab_size=280" in err
    with pytest.raises(SystemExit):
        main([*TRAIN, "--bpe-vocab-size", "100", "--out-dir", str(tmp_path / "small")])
    assert "vocab_size must be an integer of at least 256" in capsys.readouterr().err
