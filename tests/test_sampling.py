"""Tests of lmcourse.sampling."""

import math
import re

import numpy as np
import pytest
import torch
import transformers.generation.logits_process
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcourse.sampling import (
    choose_next,
    entropy_bits,
    generate,
    sample_from_probs,
    stream,
    tempered,
    top_k_filter,
    top_p_filter,
)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 10), min_size=1, max_size=30).filter(lambda xs: sum(xs) > 1e-3))
def test_entropy_bits_equals_torchs_categorical_entropy(weights):
    probs = torch.tensor(weights, dtype=torch.float64) / sum(weights)
    # an independent reference: torch.distributions, in nats, converted to bits
    reference = torch.distributions.Categorical(probs=probs).entropy().item() / math.log(2)
    assert entropy_bits(probs.float()) == pytest.approx(reference, abs=1e-5)


def test_entropy_bits_bounds_and_errors():
    assert entropy_bits(torch.tensor([0.0, 1.0, 0.0])) == 0.0  # certain: 0 bits, not -0.0
    assert entropy_bits(torch.full((65,), 1 / 65)) == pytest.approx(math.log2(65))  # the most
    for bad in (torch.tensor([0.5, 0.6]), torch.tensor([-0.5, 1.5]), torch.ones(2, 2) / 4):
        with pytest.raises(ValueError, match="probs must"):
            entropy_bits(bad)
    with pytest.raises(ValueError, match="probs must be a 1-D"):
        entropy_bits([0.5, 0.5])


def test_temperature_zero_is_the_argmax():
    assert sample_from_probs(np.array([0.1, 0.7, 0.2]), temperature=0) == 1


def test_samples_follow_the_distribution():
    probs = np.array([0.1, 0.6, 0.3, 0.0])
    gen = torch.Generator().manual_seed(0)
    draws = np.bincount([sample_from_probs(probs, 1.0, gen) for _ in range(20_000)], minlength=4)
    np.testing.assert_allclose(draws / draws.sum(), probs, atol=0.015)
    assert draws[3] == 0  # probability 0 stays impossible


def test_temperature_sharpens_and_flattens():
    """At T the weights are p ** (1/T), renormalised: T = 0.5 squares them, T = 2 takes roots."""
    probs = np.array([0.2, 0.8])
    for temperature, expected in [
        (0.5, 0.8**2 / (0.2**2 + 0.8**2)),
        (2.0, 0.8**0.5 / (0.2**0.5 + 0.8**0.5)),
    ]:
        gen = torch.Generator().manual_seed(1)
        share = np.mean([sample_from_probs(probs, temperature, gen) for _ in range(20_000)])
        assert abs(share - expected) < 0.015, (temperature, share, expected)


@pytest.mark.parametrize("temperature, power", [(0.5, 2.0), (2.0, 0.5)])
def test_choose_next_samples_p_to_the_power_one_over_temperature(temperature, power):
    """At T, choose_next samples from p ** (1/T), renormalised: T = 0.5 squares p, T = 2 roots."""
    probs = torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64)
    expected = probs**power / (probs**power).sum()  # T = 0.5: [1, 4, 49] / 54
    n = 40_000  # one batch of n identical rows: n independent draws
    logits = probs.log().float().expand(n, 3)
    tokens = choose_next(logits, temperature, generator=torch.Generator().manual_seed(0))
    assert tokens.shape == (n, 1)
    freq = torch.bincount(tokens.flatten(), minlength=3).double() / n
    sigma = (expected * (1 - expected) / n).sqrt()  # the binomial standard deviation
    assert ((freq - expected).abs() < 5 * sigma).all(), (freq, expected)


def test_tiny_temperature_does_not_overflow():
    probs = np.array([1e-300, 0.5, 0.5 - 1e-300])
    assert sample_from_probs(probs, 1e-6, torch.Generator().manual_seed(0)) in (1, 2)


def test_subnormal_temperature_is_still_the_argmax():
    """(log p - max log p) / T: the max is taken before dividing, so even T = 1e-310 works."""
    assert sample_from_probs(np.array([0.2, 0.5, 0.3]), 1e-310) == 1


