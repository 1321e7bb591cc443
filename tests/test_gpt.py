"""GPT against Hugging Face's GPT-2 (tiny random configs, no download), and its invariants."""

import dataclasses
import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.utils import logging as hf_logging

from lmcourse import gpt as gpt_module
from lmcourse.attention import KVCache
from lmcourse.gpt import (
    GPT,
    GPT2_CONFIGS,
    GPT3_CONFIGS,
    GPTConfig,
    PretrainedUnavailableError,
    flops_per_token,
    num_params,
)
from lmcourse.lm import generate

hf_logging.set_verbosity_error()  # tiny vocabularies make transformers warn about BOS/EOS ids


def hf_gpt2(vocab_size=17, n_positions=16, n_embd=24, n_layer=2, n_head=3, seed=0):
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation="eager",  # returns attention weights when asked
    )
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # large random weights, so that every nonlinearity is exercised
        for p in model.parameters():  # (GPT-2's biases and LayerNorms start at 0 and 1)
            p.copy_(0.3 * torch.randn_like(p) + (1.0 if p.ndim == 1 else 0.0))
    return model


@pytest.mark.parametrize(
    "sizes",
    [
        dict(),
        dict(n_layer=1, n_head=1, n_embd=8),
        dict(n_layer=3, n_head=4, n_embd=32, vocab_size=5),
    ],
)
def test_logits_and_loss_equal_hugging_face_gpt2(sizes):
    hf = hf_gpt2(**sizes)
    ours = GPT.from_hf_gpt2(hf).eval()
    idx = torch.randint(hf.config.vocab_size, (3, hf.config.n_positions))
    targets = torch.randint(hf.config.vocab_size, (3, hf.config.n_positions))
    theirs = hf(idx, labels=idx)  # HF shifts the labels itself
    logits, _ = ours(idx)
    torch.testing.assert_close(logits, theirs.logits, atol=1e-5, rtol=1e-5)
    _, loss = ours(idx[:, :-1], idx[:, 1:])
    torch.testing.assert_close(loss, theirs.loss, atol=1e-5, rtol=1e-5)
    _, loss = ours(idx, targets)
    assert loss.item() > 0 and math.isfinite(loss.item())


def test_attention_maps_equal_hugging_face_and_do_not_change_the_logits():
    hf = hf_gpt2(n_layer=2, n_head=3)
    ours = GPT.from_hf_gpt2(hf).eval()
    idx = torch.randint(17, (2, 10))
    theirs = hf(idx, output_attentions=True)
    logits, loss, attn = ours(idx, return_attn=True)
    assert loss is None and len(attn) == 2
    for mine, reference in zip(attn, theirs.attentions):
        assert mine.shape == (2, 3, 10, 10)
        torch.testing.assert_close(mine, reference, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(mine.sum(-1), torch.ones(2, 3, 10))
        assert mine.triu(diagonal=1).abs().max() == 0  # nothing above the diagonal
    torch.testing.assert_close(logits, ours(idx)[0], atol=1e-6, rtol=1e-6)


def test_greedy_continuations_equal_hugging_face_generate():
    hf = hf_gpt2(n_positions=32)
    ours = GPT.from_hf_gpt2(hf)
    prompt = torch.randint(17, (2, 4))
    theirs = hf.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=12,
        do_sample=False,
        pad_token_id=0,
        eos_token_id=None,
    )
    torch.testing.assert_close(generate(ours, prompt, 12, temperature=0), theirs)


@settings(max_examples=15, deadline=None)
@given(
    n_layer=st.integers(1, 3),
    n_head=st.integers(1, 4),
    head_size=st.integers(1, 6),
    T=st.integers(2, 12),
    t=st.integers(0, 10),
    seed=st.integers(0, 2**16),
)
def test_changing_later_tokens_never_changes_earlier_logits(n_layer, n_head, head_size, T, t, seed):
    t = min(t, T - 2)  # change the tokens after position t
    config = GPTConfig(11, block_size=T, n_layer=n_layer, n_head=n_head, n_embd=n_head * head_size)
    model = GPT(config, generator=torch.Generator().manual_seed(seed)).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    idx = torch.randint(11, (2, T), generator=gen)
    changed = idx.clone()
    changed[:, t + 1 :] = torch.randint(11, (2, T - t - 1), generator=gen)
    with torch.no_grad():
        a, b = model(idx)[0], model(changed)[0]
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1], atol=0, rtol=0)


