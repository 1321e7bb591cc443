"""The shipped model: small, loadable, and as good as its metadata says."""

import hashlib
import math
import re
from pathlib import Path

import pytest
import torch

import lmcourse
from lmcourse.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from lmcourse.data import load_text, train_val_split
from lmcourse.gpt import GPT
from lmcourse.lm import evaluate
from lmcourse.presets import PRESETS, train_gpt
from lmcourse.pretrained import MODELS_DIR, available, load_model, load_pretrained
from lmcourse.sampling import generate
from lmcourse.train import train


@pytest.fixture(scope="module")
def shipped():
    return load_pretrained("shakespeare-char")


def test_it_is_shipped_small_and_loads_through_the_package(shipped):
    assert "shakespeare-char" in available()
    assert (MODELS_DIR / "shakespeare-char.pt").stat().st_size <= 8 * 2**20
    model, tokenizer, info = lmcourse.load_pretrained("shakespeare-char")
    assert isinstance(model, GPT) and not model.training
    assert tokenizer.vocab_size == model.config.vocab_size == 70
    assert info["parameters"] == sum(p.numel() for p in model.parameters())


def test_its_metadata_is_true(shipped):
    model, tokenizer, info = shipped
    text = load_text(info["corpus"])
    assert info["corpus_sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert info["model_config"]["block_size"] == model.config.block_size
    assert info["command"].startswith("lmcourse train --preset ship")
    _, val = train_val_split(torch.tensor(tokenizer.encode(text)))
    loss = evaluate(model, val, block_size=model.config.block_size)
    assert loss == pytest.approx(info["val_loss_nats"], abs=1e-4)
    assert loss <= 1.50  # the bar; nanoGPT's 1.8M-parameter CPU run reaches 1.497
    assert info["val_bits_per_char"] == pytest.approx(loss / math.log(2), abs=1e-3)


def test_it_writes_shakespeare(shipped):
    model, tokenizer, _ = shipped
    prompt = torch.tensor([tokenizer.encode("ROMEO:\n")])
    text = tokenizer.decode(generate(model, prompt, 200, temperature=0.8,
                                     generator=torch.Generator().manual_seed(0))[0])  # fmt: skip
    words = text.split()
    assert text.startswith("ROMEO:\n") and len(words) > 20
    assert sum(w.strip(",.;:!?'").lower() in {"the", "and", "i", "to", "of", "my", "you"}
               for w in words) >= 5  # fmt: skip


def test_an_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match="shakespeare-char"):
        load_pretrained("gpt-5")
    message = "available: ['shakespeare-char']. For a checkpoint file, use load_model(path)."
    with pytest.raises(ValueError, match=re.escape(message)):  # a path: the user has a file
        load_pretrained(Path("runs/ckpt.pt"))


