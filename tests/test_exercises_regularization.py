"""Notebook 13's exercises: the references agree with ``lmcourse.regularization`` and with
``torch.optim.AdamW``, a learner's right answers pass, typical mistakes are named, and no
feedback shows the answer."""

import math
import random

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from lmcourse.exercises import check, describe, get
from lmcourse.exercises.regularization import (
    _tiny_gpt,
    early_stop,
    shrink_factor,
    weight_penalty,
)
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.mlp import MLPLM, MLPConfig
from lmcourse.presets import PRESETS
from lmcourse.regularization import EarlyStopping
from lmcourse.regularization import weight_penalty as package_weight_penalty

NOTEBOOK_13 = ["13.weight_penalty", "13.early_stop", "13.shrink_factor"]

#: The tiny GPT whose parameters ``_tiny_gpt`` makes up: the same names and shapes.
TINY = GPTConfig(vocab_size=6, block_size=3, n_layer=1, n_head=2, n_embd=4)


def as_lists(model: nn.Module) -> dict[str, list]:
    """What the exercise gets: each parameter's name and values, matrices as lists of rows."""
    return {name: p.tolist() for name, p in model.named_parameters()}


class Parameters(nn.Module):
    """A module whose parameters are ``params``'s lists (dots in names become underscores)."""

    def __init__(self, params: dict[str, list]) -> None:
        super().__init__()
        self.values = nn.ParameterDict(
            {
                name.replace(".", "_"): nn.Parameter(torch.tensor(value, dtype=torch.float64))
                for name, value in params.items()
            }  # fmt: skip
        )


def test_the_cases_numbers_are_the_courses():
    model_shapes = {name: tuple(p.shape) for name, p in GPT(TINY).named_parameters()}
    case_shapes = {name: np.shape(value) for name, value in _tiny_gpt(random.Random(0)).items()}
    assert case_shapes == model_shapes
    presets = [(p.train.max_steps, p.train.learning_rate, p.train.weight_decay) for p in
               (PRESETS["cpu"], PRESETS["gpu"], PRESETS["ship"])]  # fmt: skip
    assert get("13.shrink_factor").case_list()[:3] == presets


# --------------------------------------------------------------------------- weight_penalty


def test_weight_penalty_by_hand():
    layer = {"weight": [[1.0, -2.0], [0.0, 3.0]], "bias": [5.0, -5.0]}
    assert weight_penalty(layer, 0.5, 0.25) == 0.5 * 6 + 0.25 / 2 * 14 == 4.75
    assert weight_penalty(layer, 0.0, 0.0) == 0.0
    assert weight_penalty({"ln.weight": [2.0, 2.0], "ln.bias": [1.0, 1.0]}, 1.0, 1.0) == 0.0
    assert weight_penalty({"w": [[-3.0]], "b": [-3.0]}, 0.1, 0.1) == pytest.approx(0.3 + 0.45)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("l1", "l2"), [(0.3, 0.0), (0.0, 0.7), (1e-3, 1e-2), (0.0, 0.0)])
def test_weight_penalty_is_the_packages_on_gpts(seed, l1, l2):
    bias = seed % 2 == 0  # GPTs with and without biases
    config = GPTConfig(vocab_size=11, block_size=5, n_layer=2, n_head=2, n_embd=8, bias=bias)
    model = GPT(config, generator=torch.Generator().manual_seed(seed)).double()
    expected = package_weight_penalty(model, l1=l1, l2=l2).item()
    assert weight_penalty(as_lists(model), l1, l2) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    model = model.float()  # the package sums in float32: the same within float32 rounding
    expected = package_weight_penalty(model, l1=l1, l2=l2).item()
    assert weight_penalty(as_lists(model), l1, l2) == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_weight_penalty_is_the_packages_on_an_mlp():
    config = MLPConfig(vocab_size=7, context=3, embedding_dim=4, hidden_size=6)
    model = MLPLM(config, generator=torch.Generator().manual_seed(13)).double()
    expected = package_weight_penalty(model, l1=0.02, l2=0.05).item()
    assert weight_penalty(as_lists(model), 0.02, 0.05) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("case", get("13.weight_penalty").case_list())