@settings(max_examples=25, deadline=None)
@given(
    vocab_size=st.integers(1, 50),
    block_size=st.integers(1, 40),
    n_layer=st.integers(1, 4),
    n_head=st.integers(1, 4),
    head_size=st.integers(1, 8),
    bias=st.booleans(),
)
def test_formula_counts_the_parameters(vocab_size, block_size, n_layer, n_head, head_size, bias):
    config = GPTConfig(vocab_size, block_size, n_layer, n_head, n_head * head_size, bias=bias)
    model = GPT(config)
    assert num_params(config) == sum(p.numel() for p in model.parameters())  # tied: once


def test_gpt2_sizes_as_hugging_face_counts_them():
    sizes = {"gpt2": 124_439_808, "gpt2-medium": 354_823_168,
             "gpt2-large": 774_030_080, "gpt2-xl": 1_557_611_200}  # fmt: skip
    assert {name: num_params(c) for name, c in GPT2_CONFIGS.items()} == sizes


def test_gpt3_table_reproduces_the_paper_within_its_rounding():
    # Brown et al. (2020), Table 2.1, "n_params"
    paper = {"gpt3-small": 125e6, "gpt3-medium": 350e6, "gpt3-large": 760e6,
             "gpt3-xl": 1.3e9, "gpt3-2.7b": 2.7e9, "gpt3-6.7b": 6.7e9, "gpt3-13b": 13e9,
             "gpt3-175b": 175e9}  # fmt: skip
    assert set(GPT3_CONFIGS) == set(paper)
    for name, config in GPT3_CONFIGS.items():
        assert config.block_size == 2048 and config.vocab_size == 50257
        assert abs(num_params(config) / paper[name] - 1) < 0.02, (name, num_params(config))
    assert GPT3_CONFIGS["gpt3-175b"].head_size == 128


@pytest.mark.parametrize(
    "field, value",
    [
        ("n_embd", 0),
        ("n_head", 0),
        ("n_layer", 0),
        ("vocab_size", 0),
        ("block_size", -1),
        ("n_layer", 2.5),
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("bias", "yes"),
        ("gelu", "relu"),
    ],  # fmt: skip
)
def test_invalid_configs_name_the_field(field, value):
    sizes = dict(vocab_size=10, block_size=8, n_layer=2, n_head=2, n_embd=8) | {field: value}
    with pytest.raises(ValueError, match=field):
        GPTConfig(**sizes)


def test_n_embd_not_divisible_by_n_head_is_explained():
    with pytest.raises(ValueError, match="n_embd must be a multiple of n_head: 10 .* by 4"):
        GPTConfig(vocab_size=10, block_size=8, n_embd=10, n_head=4)


def test_a_sequence_longer_than_the_context_is_a_clear_error():
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))
    with pytest.raises(ValueError, match="block_size = 4"):
        model(torch.zeros(1, 5, dtype=torch.long))


def test_seeded_init_is_reproducible_and_follows_gpt2():
    config = GPTConfig(vocab_size=100, block_size=64, n_layer=6, n_head=4, n_embd=256)
    a = GPT(config, generator=torch.Generator().manual_seed(0))
    b = GPT(config, generator=torch.Generator().manual_seed(0))
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert a.lm_head.weight is a.transformer.wte.weight
    assert abs(a.transformer.h[0].mlp.c_fc.weight.std().item() - 0.02) < 1e-3
    residual_std = 0.02 / math.sqrt(2 * 6)
    assert abs(a.transformer.h[0].attn.c_proj.weight.std().item() - residual_std) < 5e-4
    assert a.transformer.h[0].mlp.c_fc.bias.abs().max() == 0
    data = torch.Generator().manual_seed(1)  # not the global generator: other tests move it
    _, loss = a(
        torch.randint(100, (4, 64), generator=data), torch.randint(100, (4, 64), generator=data)
    )
    assert abs(loss.item() - math.log(100)) < 0.1  # small logits at init: nearly uniform