@pytest.mark.parametrize("name", ["some/dir/ckpt.pt", "runs/cpu", "ckpt.pt", "here"])
def test_a_str_that_looks_like_a_path_gets_the_load_model_hint(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here").mkdir()  # a name with no separator or .pt that is on disk: a run folder
    hint = "For a checkpoint file, use load_model(path)."
    with pytest.raises(ValueError, match=re.escape(f"No shipped model {name!r}")) as info:
        load_pretrained(name)
    assert str(info.value).endswith(hint)
    with pytest.raises(ValueError) as info:
        load_pretrained("gpt-5")  # a name, not a path: no hint
    assert hint not in str(info.value)


def test_the_export_tool_names_a_missing_checkpoint_in_one_line(tmp_path, capsys):
    from lmcourse.pretrained import main

    missing = tmp_path / "nope.pt"
    assert main([str(missing), "x", "--command", "y"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and not (MODELS_DIR / "x.json").exists()
    assert captured.err == f"python -m lmcourse.pretrained: error: No checkpoint at '{missing}'.\n"


# ------------------------------------------------- load_model: a shipped name or your checkpoint


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """A short run of the ci preset, as notebook 08 or `lmcourse train` writes it."""
    out_dir = tmp_path_factory.mktemp("run")
    model, tokenizer, history = train_gpt("ci", out_dir=out_dir, progress=False, device="cpu")
    return out_dir, model, tokenizer, history


def test_load_model_by_name_is_the_shipped_model(shipped):
    model, tokenizer, info = load_model("shakespeare-char")
    assert info == shipped.info and tokenizer.chars == shipped.tokenizer.chars
    for a, b in zip(model.state_dict().values(), shipped.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("as_file", [True, False])
def test_load_model_reads_a_learners_checkpoint_or_its_folder(own_run, as_file):
    out_dir, trained, tokenizer, history = own_run
    source = out_dir / "ckpt.pt" if as_file else out_dir
    model, loaded_tokenizer, info = load_model(str(source))
    assert isinstance(model, GPT) and not model.training
    assert loaded_tokenizer.chars == tokenizer.chars
    for a, b in zip(model.state_dict().values(), trained.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert info["name"] == str(out_dir / "ckpt.pt") and info["model_class"] == "GPT"
    assert info["parameters"] == sum(p.numel() for p in trained.parameters())
    assert info["steps"] == PRESETS["ci"].train.max_steps
    assert info["corpus"] == "tiny-shakespeare"  # train_gpt records the text it trained on
    assert info["val_loss_nats"] == history.val_loss[-1]
    assert info["val_bits_per_char"] == pytest.approx(history.val_loss[-1] / math.log(2))
    assert info["command"] is None


def test_load_model_names_what_is_wrong(tmp_path, own_run):
    with pytest.raises(FileNotFoundError, match="A shipped model's name works too: shakespeare"):
        load_model(str(tmp_path / "nowhere.pt"))
    model = own_run[1]
    save_checkpoint(tmp_path / "no-tokenizer.pt", model)  # train() without tokenizer=...
    with pytest.raises(CheckpointError, match="holds no tokenizer"):
        load_model(str(tmp_path / "no-tokenizer.pt"))
    entry = load_checkpoint(own_run[0] / "ckpt.pt")
    entry["model_config"]["n_embd"] = 16  # weights of 32 channels, a config of 16
    entry["model_config"]["n_head"] = 1
    torch.save(entry, tmp_path / "misfit.pt")
    with pytest.raises(CheckpointError, match="do not fit its model config"):
        load_model(str(tmp_path / "misfit.pt"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_device_is_named():
    for load in (load_pretrained, lambda name, device: load_model(name, device)):
        with pytest.raises(ValueError, match="'cuda' was asked for but is not available"):
            load("shakespeare-char", device="cuda")
    with pytest.raises(ValueError, match="Unknown device 'gpu'"):
        load_model("shakespeare-char", device="gpu")
    with pytest.raises(TypeError, match="source must be a shipped name, a checkpoint file or a"):
        load_model(None)


def test_load_model_of_a_bpe_checkpoint_gives_no_bits_per_character_and_can_be_refused(tmp_path):
    from lmcourse.bpe import train_bpe

    text = load_text("tiny-shakespeare")[:20_000]
    bpe = train_bpe(text, 280)
    model = GPT(PRESETS["ci"].gpt_config(bpe.vocab_size))
    ids = torch.tensor(bpe.encode(text))
    train(model, ids, ids, PRESETS["ci"].train, progress=False, out_dir=tmp_path, tokenizer=bpe)
    loaded, tokenizer, info = load_model(tmp_path)
    assert tokenizer == bpe and info["val_loss_nats"] > 0
    assert info["val_bits_per_char"] is None  # its loss is per token, not per character
    with pytest.raises(CheckpointError, match="over other tokens than characters"):
        load_model(tmp_path, characters=True)
    assert load_model("shakespeare-char", characters=True).tokenizer.vocab_size == 70
