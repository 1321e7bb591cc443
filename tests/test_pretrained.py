"""The shipped model: small, loadable, and as good as its metadata says."""

import hashlib
import math

import pytest
import torch

import lmcourse
from lmcourse.data import load_text, train_val_split
from lmcourse.gpt import GPT
from lmcourse.lm import evaluate
from lmcourse.pretrained import MODELS_DIR, available, load_pretrained
from lmcourse.sampling import generate


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