def test_weight_penalty_cases_are_the_packages(case):
    params, l1, l2 = case
    if not any(np.ndim(value) == 2 for value in params.values()):
        assert weight_penalty(params, l1, l2) == 0.0  # the package refuses: nothing to penalise
        with pytest.raises(ValueError, match="no weight matrices"):
            package_weight_penalty(Parameters(params), l1=l1, l2=l2)
        return
    expected = package_weight_penalty(Parameters(params), l1=l1, l2=l2).item()
    assert weight_penalty(params, l1, l2) == pytest.approx(expected, rel=1e-12, abs=1e-15)


# --------------------------------------------------------------------------- early_stop


def early_stopping(val_losses, patience, min_delta):
    """(best, stop) as ``EarlyStopping.update`` decides them, one evaluation after another."""
    stopping, model, stop = EarlyStopping(patience, min_delta), nn.Linear(1, 1), None
    for i, loss in enumerate(val_losses):
        if stopping.update(i, loss, model) and stop is None:
            stop = i
    assert stopping.stopped_step == stop  # a stop is final: the later updates change nothing
    return stopping.best_step, stop


def test_early_stop_by_hand():
    assert early_stop([2.0, 1.5, 1.6, 1.5, 1.7, 1.2], 3, 0.0) == (1, 4)  # a tie: no improvement
    assert early_stop([3.0, 2.5, 2.4, 2.45, 2.3], 2, 0.0) == (4, None)  # never 2 bad in a row
    assert early_stop([1.0, 0.995, 0.992, 0.991], 3, 0.01) == (0, 3)  # lower, not by 0.01
    assert early_stop([5.0, 4.0, 4.5, 3.0], 1, 0.0) == (1, 2)
    assert early_stop([2.3], 1, 0.0) == (0, None)


@pytest.mark.parametrize("case", get("13.early_stop").case_list())
def test_early_stop_cases_are_early_stoppings(case):
    assert early_stop(*case) == early_stopping(*case)


@given(
    st.lists(st.sampled_from([1.0, 1.05, 1.1, 1.2, 0.9, 0.95, 0.8, 1.5]), min_size=1, max_size=25),
    st.integers(1, 5),
    st.sampled_from([0.0, 0.05, 0.1, 0.25]),
)
def test_early_stop_is_early_stopping_on_any_losses(val_losses, patience, min_delta):
    # few distinct values: ties, and differences equal to min_delta, come often
    assert early_stop(val_losses, patience, min_delta) == early_stopping(
        val_losses, patience, min_delta
    )


@pytest.mark.parametrize("seed", range(100))
def test_early_stop_is_early_stopping_on_noisy_curves(seed):
    rng = random.Random(seed)
    n = rng.randrange(1, 60)
    val_losses = [round(2 * math.exp(-t / 10) + 0.01 * t + rng.gauss(0, 0.05), 2) for t in range(n)]
    patience, min_delta = rng.randint(1, 6), rng.choice([0.0, 0.01, 0.02, 0.05])
    assert early_stop(val_losses, patience, min_delta) == early_stopping(
        val_losses, patience, min_delta
    )


# --------------------------------------------------------------------------- shrink_factor


def adamw_factor(steps, lr, weight_decay, fused):
    """What ``torch.optim.AdamW`` multiplies float64 weights by in ``steps`` zero-gradient steps."""
    start = torch.tensor([1.0, -0.5, 3.0], dtype=torch.float64)
    p = nn.Parameter(start.clone())
    optimizer = torch.optim.AdamW([p], lr=lr, weight_decay=weight_decay, fused=fused)
    for _ in range(steps):
        p.grad = torch.zeros_like(p)
        optimizer.step()
    factors = (p.detach() / start).tolist()
    assert max(factors) - min(factors) <= 1e-12 * max(factors)  # every weight alike
    return factors[0]


def test_shrink_factor_by_hand():
    assert shrink_factor(1, 0.1, 0.5) == pytest.approx(0.95)
    assert shrink_factor(10, 0.5, 1.0) == 0.5**10
    assert shrink_factor(0, 1e-3, 0.1) == 1.0 == shrink_factor(1000, 1e-3, 0.0)
    # the cpu preset at a constant lr: about e^(−0.2), but not within 1e-6 of it
    assert shrink_factor(2000, 1e-3, 0.1) == pytest.approx(math.exp(-0.2), rel=1e-4)
    assert shrink_factor(2000, 1e-3, 0.1) != pytest.approx(math.exp(-0.2), rel=1e-6)