@pytest.mark.parametrize(
    "logits, temperature",
    [
        (torch.tensor([[1e38, 3e38, 0.0]]), 0.5),  # logits / T alone would be inf
        (torch.tensor([[90.0, 100.0]], dtype=torch.float64), 1e-37),
        (torch.tensor([[-1e30, 5.0, float("-inf")]]), 1e-30),
    ],
)
def test_choose_next_does_not_overflow_on_huge_logits_or_tiny_temperatures(logits, temperature):
    """The row's maximum is subtracted before dividing by T: a sample, not inf/nan."""
    tokens = choose_next(logits, temperature, generator=torch.Generator().manual_seed(0))
    assert tokens.tolist() == [[1]]


@pytest.mark.parametrize(
    "row", [[0.0, float("nan")], [0.0, float("inf")], [float("-inf"), float("-inf")]]
)
def test_choose_next_refuses_logits_with_no_token_to_choose(row):
    logits = torch.tensor([[0.0, 1.0], row])
    message = "logits must have no nan or +inf, and a finite value in every row."
    for temperature in (0, 1.0):
        with pytest.raises(ValueError, match=re.escape(message)):
            choose_next(logits, temperature)


@pytest.mark.parametrize("temperature", [1e-40, 1e-46, 1e-300, 5e-324])
def test_tempered_handles_temperatures_below_float32s_range(temperature):
    """(logits - max) / T, divided in float64 when T is too small for float32: no nan."""
    out = tempered(torch.tensor([[3.0, 5.0, 5.0, -1.0]]), temperature)
    assert out.dtype == torch.float32
    assert out.tolist() == [[-math.inf, 0.0, 0.0, -math.inf]]
    tokens = choose_next(torch.tensor([[3.0, 5.0, -1.0]]), temperature, top_p=0.5)
    assert tokens.tolist() == [[1]]


def test_tempered_is_the_shifted_logits_over_t_and_t0_is_its_limit():
    logits = torch.tensor([[1.0, 3.0, 2.0], [0.0, 0.0, -math.inf]], dtype=torch.float64)
    expected = torch.tensor([[-1.0, 0.0, -0.5], [0.0, 0.0, -math.inf]], dtype=torch.float64)
    torch.testing.assert_close(tempered(logits, 2.0), expected, rtol=0, atol=0)
    inf = math.inf
    assert tempered(logits, 0).tolist() == [[-inf, 0.0, -inf], [0.0, 0.0, -inf]]  # ties share


def test_filters_and_choose_next_name_logits_with_nothing_to_choose():
    with pytest.raises(ValueError, match=re.escape("logits must have at least one token: V is 0.")):
        choose_next(torch.zeros(1, 0), 1.0)
    message = "logits must have no nan or +inf, and a finite value in every row."
    with pytest.raises(ValueError, match=re.escape(message)):
        top_p_filter(torch.tensor([[0.0, math.nan, 1.0]]), 0.5)


def test_generate_names_a_block_size_beyond_the_models_and_a_bad_generator():
    model = _tiny_gpt(block_size=8)
    with pytest.raises(ValueError, match=re.escape("block_size 100 is more than the model's 8.")):
        generate(model, torch.zeros(1, 1, dtype=torch.long), 3, block_size=100)
    message = "generator must be a torch.Generator or None, got 0."
    with pytest.raises(ValueError, match=re.escape(message)):
        generate(model, torch.zeros(1, 1, dtype=torch.long), 3, generator=0)
    with pytest.raises(ValueError, match=re.escape(message)):
        sample_from_probs(np.array([0.5, 0.5]), 1.0, generator=0)


def test_seeded_generator_is_reproducible():
    probs = np.full(50, 1 / 50)
    a = [sample_from_probs(probs, 1.0, torch.Generator().manual_seed(5)) for _ in range(3)]
    b = [sample_from_probs(probs, 1.0, torch.Generator().manual_seed(5)) for _ in range(3)]
    assert a == b


# --------------------------------------------------------------------------- top-k and top-p


