"""Notebook 12's exercises: the references agree with ``lmcourse.scaling`` where they overlap,
a learner's right answers pass, typical mistakes are named, and no feedback shows the answer."""

import math
import random

import numpy as np
import pytest
import torch

from lmcourse.data import load_text
from lmcourse.exercises import check, describe, get
from lmcourse.exercises.scale import (
    CPU_PRESET,
    DAY,
    GPT2_SMALL,
    GPT2_XL,
    GPT3_175B,
    GPU_PRESET,
    adam_memory_gb,
    kv_cache_tokens,
    train_days,
)
from lmcourse.gpt import GPT2_CONFIGS, GPT3_CONFIGS, flops_per_token, num_params
from lmcourse.presets import PRESETS
from lmcourse.scaling import (
    GPT3_TRAIN_COMPUTE,
    PF_DAY,
    kv_cache_bytes,
    training_flops,
    training_memory,
)
from lmcourse.tokenizers import CharTokenizer

NOTEBOOK_12 = ["12.train_days", "12.adam_memory_gb", "12.kv_cache_tokens"]

#: Every model the course names: GPT-2, GPT-3 and the presets over Shakespeare's 70 characters.
CONFIGS = {
    **GPT2_CONFIGS,
    **GPT3_CONFIGS,
    **{f"preset {name}": preset.gpt_config(70) for name, preset in PRESETS.items()},
}


def test_the_cases_numbers_are_the_courses():
    assert DAY == 86_400 and PF_DAY == 1e15 * DAY
    assert GPT2_SMALL == num_params(GPT2_CONFIGS["gpt2"])
    assert GPT2_XL == num_params(GPT2_CONFIGS["gpt2-xl"])
    assert GPT3_175B == num_params(GPT3_CONFIGS["gpt3-175b"])
    assert CharTokenizer.from_text(load_text("tiny-shakespeare")).vocab_size == 70
    assert CPU_PRESET == num_params(CONFIGS["preset cpu"])
    assert GPU_PRESET == num_params(CONFIGS["preset gpu"])
    for name, tokens in [("cpu", 1.536e6), ("gpu", 81.92e6)]:  # the tokens of a whole run
        train = PRESETS[name].train
        assert train.max_steps * train.batch_size * train.block_size == tokens


# --------------------------------------------------------------------------- train_days


def test_train_days_by_hand():
    assert train_days(175e9, 300e9, 1024, 312e12, 0.4) == pytest.approx(28.53, abs=0.01)
    assert train_days(1e9, 20e9, 1, 1e15, 1.0) == pytest.approx(1.2e20 / PF_DAY)
    assert train_days(1e9, 20e9, 2, 1e15, 0.5) == train_days(1e9, 20e9, 1, 1e15, 1.0)
    assert train_days(1e8, 0.0, 4, 312e12, 0.4) == 0.0


@pytest.mark.parametrize("name", GPT3_TRAIN_COMPUTE)
def test_train_days_on_one_petaflop_is_gpt3s_table_of_pf_days(name):
    # one accelerator of 10^15 FLOP/s at its peak does a PF-day a day: 6·N·D as the paper counts
    params_millions, tokens_billions, pf_days = GPT3_TRAIN_COMPUTE[name]
    days = train_days(params_millions * 1e6, tokens_billions * 1e9, 1, 1e15, 1.0)
    assert days == pytest.approx(pf_days, rel=5e-3)  # the paper prints 3 significant digits