@pytest.mark.parametrize("fused", [False, None, True])  # None: torch's default implementation
@pytest.mark.parametrize("case", [c for c in get("13.shrink_factor").case_list() if c[0] <= 5000])
def test_shrink_factor_is_what_adamw_does_with_a_zero_gradient(case, fused):
    assert shrink_factor(*case) == pytest.approx(adamw_factor(*case, fused), rel=1e-9)


# --------------------------------------------------------------------------- right answers


def test_a_learners_right_answers_pass():
    def learner_penalty(params, l1, l2):
        total = 0.0
        for values in params.values():
            w = np.array(values)
            if w.ndim == 2:
                total += l1 * np.abs(w).sum() + 0.5 * l2 * np.square(w).sum()
        return total

    def learner_penalty_float32(params, l1, l2):
        matrices = [
            np.array(v, dtype=np.float32).ravel() for v in params.values() if np.ndim(v) > 1
        ]
        w = np.concatenate(matrices) if matrices else np.zeros(0, dtype=np.float32)
        return float(l1 * np.linalg.norm(w, 1) + l2 / 2 * np.linalg.norm(w) ** 2)

    def learner_stop(val_losses, patience, min_delta):  # evaluation 0 always improves on inf
        losses, best, since = np.array(val_losses), 0, np.int64(0)
        for i in range(1, len(losses)):
            if losses[i] < losses[best] - min_delta:
                best, since = i, np.int64(0)
            else:
                since += 1
            if since == patience:
                return [np.int64(best), i]  # a list, numpy ints
        return [best, None]

    def learner_shrink(steps, lr, weight_decay):
        w = 1.0
        for _ in range(steps):
            w -= lr * weight_decay * w
        return w

    assert check("13.weight_penalty", learner_penalty)
    assert check("13.weight_penalty", learner_penalty_float32)
    assert check("13.early_stop", learner_stop)
    assert check("13.shrink_factor", learner_shrink)
    assert check("13.shrink_factor", lambda s, lr, wd: math.exp(s * math.log1p(-lr * wd)))
    assert check("13.shrink_factor", lambda s, lr, wd: np.prod(np.full(s, 1 - lr * wd)))


# --------------------------------------------------------------------------- typical mistakes


def penalty(keep=lambda name, w: w.ndim == 2, l1_term=np.abs, l2_term=np.square, half=0.5,
            total=np.sum):  # fmt: skip
    def weight_penalty(params, l1, l2):
        chosen = [np.array(w) for name, w in params.items() if keep(name, np.array(w))]
        return float(sum(l1 * total(l1_term(w)) + half * l2 * total(l2_term(w)) for w in chosen))

    return weight_penalty


def l2_norm(params, l1, l2):
    matrices = [np.array(w) for w in params.values() if np.ndim(w) == 2]
    weights = np.concatenate([w.ravel() for w in matrices]) if matrices else np.zeros(0)
    return l1 * np.abs(weights).sum() + l2 / 2 * np.sqrt(np.square(weights).sum())


def mean_of_all(params, l1, l2):
    weights = [w for v in params.values() if np.ndim(v) == 2 for row in v for w in row]
    if not weights:
        return 0.0
    return sum(l1 * abs(w) + l2 / 2 * w * w for w in weights) / len(weights)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (penalty(keep=lambda name, w: True), "only the matrices are penalised, not the 1-D"),
        (penalty(keep=lambda name, w: name.endswith("weight")), "choose by shape, not by name"),
        (penalty(half=1.0), "the L2 term is l2/2 · Σw²: keep its 1/2"),
        (penalty(l1_term=np.square, l2_term=np.abs), "L1 and L2 are swapped"),
        (penalty(l1_term=np.square), "L1 adds absolute values |w|, not squares"),
        (penalty(l2_term=np.abs), "L2 adds squares w², not absolute values"),
        (l2_norm, "not their square root (the norm ‖w‖)"),
        (penalty(total=np.mean), "do not average them"),
        (mean_of_all, "do not average them"),
        (lambda params, l1, l2: 1.0, "both over the weights of the 2-D lists only"),
    ],
)
def test_weight_penalty_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("13.weight_penalty", wrong)