# Logits with ties: small integers make equal values likely.
LOGITS = st.lists(st.integers(-4, 4).map(float), min_size=1, max_size=12)


def reference_top_p(probs: list[float], p: float) -> set[int]:
    """Plain Python: add tokens from the most likely down until the mass reaches p; add ties."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    kept, mass = [], 0.0
    for i in order:
        if mass >= p and not (kept and math.isclose(probs[i], probs[kept[-1]])):
            break
        kept.append(i)
        mass += probs[i]
    return set(kept)


@settings(max_examples=200, deadline=None)
@given(LOGITS, st.integers(1, 15))
def test_top_k_keeps_the_k_highest_and_every_tie(values, k):
    out = top_k_filter(torch.tensor(values), k)
    kept = {i for i, v in enumerate(out.tolist()) if v != -math.inf}
    kth = sorted(values, reverse=True)[min(k, len(values)) - 1]
    assert kept == {i for i, v in enumerate(values) if v >= kth}
    assert len(kept) >= min(k, len(values))
    assert all(out[i] == values[i] for i in kept)  # kept logits are unchanged


@settings(max_examples=200, deadline=None)
@given(LOGITS, st.floats(0.01, 1.0))
def test_top_p_keeps_the_smallest_set_reaching_p(values, p):
    logits = torch.tensor(values, dtype=torch.float64)
    probs = torch.softmax(logits, dim=-1).tolist()
    kept = {i for i, v in enumerate(top_p_filter(logits, p).tolist()) if v != -math.inf}
    assert kept == reference_top_p(probs, p)
    assert sum(probs[i] for i in kept) >= p - 1e-9  # it reaches p
    assert int(torch.tensor(probs).argmax()) in kept  # never empty


def test_top_p_hand_checked_and_batched():
    probs = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    out = top_p_filter(probs.log(), 0.7).exp()
    torch.testing.assert_close(out, torch.tensor([[0.5, 0.3, 0.0], [0.0, 0.0, 0.8]]))
    assert torch.equal(top_p_filter(probs.log(), 1.0), probs.log())  # p = 1 keeps everything


def test_top_p_stops_when_the_mass_before_a_token_reaches_p_exactly():
    # Probabilities exact in binary: the first token's mass is exactly p = 0.5, so the mass
    # before the second is not below p and it is dropped (the smallest set reaching p).
    out = top_p_filter(torch.tensor([0.5, 0.25, 0.25]).log(), 0.5).exp()
    assert torch.equal(out, torch.tensor([0.5, 0.0, 0.0]))
    # in another order: the two most likely reach p = 0.75 exactly, so both 0.125s are dropped
    out = top_p_filter(torch.tensor([0.25, 0.5, 0.125, 0.125]).log(), 0.75).exp()
    assert torch.equal(out, torch.tensor([0.25, 0.5, 0.0, 0.0]))


def test_top_p_keeps_float64_logits_in_float64():
    # 0 and -1e-9 are one number in float32 (a tie: both kept), two in float64: the first
    # alone holds 0.50000000025 >= p, so the smallest set reaching p is the first token only.
    logits = torch.tensor([0.0, -1e-9, -30.0], dtype=torch.float64)
    out = top_p_filter(logits, 0.4)
    assert out.dtype == torch.float64
    assert torch.isfinite(out).tolist() == [True, False, False]
    assert torch.isfinite(top_p_filter(logits.float(), 0.4)).tolist() == [True, True, False]


@pytest.mark.parametrize("seed", range(5))
def test_filters_equal_hugging_faces_logits_warpers(seed):
    # An independent implementation: transformers' warpers, chained as its generate() chains
    # them (temperature, then top-k, then top-p), on batches of random logits.
    logits_process = transformers.generation.logits_process
    generator = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(8, 65, generator=generator, dtype=torch.float64)  # (B, V)
    for temperature, k, p in [(1.0, 5, 1.0), (0.7, 65, 0.9), (1.3, 20, 0.5), (1.0, 65, 0.05)]:
        ours = top_p_filter(top_k_filter(logits / temperature, k), p)
        theirs = logits_process.TemperatureLogitsWarper(temperature)(None, logits.clone())
        theirs = logits_process.TopKLogitsWarper(k)(None, theirs)
        theirs = logits_process.TopPLogitsWarper(p)(None, theirs)
        assert torch.equal(ours.isinf(), theirs.isinf()), (temperature, k, p)  # same tokens kept
        torch.testing.assert_close(torch.softmax(ours, -1), torch.softmax(theirs, -1))


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_top_k_is_named(k):
    with pytest.raises(ValueError, match="top_k must be an integer >= 1"):
        top_k_filter(torch.zeros(3), k)


@pytest.mark.parametrize("p", [0, -0.1, 1.01, math.nan, "0.5"])
def test_bad_top_p_is_named(p):
    with pytest.raises(ValueError, match=r"top_p must be a number in \(0, 1\]"):
        top_p_filter(torch.zeros(3), p)


# --------------------------------------------------------------------------- generate and stream


def _tiny_gpt(block_size=16, seed=0):
    from lmcourse.gpt import GPT, GPTConfig

    config = GPTConfig(vocab_size=11, block_size=block_size, n_layer=2, n_head=2, n_embd=16)
    model = GPT(config, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # larger weights than GPT-2's init: sharper, more varied predictions
        for p in model.parameters():
            p.mul_(8.0 if p.ndim == 2 else 1.0)
    return model


@pytest.mark.parametrize(
    "settings_",
    [
        dict(temperature=0),
        dict(temperature=1.0),
        dict(temperature=0.7, top_k=3),
        dict(temperature=1.3, top_p=0.8),
        dict(temperature=1.0, top_k=5, top_p=0.9),
    ],  # fmt: skip
)
def test_the_kv_cache_generates_the_same_tokens_also_past_the_context(settings_):
    model = _tiny_gpt(block_size=16)
    prompt = torch.randint(11, (3, 5), generator=torch.Generator().manual_seed(1))
    runs = [
        generate(
            model, prompt, 60, generator=torch.Generator().manual_seed(7), use_cache=c, **settings_
        )  # fmt: skip
        for c in (True, False)
    ]
    assert runs[0].shape == (3, 65)
    assert torch.equal(runs[0], runs[1])  # 60 new tokens: the 16-token window moved 6 times


def test_the_cache_computes_one_new_token_per_step_until_the_window_moves():
    model = _tiny_gpt(block_size=8)
    lengths = []
    model.register_forward_pre_hook(lambda module, args: lengths.append(args[0].shape[1]))
    generate(model, torch.zeros(1, 3, dtype=torch.long), 10, generator=torch.Generator())
    # the prompt (3), then one token at a time until 8 are in the window; then the last 4 again
    assert lengths == [3, 1, 1, 1, 1, 1, 4, 1, 1, 1]
    lengths.clear()
    generate(model, torch.zeros(1, 3, dtype=torch.long), 4, use_cache=False)
    assert lengths == [3, 4, 5, 6]


def test_stream_yields_the_tokens_of_generate_one_at_a_time():
    model = _tiny_gpt()
    prompt = torch.tensor([[1, 2, 3]])
    pieces = list(stream(model, prompt, 12, generator=torch.Generator().manual_seed(3)))
    assert all(piece.shape == (1, 1) for piece in pieces) and len(pieces) == 12
    full = generate(model, prompt, 12, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.cat([prompt, *pieces], dim=1), full)


def test_every_model_with_the_lm_interface_can_generate():
    from lmcourse.mlp import MLPLM, MLPConfig
    from lmcourse.rnn import RecurrentLM, RecurrentLMConfig

    prompt = torch.tensor([[0, 1]])
    for model in (MLPLM(MLPConfig(vocab_size=11)), RecurrentLM(RecurrentLMConfig(vocab_size=11)),
                  _tiny_gpt()):  # fmt: skip
        out = generate(model, prompt, 20, top_k=4, top_p=0.9, generator=torch.Generator())
        assert out.shape == (1, 22) and int(out.max()) < 11


def test_top_k_1_and_temperature_0_are_both_greedy():
    model = _tiny_gpt()
    prompt = torch.tensor([[4, 2]])
    greedy = generate(model, prompt, 20, temperature=0)
    assert torch.equal(generate(model, prompt, 20, top_k=1, generator=torch.Generator()), greedy)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": -0.1}, "temperature must be a number >= 0"),
        ({"top_k": 0}, "top_k must be an integer >= 1"),
        ({"top_p": 0.0}, r"top_p must be a number in \(0, 1\]"),
        ({"top_p": 1.5}, r"top_p must be a number in \(0, 1\]"),
        ({"max_new_tokens": -3}, "max_new_tokens must be an integer >= 0"),
        ({"block_size": -1}, "block_size must be a positive integer"),
        ({"idx": torch.zeros(1, 0, dtype=torch.long)}, "The prompt is empty.*newline"),
        ({"idx": [[1, 2]]}, "idx must be a .B, T. long tensor"),
    ],  # fmt: skip
)
def test_bad_input_is_a_clear_error(kwargs, message):
    arguments = {"idx": torch.tensor([[1]]), "max_new_tokens": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(_tiny_gpt(), **arguments)


def test_generated_tokens_are_ordinary_tensors_and_autograd_stays_on_between_steps():
    model = _tiny_gpt()
    out = generate(model, torch.tensor([[1, 2]]), 10, generator=torch.Generator().manual_seed(0))
    assert not out.is_inference()
    _, loss = model(out[:, :-1], out[:, 1:])  # training on a sample works
    loss.backward()
    for piece in stream(model, torch.tensor([[1]]), 3, generator=torch.Generator()):
        assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        assert not piece.is_inference() and not model.training  # eval mode while it runs
    assert model.training  # and the mode is back afterwards


@pytest.mark.parametrize("temperature", [-1, -0.5, math.nan, math.inf, "1", True])
def test_a_bad_temperature_is_named_not_inverted(temperature):
    # with T = -1, P^(1/T) would favour the *least* likely tokens, silently
    with pytest.raises(ValueError, match="temperature must be a number >= 0"):
        choose_next(torch.tensor([[5.0, 0.0, 0.0]]), temperature)
    with pytest.raises(ValueError, match="temperature must be a number >= 0"):
        sample_from_probs(np.array([0.98, 0.01, 0.01]), temperature)


@pytest.mark.parametrize(
    "probs", [np.array([0.5, -0.1, 0.6]), np.array([0.5, np.nan]), np.zeros(3), np.ones((2, 2))]
)
def test_bad_probabilities_are_named(probs):
    with pytest.raises(ValueError, match="probs"):
        sample_from_probs(probs, 1.0)


def test_numpy_numbers_pass_every_check():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    token = choose_next(logits, np.float64(0.5), top_k=np.int64(2), top_p=np.float32(0.9))
    assert token.item() in (0, 1)
    assert sample_from_probs(torch.tensor([0.0, 1.0, 0.0]), np.float32(1.0)) == 1  # a tensor too


def test_top_p_of_1_keeps_every_token_even_a_tail_below_float32s_rounding():
    logits = torch.tensor([0.0, -20.0, -20.0, -20.0])  # the tail: 2e-9 each, 1 - sum rounds to 0
    assert torch.equal(top_p_filter(logits, 1.0), logits)
    wide = torch.randn(50257, generator=torch.Generator().manual_seed(0)) * 3
    assert torch.isfinite(top_p_filter(wide, 1.0)).all()


@pytest.mark.parametrize("temperature", [1.0, 0])
def test_choose_next_refuses_the_whole_output_of_the_model(temperature):
    # model(idx) gives (B, T, V): torch said "prob_dist must be 1 or 2 dim", and temperature 0
    # silently chose a token for every position, (B, T, 1)
    logits = torch.randn(1, 4, 5, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"logits must be \(B, V\) or \(V,\).*"
                       r"`logits\[:, -1, :\]`.*got shape \(1, 4, 5\)"):  # fmt: skip
        choose_next(logits, temperature)
    assert choose_next(logits[:, -1, :], temperature).shape == (1, 1)
    assert choose_next(logits[0, -1], temperature).shape == (1,)