@pytest.mark.parametrize("name", CONFIGS)
def test_train_days_is_training_flops_without_the_attention_term(name):
    # training_flops counts flops_per_token = 6·(N − T·C) + 12·L·T·C per token (attention, and
    # no matmul for the position embeddings); train_days counts 6·N. The difference is exactly
    # that term, and it is small for a wide model: between 0 and T / (6·C) of train_days's
    # answer (2.8% for GPT-3 175B, up to 44% for GPT-3 small, whose context is long for its width)
    config = CONFIGS[name]
    N, T, C, L = num_params(config), config.block_size, config.n_embd, config.n_layer
    tokens, gpus, peak, mfu = 300e9, 64, 312e12, 0.4
    rate = gpus * peak * mfu * DAY  # FLOPs a day
    days = training_flops(config, tokens) / rate
    attention = (12 * L * T * C - 6 * T * C) * tokens / rate
    assert days == pytest.approx(train_days(N, tokens, gpus, peak, mfu) + attention, rel=1e-12)
    assert 0 < days / train_days(N, tokens, gpus, peak, mfu) - 1 < T / (6 * C)
    assert flops_per_token(config) == 6 * N + 12 * L * T * C - 6 * T * C
    if name == "gpt3-175b":
        assert days == pytest.approx(train_days(N, tokens, gpus, peak, mfu), rel=0.03)


# --------------------------------------------------------------------------- adam_memory_gb


def test_adam_memory_gb_by_hand():
    assert adam_memory_gb(1e9, 4) == 16.0  # float32
    assert adam_memory_gb(1e9, 2) == 12.0  # bf16 weights and gradients, float32 moments
    assert adam_memory_gb(1e9, 1) == 10.0
    assert adam_memory_gb(GPT3_175B, 2) == pytest.approx(2095.25, abs=0.01)


@pytest.mark.parametrize("name", CONFIGS)
def test_adam_memory_gb_is_training_memory_without_activations(name):
    config, N = CONFIGS[name], num_params(CONFIGS[name])
    kinds = ("weights", "gradients", "AdamW moments")
    memory = training_memory(config, batch_size=8)  # all in float32
    assert adam_memory_gb(N, 4) == pytest.approx(sum(memory[k] for k in kinds) / 1e9, rel=1e-12)
    # mixed precision: weights and gradients as training_memory counts them in bf16, moments
    # as it counts them in float32
    bf16 = training_memory(config, batch_size=8, bytes_per_value=2)
    mixed = bf16["weights"] + bf16["gradients"] + memory["AdamW moments"]
    assert adam_memory_gb(N, 2) == pytest.approx(mixed / 1e9, rel=1e-12)


# --------------------------------------------------------------------------- kv_cache_tokens


def test_kv_cache_tokens_by_hand():
    assert kv_cache_tokens(12, 768, 2, 16e9, 1) == 434027  # 36,864 bytes a token
    assert kv_cache_tokens(1, 8, 1, 100.0, 3) == 2  # 48 bytes a token, 4 left over
    assert kv_cache_tokens(1, 8, 1, 47.0, 3) == 0 and kv_cache_tokens(1, 8, 1, 48, 3) == 1
    assert isinstance(kv_cache_tokens(96, 12288, 2, 80e9, 1), int)


@pytest.mark.parametrize("name", CONFIGS)
def test_kv_cache_tokens_inverts_kv_cache_bytes(name):
    config = CONFIGS[name]
    L, C = config.n_layer, config.n_embd
    rng = random.Random(name)
    for batch_size in (1, 3, 8):
        for bytes_per_value in (1, 2, 4):
            for tokens in (0, 1, 100, config.block_size):
                memory = kv_cache_bytes(config, batch_size, tokens, bytes_per_value)
                assert kv_cache_tokens(L, C, bytes_per_value, memory, batch_size) == tokens
                assert kv_cache_tokens(L, C, bytes_per_value, float(memory), batch_size) == tokens
                more = kv_cache_bytes(config, batch_size, tokens + 1, bytes_per_value) - 1
                assert kv_cache_tokens(L, C, bytes_per_value, more, batch_size) == tokens
            memory = rng.uniform(0, 80e9)  # any memory: the longest context that fits
            fits = kv_cache_tokens(L, C, bytes_per_value, memory, batch_size)
            assert kv_cache_bytes(config, batch_size, fits, bytes_per_value) <= memory
            assert kv_cache_bytes(config, batch_size, fits + 1, bytes_per_value) > memory


# --------------------------------------------------------------------------- right answers


