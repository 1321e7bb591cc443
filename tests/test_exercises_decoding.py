"""Notebook 09's exercises: the references agree with the package, typical mistakes are named."""

import math
import random

import pytest
import torch

from lmcourse.exercises import check, describe, get
from lmcourse.exercises.decoding import apply_temperature, kv_cache_numbers, top_k, top_p
from lmcourse.sampling import choose_next, top_k_filter, top_p_filter

# --------------------------------------------------------------------------- the package agrees


def distributions(seed: int, n: int = 300):
    """Random distributions: some with exact ties (small counts), some with zeros, some peaked."""
    rng = random.Random(seed)
    for i in range(n):
        V = rng.randint(1, 12)
        if i % 3 == 0:  # counts: ties and zeros
            counts = [rng.randint(0, 3) for _ in range(V)]
            counts[rng.randrange(V)] += 1
        else:
            counts = [rng.random() ** rng.choice([1, 3, 8]) + 1e-6 for _ in range(V)]
        total = sum(counts)
        yield [c / total for c in counts]


def log_probs(probs) -> torch.Tensor:
    return torch.tensor(probs, dtype=torch.float64).log()  # log 0 = -inf: impossible


def test_apply_temperature_is_softmax_of_the_logits_over_t():
    rng = random.Random(0)
    for probs in distributions(1):
        T = rng.choice([0.1, 0.5, 0.8, 1.0, 1.3, 2.0, 10.0])
        expected = torch.softmax(log_probs(probs) / T, dim=-1)  # what choose_next samples from
        torch.testing.assert_close(
            torch.tensor(apply_temperature(probs, T), dtype=torch.float64), expected
        )


def test_temperature_zero_is_the_greedy_choice():
    for probs in distributions(2):
        best = choose_next(log_probs(probs)[None], temperature=0).item()
        assert apply_temperature(probs, 0) == [float(i == best) for i in range(len(probs))]


def test_top_k_is_top_k_filter():
    rng = random.Random(3)
    for probs in distributions(4):
        k = rng.randint(1, len(probs) + 2)
        expected = torch.softmax(top_k_filter(log_probs(probs), k), dim=-1)
        torch.testing.assert_close(torch.tensor(top_k(probs, k), dtype=torch.float64), expected)


def borderline(probs, p) -> bool:
    """Whether float32 rounding could move top_p_filter's boundary (it works in float32)."""
    distinct = sorted(set(probs), reverse=True)
    close_values = any(a - b < 1e-6 for a, b in zip(distinct, distinct[1:]))
    mass = 0.0
    for q in sorted(probs, reverse=True):
        mass += q
        if abs(mass - p) < 1e-5:
            return True
    return close_values


def test_top_p_is_top_p_filter():
    rng, compared = random.Random(5), 0
    for probs in distributions(6, n=500):
        p = rng.choice([0.1, 0.3, 0.5, 0.75, 0.9, 0.95, 1.0, rng.random() + 1e-3])
        if borderline(probs, p):
            continue
        expected = torch.softmax(top_p_filter(log_probs(probs), p), dim=-1)
        torch.testing.assert_close(torch.tensor(top_p(probs, p), dtype=torch.float64), expected)
        compared += 1
    assert compared > 300


def test_hand_checkable_examples():
    assert apply_temperature([0.2, 0.8], 0.5) == pytest.approx([1 / 17, 16 / 17])  # 0.04, 0.64
    assert apply_temperature([0.6, 0.4, 0.0], 0.5)[2] == 0.0  # impossible stays impossible
    assert top_k([0.1, 0.4, 0.2, 0.3], 2) == pytest.approx([0, 4 / 7, 0, 3 / 7])
    assert top_k([0.2, 0.4, 0.2, 0.2], 2) == [0.2, 0.4, 0.2, 0.2]  # the ties stay
    assert top_p([0.2, 0.5, 0.3], 0.7) == pytest.approx([0, 0.625, 0.375])  # 0.5 < 0.7 <= 0.8
    assert top_p([0.5, 0.25, 0.15, 0.1], 0.75) == pytest.approx([2 / 3, 1 / 3, 0, 0])
    assert top_p([0.05, 0.9, 0.05], 0.5) == [0.0, 1.0, 0.0]
    assert top_p([0.4, 0.3, 0.3], 0.5) == pytest.approx([0.4, 0.3, 0.3])  # a tie at the edge