def test_exact_gelu_is_close_to_gpt2s_tanh_approximation_but_not_equal():
    config = GPTConfig(vocab_size=9, block_size=8, n_layer=2, n_head=2, n_embd=8)
    tanh = GPT(config, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for p in tanh.parameters():
            p.mul_(20.0)  # large pre-activations, where the two GELUs differ most
    exact = GPT(dataclasses.replace(config, gelu="exact"))
    exact.load_state_dict(tanh.state_dict())
    idx = torch.randint(9, (2, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = tanh(idx)[0], exact(idx)[0]
    assert 0 < (a - b).abs().max() < 0.05 * a.abs().max()


def test_dropout_acts_in_training_only_and_a_tiny_batch_can_be_learned():
    config = GPTConfig(vocab_size=7, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.2)
    model = GPT(config, generator=torch.Generator().manual_seed(0))
    idx = torch.randint(7, (4, 8), generator=torch.Generator().manual_seed(1))
    assert not torch.equal(model(idx)[0], model(idx)[0])  # training: dropout differs per call
    model.eval()
    assert torch.equal(model(idx)[0], model(idx)[0])
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert model(idx[:, :-1], idx[:, 1:])[1].item() < 0.3  # memorised


def test_from_hf_gpt2_keeps_the_dtype_of_float64_weights():
    """float64 weights that float32 cannot hold are copied exactly, not rounded to float32."""
    hf = hf_gpt2().double()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(1e-9 * torch.randn_like(p))  # below float32's resolution
    ours = GPT.from_hf_gpt2(hf).eval()
    assert {p.dtype for p in ours.parameters()} == {torch.float64}
    idx = torch.randint(hf.config.vocab_size, (2, hf.config.n_positions))
    torch.testing.assert_close(ours(idx)[0], hf(idx).logits, atol=1e-12, rtol=1e-12)


def test_from_hf_gpt2_rejects_other_models():
    with pytest.raises(TypeError, match="GPT-2"):
        GPT.from_hf_gpt2(torch.nn.Linear(2, 2))


def test_from_pretrained_offline_fails_fast_with_a_clear_message(monkeypatch):
    def not_cached(*args, **kwargs):
        raise OSError("not in the cache")

    monkeypatch.setattr(GPT2LMHeadModel, "from_pretrained", not_cached)
    monkeypatch.setattr(gpt_module, "hub_reachable", lambda *args, **kwargs: False)
    with pytest.raises(PretrainedUnavailableError, match="cannot be reached"):
        GPT.from_pretrained("gpt2")
    with pytest.raises(ValueError, match="gpt2-medium"):
        GPT.from_pretrained("gpt-5")


def test_from_pretrained_without_download_never_reaches_for_the_network(monkeypatch):
    calls = []

    def not_cached(name, **kwargs):
        calls.append(kwargs)
        raise OSError("not in the cache")

    def no_network(*args, **kwargs):
        raise AssertionError("the hub was contacted")

    monkeypatch.setattr(GPT2LMHeadModel, "from_pretrained", not_cached)
    monkeypatch.setattr(gpt_module, "hub_reachable", no_network)
    with pytest.raises(
        PretrainedUnavailableError, match=r"download=True\) fetches it \(about 0.5 GB"
    ):
        GPT.from_pretrained("gpt2", download=False)
    assert calls == [{"local_files_only": True}]  # the cache was asked, nothing else
    with pytest.raises(ValueError, match="download must be True or False"):
        GPT.from_pretrained("gpt2", download="no")


def test_from_pretrained_uses_a_cached_copy(monkeypatch):
    hf = hf_gpt2()
    calls = []

    def cached(name, **kwargs):
        calls.append((name, kwargs))
        return hf

    monkeypatch.setattr(GPT2LMHeadModel, "from_pretrained", cached)
    model = GPT.from_pretrained("gpt2", download=False)  # a cached copy loads either way
    assert calls == [("gpt2", {"local_files_only": True})]
    assert model.config.n_embd == 24


# --------------------------------------------------------------------------- the KV cache


@pytest.mark.parametrize("chunks", [[12], [5, 1, 1, 1, 4], [1] * 12, [3, 6, 3]])
def test_the_kv_cache_gives_the_logits_of_the_full_forward(chunks):
    model = GPT.from_hf_gpt2(hf_gpt2(n_positions=12)).eval()
    idx = torch.randint(17, (2, 12))
    with torch.no_grad():
        full = model(idx)[0]  # (B, 12, V)
        cache, pieces, start = KVCache(model.config.n_layer), [], 0
        for size in chunks:  # a prompt, then pieces: each sees the cached tokens before it
            pieces.append(model(idx[:, start : start + size], cache=cache)[0])
            start += size
            assert len(cache) == start
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def test_attention_maps_with_a_cache_cover_the_cached_keys():
    model = GPT.from_hf_gpt2(hf_gpt2()).eval()
    idx = torch.randint(17, (1, 7))
    cache = KVCache(2)
    with torch.no_grad():
        model(idx[:, :4], cache=cache)
        logits, _, attn = model(idx[:, 4:], return_attn=True, cache=cache)
        _, _, full = model(idx, return_attn=True)
    assert attn[0].shape == (1, 3, 3, 7)  # (B, H, T new, S = 4 cached + 3 new)
    torch.testing.assert_close(attn[1], full[1][:, :, 4:], atol=1e-6, rtol=1e-5)


def test_a_full_cache_is_a_clear_error():
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))
    cache = KVCache(1)
    model(torch.zeros(1, 3, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="the cache holds 3 tokens"):
        model(torch.zeros(1, 2, dtype=torch.long), cache=cache)


@pytest.mark.parametrize("bias", [False, True])
def test_flops_per_token_equals_pytorchs_flop_counter(bias):
    # An independent count: PyTorch's FlopCounterMode adds up 2·M·N·K for every matrix product
    # of a training step, forward and backward. The written-out attention (return_attn=True)
    # makes q·kᵀ and weights·v matrix products it can see. The formula's 6 FLOPs for each
    # LayerNorm gain and bias, which no matrix product multiplies, are its only difference.
    config = GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=32, bias=bias)
    model = GPT(config, generator=torch.Generator().manual_seed(0))
    B, T = 3, config.block_size
    idx, targets = torch.randint(0, 50, (2, B, T), generator=torch.Generator().manual_seed(1))
    with FlopCounterMode(display=False) as counter:
        model(idx, targets, return_attn=True)[1].backward()
    no_matmul = sum(p.numel() for name, p in model.named_parameters()
                    if ".ln_" in name or name.endswith("bias"))  # fmt: skip
    assert counter.get_total_flops() == B * T * (flops_per_token(config) - 6 * no_matmul)


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"tie_word_embeddings": False}, "tie_word_embeddings=False"),
        ({"scale_attn_weights": False}, "scale_attn_weights=False"),
        ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx=True"),
        ({"reorder_and_upcast_attn": True}, "reorder_and_upcast_attn=True"),
        ({"n_inner": 16}, "this GPT-2's 16"),
    ],
)
def test_from_hf_gpt2_refuses_what_gpt_cannot_hold(setting, message):
    # each of these used to load without a word and give other logits (or a bare copy error)
    import transformers

    config = transformers.GPT2Config(vocab_size=20, n_positions=8, n_layer=1, n_head=2, n_embd=8,
                                     **setting)  # fmt: skip
    with pytest.raises(ValueError, match=re.escape(message)):
        GPT.from_hf_gpt2(GPT2LMHeadModel(config))