def test_a_learners_right_answers_pass():
    def learner_days(params, tokens, gpus, peak_flops, mfu):
        seconds = 6 * params * tokens / (gpus * peak_flops * mfu)
        return seconds / 60 / 60 / 24

    def learner_days_float32(params, tokens, gpus, peak_flops, mfu):
        flops = np.float32(6) * np.float32(params) * np.float32(tokens)
        return flops / np.float32(gpus * peak_flops * mfu) / np.float32(86400)

    def learner_memory(params, bytes_per_weight):
        return params * bytes_per_weight * 2 / 1e9 + params * 4 * 2 / 1e9

    def learner_tokens(n_layer, n_embd, bytes_per_value, memory_bytes, batch_size):
        per_token = 2 * n_layer * n_embd * bytes_per_value
        return math.floor(memory_bytes / per_token / batch_size)

    assert check("12.train_days", learner_days)
    assert check("12.train_days", learner_days_float32)
    assert check("12.adam_memory_gb", learner_memory)
    assert check("12.adam_memory_gb", lambda n, b: np.float64(learner_memory(n, b)))
    assert check("12.kv_cache_tokens", learner_tokens)
    assert check("12.kv_cache_tokens", lambda *args: np.int64(kv_cache_tokens(*args)))


# --------------------------------------------------------------------------- typical mistakes


def days(flops_per=6, mfu=lambda m: 1 / m, unit=DAY, gpus=True):
    def train_days(params, tokens, gpus_, peak_flops, m):
        return flops_per * params * tokens / ((gpus_ if gpus else 1) * peak_flops) * mfu(m) / unit

    return train_days


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (days(flops_per=2), "2·N·D counts the forward pass alone"),
        (days(flops_per=1), "training costs 6 FLOPs per parameter per token"),
        (days(mfu=lambda m: 1), "reach only the fraction mfu of their peak"),
        (days(mfu=lambda m: m), "a lower mfu takes longer, not shorter"),
        (lambda N, D, G, P, m: 6 * N * D / G * P * m / DAY, "divide by the whole product"),
        (days(unit=1), "that is in seconds"),
        (days(unit=3600), "that is in hours"),
        (days(unit=60), "that is in minutes"),
        (days(unit=24 / 3600), "a day is 24 · 3600 seconds: divide by both"),
        (days(gpus=False), "the work is shared by all the gpus"),
        (days(unit=DAY * 365), "that is in years"),
        (lambda *args: 1.0, "the FLOP/s the whole cluster really reaches"),
    ],
)
def test_train_days_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("12.train_days", wrong)


def memory(weights=2, moments=lambda b: 8, unit=1e9):
    return lambda params, b: params * (weights * b + moments(b)) / unit


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (memory(moments=lambda b: 2 * b), "moments stay in float32, 4 bytes each"),
        (memory(weights=1), "count the gradients too"),
        (memory(unit=2**30), "a GB is 10^9 bytes; 2^30 bytes is a GiB"),
        (memory(moments=lambda b: 12), "no float32 copy of the weights"),
        (memory(weights=1, moments=lambda b: 0), "that is the weights alone"),
        (memory(unit=1), "that is in bytes"),
        (memory(unit=1e6), "that is in megabytes"),
        (lambda *args: 1.0, "add up the bytes per parameter"),
    ],
)
def test_adam_memory_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("12.adam_memory_gb", wrong)


def test_a_mistake_that_two_slips_explain_gets_both_hints(feedback):
    # 2b + 4 bytes is also "no gradients" when b = 4 (and "moments in bf16" when b = 2)
    wrong = memory(moments=lambda b: 4)
    text = feedback("12.adam_memory_gb", wrong)
    assert "for inputs 124439808, 4: expected 1.991036928, got 1.493277696" in text
    assert "count the gradients too; or AdamW keeps two moments per parameter" in text
    # in float64 (b = 8) the forgotten moment is the only explanation
    compare = get("12.adam_memory_gb").compare
    message = compare(adam_memory_gb(GPU_PRESET, 8), wrong(GPU_PRESET, 8))
    assert "(AdamW keeps two moments per parameter" in message and "; or" not in message