def test_kv_cache_numbers_is_what_generation_caches():
    from lmcourse.attention import KVCache
    from lmcourse.gpt import GPT, GPTConfig

    config = GPTConfig(vocab_size=11, block_size=16, n_layer=3, n_head=2, n_embd=8)
    model = GPT(config, generator=torch.Generator().manual_seed(0)).eval()
    cache = KVCache(config.n_layer)
    with torch.no_grad():
        model(torch.zeros(1, 5, dtype=torch.long), cache=cache)
        model(torch.zeros(1, 1, dtype=torch.long), cache=cache)  # one more token
    stored = sum(t.numel() for t in cache.keys + cache.values)
    assert stored == kv_cache_numbers(3, 2, 8, 6) == 2 * 3 * 6 * 8


# --------------------------------------------------------------------------- mistakes


def test_dividing_the_probabilities_by_t(feedback):
    text = feedback("09.apply_temperature", lambda probs, T: [q / T for q in probs])
    assert "you divided the probabilities by T" in text
    assert "for inputs [0.2, 0.8], 0.5" in text  # the hand-checkable case first


def test_dividing_by_t_then_renormalising_changes_nothing(feedback):
    def divided(probs, T):
        if T == 0:
            return [float(q == max(probs)) for q in probs]
        return [(q / T) / sum(x / T for x in probs) for q in probs]

    assert "your distribution did not change" in feedback("09.apply_temperature", divided)


def test_the_power_upside_down(feedback):
    def power_t(probs, T):
        if T == 0:
            return [float(q == max(probs)) for q in probs]
        weights = [q**T for q in probs]
        return [w / sum(weights) for w in weights]

    assert "the wrong way round" in feedback("09.apply_temperature", power_t)


def test_forgetting_to_renormalise_the_tempered_distribution(feedback):
    def unnormalised(probs, T):
        if T == 0:
            return [float(q == max(probs)) for q in probs]
        return [q ** (1 / T) for q in probs]

    text = feedback("09.apply_temperature", unnormalised)
    assert "the right shape, but yours sums to 0.68: renormalise" in text


def test_temperature_zero_not_greedy_and_log_of_zero(feedback):
    def no_greedy(probs, T):
        return probs if T == 0 else apply_temperature(probs, T)

    text = feedback("09.apply_temperature", no_greedy)
    assert "at T = 0 all the probability goes to the most likely token" in text

    def logs(probs, T):
        weights = [math.exp(math.log(q) / T) for q in probs]
        return [w / sum(weights) for w in weights]

    text = feedback("09.apply_temperature", logs)
    assert "ZeroDivisionError" in text and "ValueError: math domain error" in text


def test_top_k_mistakes(feedback):
    def strict(probs, k):  # exactly k tokens: which of the tied ones depends on their order
        order = sorted(range(len(probs)), key=lambda i: -probs[i])[:k]
        kept = [q if i in order else 0.0 for i, q in enumerate(probs)]
        return [q / sum(kept) for q in kept]

    assert "you dropped a token tied with the last one you kept" in feedback("09.top_k", strict)

    def unnormalised(probs, k):
        kth = sorted(probs, reverse=True)[min(k, len(probs)) - 1]
        return [q if q >= kth else 0.0 for q in probs]

    text = feedback("09.top_k", unnormalised)
    assert "for inputs [0.1, 0.4, 0.2, 0.3], 2" in text
    assert "the right shape, but yours sums to 0.7: renormalise" in text

    def one_less(probs, k):
        return top_k(probs, k - 1) if k > 1 else top_k(probs, k)

    assert "with k = 2 you kept 1 tokens, expected 2 here: off by one?" in feedback(
        "09.top_k", one_less
    )

    def smallest(probs, k):
        kth = sorted(probs)[min(k, len(probs)) - 1]
        kept = [q if q <= kth else 0.0 for q in probs]
        return [q / sum(kept) for q in kept]

    assert "keep the most likely tokens" in feedback("09.top_k", smallest)

    def sorted_output(probs, k):
        return sorted(top_k(probs, k), reverse=True)

    assert "keep every token at its own position" in feedback("09.top_k", sorted_output)