def test_weight_penalty_feedback_shows_the_case(feedback):
    text = feedback("13.weight_penalty", penalty(half=1.0))
    assert "'bias': [5.0, -5.0]}, 0.5, 0.25: expected 4.75, got 6.5 (the L2 term is l2/2" in text
    # a dict of biases and gains alone: nothing to penalise (beyond the 3 failures shown)
    params = {"ln_f.weight": [1.0, 0.9, 1.1], "ln_f.bias": [0.1, -0.2, 0.0]}
    wrong = penalty(keep=lambda name, w: True)(params, 0.5, 0.5)
    message = get("13.weight_penalty").compare(0.0, wrong)
    assert message.startswith("expected 0.0, got 2.4175") and "(only the matrices are" in message


def stopping(patience_shift=0, tie=False, reset=True, previous=False, delta=True, best="best"):
    """A learner's early stopping with a choice of slips."""

    def early_stop(val_losses, patience, min_delta):
        min_delta = min_delta if delta else 0.0
        best_i, bar, bad, stop = 0, math.inf, 0, None
        for i, loss in enumerate(val_losses):
            if loss < bar - min_delta or (tie and loss == bar - min_delta):
                best_i, bar, bad = i, loss, 0 if reset else bad
            else:
                bad += 1
                bar = loss if previous else bar
            if bad >= patience + patience_shift:
                stop = i
                break
        seen = val_losses[: len(val_losses) if stop is None else stop + 1]
        chosen = {
            "best": best_i,
            "last": len(seen) - 1,
            "lowest seen": int(np.argmin(seen)),
            "lowest ever": int(np.argmin(val_losses)),
        }
        return chosen[best], stop

    return early_stop


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (stopping(patience_shift=1), "not at the one after it"),
        (stopping(patience_shift=-1), "not `patience` − 1"),
        (stopping(reset=False), "an improvement starts the count again from 0"),
        (stopping(tie=True), "a loss equal to the best (minus min_delta) is no improvement"),
        (stopping(previous=True), "not with the loss just before it"),
        (stopping(delta=False), "an improvement must beat the best by more than min_delta"),
        (stopping(best="last"), "return the best evaluation, whose weights are restored"),
        (stopping(best="lowest ever"), "the evaluations after the stop never happen"),
        (stopping(best="lowest seen"), "a loss below the best by min_delta or less"),
        (lambda *args: early_stop(*args)[::-1], "return (best, stop), in that order"),
        (lambda *args: (early_stop(*args)[0], early_stop(*args)[1] or -1), "never stops here"),
        (lambda *args: (early_stop(*args)[0], 0), "keeping the best loss so far, where it was"),
    ],
)
def test_early_stop_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("13.early_stop", wrong)


def test_early_stop_feedback_shows_the_case_and_every_slip_that_explains_it(feedback):
    # on the first case, a tie taken for an improvement and stopping one late give the same
    text = feedback("13.early_stop", stopping(tie=True))
    first = "for inputs [2.0, 1.5, 1.6, 1.5, 1.7, 1.2], 3, 0.0: expected (1, 4), got (5, None)"
    assert first + " (stop at the very evaluation" in text
    assert "not at the one after it; or a loss equal to the best (minus min_delta)" in text
    # ties alone: only the tie explains it
    got = stopping(tie=True)([2.0, 1.5, 1.5, 1.5, 1.5, 1.6, 1.3], 2, 0.0)
    assert get("13.early_stop").compare((1, 3), got) == (
        "expected (1, 3), got (6, None) (a loss equal to the best (minus min_delta) is no "
        "improvement: it must be below it)"
    )