def tokens(pairs=2, batch=True, layers=True, nbytes=True, rounding=math.floor):
    def kv_cache_tokens(n_layer, n_embd, bytes_per_value, memory_bytes, batch_size):
        per_token = pairs * (n_layer if layers else 1) * n_embd
        per_token *= (bytes_per_value if nbytes else 1) * (batch_size if batch else 1)
        return rounding(memory_bytes / per_token)

    return kv_cache_tokens


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (tokens(pairs=1), "two vectors per token: its key and its value"),
        (tokens(batch=False), "a cache for each of the batch_size sequences"),
        (tokens(layers=False), "every layer keeps its own keys and values"),
        (tokens(nbytes=False), "each cached number takes bytes_per_value of them"),
        (tokens(rounding=math.ceil), "round down, not up nor to the nearest"),
        (tokens(rounding=round), "round down, not up nor to the nearest"),
        (tokens(rounding=lambda x: math.floor(x) - 1), "one more token still fits"),
        (tokens(rounding=lambda x: x), "a context is a whole number of tokens: round down"),
        (tokens(rounding=lambda x: float(math.floor(x))), "the right number: return it as an int"),
        (lambda *args: 7, "how many whole tokens fit in the memory"),
    ],
)
def test_kv_cache_tokens_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("12.kv_cache_tokens", wrong)


def test_kv_cache_tokens_feedback_shows_the_case_and_both_types(feedback):
    text = feedback("12.kv_cache_tokens", tokens(pairs=1))
    assert "for inputs 12, 768, 2, 16000000000.0, 1: expected 434027, got 868055" in text
    text = feedback("12.kv_cache_tokens", tokens(pairs=1, rounding=lambda x: float(x // 1)))
    assert "expected the int 434027, got the float 868055.0 (each layer caches two" in text


def test_wrong_types_and_tolerance(feedback):
    text = feedback("12.train_days", lambda *args: torch.tensor(train_days(*args)))
    assert "expected a float, got a tensor" in text
    text = feedback("12.adam_memory_gb", lambda n, b: adam_memory_gb(n, b) * (1 + 1e-5))
    assert "for inputs 124439808, 4: expected 1.991036928, got 1.991056838" in text
    assert check("12.adam_memory_gb", lambda n, b: adam_memory_gb(n, b) * (1 + 1e-7))
    assert "got a str" in feedback("12.kv_cache_tokens", lambda *args: "434027")


# --------------------------------------------------------------------------- every exercise


def test_describe_shows_the_signatures_and_a_first_case():
    signatures = [
        "train_days(params: float, tokens: float, gpus: int, peak_flops: float, mfu: float) "
        "-> float",
        "adam_memory_gb(params: float, bytes_per_weight: int) -> float",
        "kv_cache_tokens(n_layer: int, n_embd: int, bytes_per_value: int, memory_bytes: float, "
        "batch_size: int) -> int",
    ]
    for name, signature in zip(NOTEBOOK_12, signatures):
        assert describe(name).startswith(f"{name}: write {signature}\n")
    assert ">>> adam_memory_gb(124439808, 4)\n    1.991036928" in describe("12.adam_memory_gb")
    assert ">>> kv_cache_tokens(12, 768, 2, 16000000000.0, 1)\n    434027" in describe(
        "12.kv_cache_tokens"
    )


def test_feedback_never_shows_the_solution_code(solution_hidden):
    attempts = {
        "12.train_days": [days(flops_per=2), days(unit=1), lambda *args: 42.0],
        "12.adam_memory_gb": [memory(weights=1), memory(unit=2**30), lambda *args: 42.0],
        "12.kv_cache_tokens": [tokens(pairs=1), tokens(rounding=lambda x: x), lambda *a: 42],
    }
    for name, wrong in attempts.items():
        solution_hidden(name, wrong)
