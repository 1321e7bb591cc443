"""Notebook 08's exercises: the references agree with the package, typical mistakes are named."""

import math

import pytest
import torch

from lmcourse.exercises import describe, get
from lmcourse.exercises.training import clip_scale, decay_groups, lr_schedule
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.train import TrainConfig, configure_optimizer, lr_at

# --------------------------------------------------------------------------- the package agrees


@pytest.mark.parametrize("case", get("08.lr_schedule").case_list())
def test_lr_schedule_is_lr_at(case):
    max_steps, lr, min_lr, warmup = case
    config = TrainConfig(max_steps=max_steps, learning_rate=lr, min_lr=min_lr,
                         warmup_steps=warmup)  # fmt: skip
    expected = [lr_at(step, config) for step in range(1, max_steps + 1)]
    assert lr_schedule(*case) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_lr_schedule_by_hand():
    rates = lr_schedule(6, 1.0, 0.0, 2)  # warmup 1/2, 1; then cos at progress 1/4, 2/4, 3/4, 1
    c = math.cos(math.pi / 4) / 2  # 0.3536
    assert rates == pytest.approx([0.5, 1.0, 0.5 + c, 0.5, 0.5 - c, 0.0], abs=1e-12)


@pytest.mark.parametrize("case", get("08.clip_scale").case_list())
def test_clip_scale_is_what_clip_grad_norm_multiplies_by(case):
    grad_norm, max_norm = case
    direction = torch.tensor([0.6, 0.8], dtype=torch.float64)  # a unit vector
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    p.grad = direction * grad_norm  # ‖grad‖ = grad_norm
    norm = torch.nn.utils.clip_grad_norm_([p], max_norm)
    assert norm.item() == pytest.approx(grad_norm)
    # torch divides by ‖g‖ + 1e-6, so its factor is a hair smaller than max_norm / ‖g‖
    torch.testing.assert_close(p.grad, direction * grad_norm * clip_scale(*case), rtol=1e-6,
                               atol=1e-12)  # fmt: skip


@pytest.mark.parametrize("config", [
    GPTConfig(65, 32, n_layer=2, n_head=2, n_embd=32, bias=False),
    GPTConfig(65, 64, n_layer=4, n_head=4, n_embd=128, bias=False),
    GPTConfig(50, 16, n_layer=1, n_head=2, n_embd=8, bias=True),
])  # fmt: skip
def test_decay_groups_are_configure_optimizers_groups(config):
    model = GPT(config)
    optimizer = configure_optimizer(model, TrainConfig(weight_decay=0.1))
    sizes = tuple(sum(p.numel() for p in group["params"]) for group in optimizer.param_groups)
    assert [group["weight_decay"] for group in optimizer.param_groups] == [0.1, 0.0]
    assert decay_groups([list(p.shape) for p in model.parameters()]) == sizes


def test_the_gpt_cases_are_the_models_shapes():
    cases = get("08.decay_groups").case_list()
    for (shapes,), config in [(cases[4], GPTConfig(65, 32, 2, 2, 32, bias=False)),
                              (cases[5], GPTConfig(65, 64, 4, 4, 128, bias=False))]:  # fmt: skip
        assert shapes == [list(p.shape) for p in GPT(config).parameters()]


def test_describe_shows_the_hand_checkable_cases():
    assert ">>> lr_schedule(6, 1.0, 0.0, 2)\n    [0.5, 1.0, 0.85355" in describe("08.lr_schedule")
    assert ">>> clip_scale(5.0, 1.0)\n    0.2\n" in describe("08.clip_scale")
    assert "(5152, 128)" in describe("08.decay_groups")


# --------------------------------------------------------------------------- mistakes


def schedule_with(warmup_rate=None, progress=None, floor=None):
    """A learner's schedule; each argument replaces one part of the reference."""

    def schedule(max_steps, lr, min_lr, warmup):
        rates = []
        for step in range(1, max_steps + 1):
            if step <= warmup:
                rate = warmup_rate(step, lr, warmup) if warmup_rate else lr * step / warmup
                rates.append(rate)
                continue
            p = (progress or (lambda s, m, w: (s - w) / max(m - w, 1)))(step, max_steps, warmup)
            low = min_lr if floor is None else floor
            rates.append(low + (lr - low) * 0.5 * (1 + math.cos(math.pi * p)))
        return rates

    return schedule