def nucleus(keep, ties=True, renormalise=True):
    """The learner's top-p: ``keep(mass_before, mass_after, p)`` decides each sorted token."""

    def top_p_attempt(probs, p):
        order = sorted(range(len(probs)), key=lambda i: -probs[i])
        kept, mass = set(), 0.0
        for i in order:
            if not keep(mass, mass + probs[i], p):
                break
            kept.add(i)
            mass += probs[i]
        if ties and kept:
            kept |= {i for i, q in enumerate(probs) if q == min(probs[j] for j in kept)}
        values = [q if i in kept else 0.0 for i, q in enumerate(probs)]
        total = sum(values)
        return [v / total for v in values] if renormalise and total else values

    return top_p_attempt


def test_the_reference_is_the_strict_mass_before_rule():
    assert check("09.top_p", nucleus(lambda before, after, p: before < p))


def test_non_strict_comparison_keeps_one_token_too_many(feedback):
    text = feedback("09.top_p", nucleus(lambda before, after, p: before <= p))
    assert "for inputs [0.5, 0.25, 0.15, 0.1], 0.75" in text
    assert "but the 2 most likely already reach p = 0.75" in text and "< or <=?" in text


def test_stopping_before_the_token_that_crosses_p(feedback):
    text = feedback("09.top_p", nucleus(lambda before, after, p: after <= p))
    assert "the tokens you kept have mass 0.5, less than p = 0.7" in text
    text = feedback("09.top_p", nucleus(lambda before, after, p: after < p))
    assert "you kept no token at all: the most likely token is always kept" in text


def test_top_p_without_ties_or_renormalising(feedback):
    text = feedback("09.top_p", nucleus(lambda before, after, p: before < p, ties=False))
    assert "for inputs [0.4, 0.3, 0.3], 0.5" in text and "tied with the last one you kept" in text
    text = feedback("09.top_p", nucleus(lambda before, after, p: before < p, renormalise=False))
    assert "the right shape, but yours sums to 0.8: renormalise" in text


def test_kv_cache_mistakes(feedback):
    text = feedback("09.kv_cache_numbers", lambda L, H, C, T: L * T * C)
    assert "for inputs 4, 4, 192, 128: expected 196608, got 98304" in text
    assert "two tensors in each layer: the keys and the values" in text
    text = feedback("09.kv_cache_numbers", lambda L, H, C, T: 2 * L * T * C * H)
    assert "a head keeps n_embd / n_head numbers per token" in text
    assert "every layer has its own" in feedback(
        "09.kv_cache_numbers", lambda L, H, C, T: 2 * T * C
    )
    assert "not bytes" in feedback("09.kv_cache_numbers", lambda L, H, C, T: 8 * L * T * C)


def test_feedback_never_shows_the_solution_code():
    import inspect

    attempts = {
        "09.apply_temperature": lambda probs, T: [q / T for q in probs],
        "09.top_k": lambda probs, k: probs,
        "09.top_p": nucleus(lambda before, after, p: before <= p),
        "09.kv_cache_numbers": lambda L, H, C, T: L * T * C,
    }
    for name, attempt in attempts.items():
        source = inspect.getsource(get(name).solution).split('"""')[-1]  # the body, no docstring
        lines = [line.strip() for line in source.splitlines() if len(line.strip()) > 15]
        shown = repr(check(name, attempt)) + describe(name)
        assert lines and not any(line in shown for line in lines), name


def test_float32_filters_pass_without_a_false_hint():
    # a learner's top-k and top-p in torch's default float32: right to 7 digits, so right
    def top_k_float32(probs, k):
        p = torch.tensor(probs)
        kept = torch.where(p >= torch.topk(p, min(k, len(probs))).values[-1], p, 0.0)
        return (kept / kept.sum()).tolist()

    assert check("09.top_k", top_k_float32)

    def temperature_float32(probs, T):
        if T == 0:
            return apply_temperature(probs, T)
        return torch.softmax(torch.tensor(probs).log() / T, 0).tolist()

    assert check("09.apply_temperature", temperature_float32)


def test_the_right_cache_size_as_a_float_is_asked_for_as_an_int(feedback):
    # n_embd / n_head, as the task writes it, is a float in Python
    text = feedback("09.kv_cache_numbers",
                    lambda L, H, C, T: 2 * L * H * (C / H) * T)  # fmt: skip
    assert "got the float" in text and "(the right number: return it as an int)" in text