def shrink(per_step=lambda lr, wd: 1 - lr * wd, times=lambda steps: steps):
    return lambda steps, lr, wd: per_step(lr, wd) ** times(steps)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (
            shrink(per_step=lambda lr, wd: 1 - wd),
            "decoupled weight decay is scaled by the learning",
        ),
        (lambda steps, lr, wd: math.exp(-lr * wd * steps), "is only an approximation"),
        (lambda steps, lr, wd: 1 - steps * lr * wd, "the steps' factors multiply, they do not add"),
        (lambda steps, lr, wd: 1 - (1 - lr * wd) ** steps, "that is the share decay removed"),
        (shrink(times=lambda steps: 1), "that is the factor of one step"),
        (shrink(times=lambda steps: steps - 1), "`steps` times, no more, no less"),
        (shrink(times=lambda steps: steps + 1), "`steps` times, no more, no less"),
        (shrink(per_step=lambda lr, wd: 1 + lr * wd), "each step's factor is below 1"),
        (lambda steps, lr, wd: 0.5, "then apply it once per step"),
    ],
)
def test_shrink_factor_slips_get_their_hint(feedback, wrong, hint):
    assert hint in feedback("13.shrink_factor", wrong)


def test_the_exponential_passes_only_where_it_is_within_a_millionth(feedback):
    text = feedback("13.shrink_factor", lambda steps, lr, wd: math.exp(-lr * wd * steps))
    assert text.startswith("✗ 13.shrink_factor: 9 of 12 cases fail.")  # 1 step or lr·wd tiny
    assert "for inputs 2000, 0.001, 0.1: expected 0.8187225652655495, got 0.818730753" in text
    assert "e^(−lr·weight_decay·steps) is only an approximation" in text


def test_a_tiny_factor_must_be_right_too(feedback):
    # GPT-2's 600,000 steps leave 2.3e-16 of a weight: no absolute tolerance lets 0 pass
    text = feedback("13.shrink_factor", lambda steps, lr, wd: round(shrink()(steps, lr, wd), 9))
    assert "for inputs 600000, 0.0006, 0.1: expected 2.317018997816965e-16, got 0.0" in text


# --------------------------------------------------------------------------- bad answers


def test_bad_early_stop_answers_get_clear_feedback(feedback):
    name = "13.early_stop"
    text = feedback(name, lambda *a: None if early_stop(*a)[1] is None else early_stop(*a))
    assert "your function returned None (is a `return` missing?)" in text
    text = feedback(name, lambda *a: early_stop(*a)[1])
    assert "(return two things, (best, stop): the evaluation to restore" in text
    text = feedback(name, lambda *a: tuple(float(i) for i in early_stop(*a) if i is not None) * 2)
    assert "(both items are indexes of evaluations, ints, or None" in text
    assert "expected 2 items, got 3" in feedback(name, lambda *a: (*early_stop(*a), True))
    assert "expected a tuple, got a str" in feedback(name, lambda *a: str(early_stop(*a)))
    assert "got True (both items are indexes" in feedback(name, lambda *a: (True, None))


# --------------------------------------------------------------------------- every exercise


def test_describe_shows_the_signatures_and_a_first_case():
    signatures = [
        "weight_penalty(params: dict[str, list], l1: float, l2: float) -> float",
        "early_stop(val_losses: list[float], patience: int, min_delta: float) "
        "-> tuple[int, int | None]",
        "shrink_factor(steps: int, lr: float, weight_decay: float) -> float",
    ]
    for name, signature in zip(NOTEBOOK_13, signatures):
        assert describe(name).startswith(f"{name}: write {signature}\n")
    assert ">>> early_stop([2.0, 1.5, 1.6, 1.5, 1.7, 1.2], 3, 0.0)\n    (1, 4)" in describe(
        "13.early_stop"
    )
    assert ">>> shrink_factor(2000, 0.001, 0.1)\n    0.818722565" in describe("13.shrink_factor")


def test_feedback_never_shows_the_solution_code(solution_hidden):
    attempts = {
        "13.weight_penalty": [penalty(half=1.0), penalty(keep=lambda n, w: True), lambda *a: 42.0],
        "13.early_stop": [stopping(patience_shift=1), stopping(best="last"), lambda *a: (0, 0)],
        "13.shrink_factor": [shrink(times=lambda s: 1), lambda s, lr, wd: 1 - s * lr * wd],
    }
    for name, wrong in attempts.items():
        solution_hidden(name, wrong)