def test_warmup_from_zero_is_off_by_one(feedback):
    text = feedback("08.lr_schedule", schedule_with(warmup_rate=lambda s, lr, w: lr * (s - 1) / w))
    assert "for inputs 6, 1.0, 0.0, 2: position 0: expected 0.5, got 0.0" in text
    assert "is step 1, in the warmup" in text and "is yours off by one?" in text


def test_warmup_one_step_ahead_is_off_by_one(feedback):
    ahead = schedule_with(warmup_rate=lambda s, lr, w: lr * min(s + 1, w) / w)  # + 1 twice
    text = feedback("08.lr_schedule", ahead)
    assert "position 0: expected 0.5, got 1.0" in text and "is yours off by one?" in text


def test_counting_the_steps_from_zero_gives_one_rate_too_many(feedback):
    def from_zero(max_steps, lr, min_lr, warmup):
        return [0.0] + lr_schedule(max_steps, lr, min_lr, warmup)

    text = feedback("08.lr_schedule", from_zero)
    assert "expected 6 learning rates, got 7" in text
    assert "one learning rate per step: steps 1, 2, ..., max_steps" in text


def test_a_cosine_that_stops_short_of_min_lr_is_named(feedback):
    short = schedule_with(progress=lambda s, m, w: (s - w) / (m - w + 1))
    text = feedback("08.lr_schedule", short)
    assert "the last step must get exactly min_lr = 0.0001" in text
    assert "reaches 1 at step max_steps" in text
    over_all_steps = schedule_with(progress=lambda s, m, w: (s - w) / m)
    assert "the last step must get exactly min_lr" in feedback("08.lr_schedule", over_all_steps)


def test_a_cosine_down_to_zero_is_named(feedback):
    text = feedback("08.lr_schedule", schedule_with(floor=0.0))
    assert "yours decays to 0: the cosine goes from lr down to min_lr" in text


def test_a_wrong_cosine_shape_is_named(feedback):
    half = schedule_with(progress=lambda s, m, w: min(2 * (s - w) / max(m - w, 1), 1))
    text = feedback("08.lr_schedule", half)
    assert "for inputs 6, 1.0, 0.0, 2: position 2: expected 0.85355" in text
    assert "is step 3, after the warmup" in text


def test_a_clip_factor_above_one_is_named(feedback):
    text = feedback("08.clip_scale", lambda grad_norm, max_norm: max_norm / grad_norm)
    assert "for inputs 0.5, 1.0: expected 1.0, got 2.0" in text
    assert "clipping never makes a gradient larger: when ‖g‖ <= max_norm the factor is 1" in text
    assert "ZeroDivisionError" in text  # the gradient of norm 0


def test_an_upside_down_clip_factor_is_named(feedback):
    text = feedback("08.clip_scale", lambda g, m: max(1.0, g / m) if g else 1.0)
    assert "for inputs 5.0, 1.0: expected 0.2, got 5.0 (upside down" in text


def test_returning_the_clipped_norm_is_caught(feedback):
    text = feedback("08.clip_scale", lambda g, m: min(g, m))  # the new norm, not the factor
    assert (
        "for inputs 0.5, 1.0: expected 1.0, got 0.5 (a gradient with ‖g‖ <= max_norm is left"
        in text
    )


def test_decay_group_mistakes(feedback):
    swapped = feedback("08.decay_groups", lambda shapes: decay_groups(shapes)[::-1])
    assert "swapped: first the parameters with decay" in swapped
    tensors = feedback("08.decay_groups",
                       lambda shapes: (sum(len(s) >= 2 for s in shapes),
                                       sum(len(s) < 2 for s in shapes)))  # fmt: skip
    assert "your two numbers add up to 4, but there are 5,280 parameters" in tensors
    strict = feedback("08.decay_groups", lambda shapes: (
        sum(math.prod(s) for s in shapes if len(s) > 2),
        sum(math.prod(s) for s in shapes if len(s) <= 2)))  # fmt: skip
    assert "for input [[65, 32], [32], [96, 32], [96]]: position 0: expected 5152, got 0" in strict
    assert "nothing decayed" in strict


def test_clip_scale_upside_down_then_capped_at_1_is_named(feedback):
    text = feedback("08.clip_scale", lambda grad_norm, max_norm: min(1.0, grad_norm / max_norm))
    assert "this ‖g‖ is above max_norm, so the gradient must shrink" in text
