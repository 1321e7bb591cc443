"""Exercises of notebook 13, "Overfitting and regularisation".

Importing this module registers ``13.weight_penalty``, ``13.early_stop`` and
``13.shrink_factor``: the L1 and L2 penalty added to the loss, the two indexes early stopping
decides (the evaluation to go back to and the one that stops training), and how much AdamW's
decoupled weight decay alone shrinks a weight. The reference solutions work on plain Python
numbers and lists, so importing them imports neither torch nor ``lmcourse.regularization``
(the tests compare them with ``lmcourse.regularization`` and ``torch.optim.AdamW``).
"""

import functools
import math
import numbers
import random
from typing import Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import _kind, _short, describe_difference
from lmcourse.exercises.slips import close, number_compare, slip_hint

# --------------------------------------------------------------------------- reference solutions


def weight_penalty(params: dict[str, list], l1: float, l2: float) -> float:
    """``l1 · Σ|w| + l2/2 · Σw²`` over the matrices of ``params``: the penalty added to the loss.

    ``params`` maps each parameter's name to its values: a matrix (weights, embeddings) is a list
    of rows and is penalised; a 1-D list (a bias, a LayerNorm gain) is not. Here
    Σ|w| = 1 + 2 + 0 + 3 = 6 and Σw² = 14, so 0.5 · 6 + 0.25 / 2 · 14 = 3 + 1.75::

        >>> weight_penalty({"weight": [[1.0, -2.0], [0.0, 3.0]], "bias": [5.0, -5.0]}, 0.5, 0.25)
        4.75
    """
    weights = [w for value in params.values() if value and isinstance(value[0], list)
               for row in value for w in row]  # fmt: skip
    return l1 * sum(abs(w) for w in weights) + l2 / 2 * sum(w * w for w in weights)


def early_stop(val_losses: list[float], patience: int, min_delta: float) -> tuple[int, int | None]:
    """(the evaluation whose weights to restore, the evaluation that stops training or None).

    An evaluation improves when its loss is below the best so far minus ``min_delta``; training
    stops at the evaluation where ``patience`` evaluations in a row have not improved, and goes
    back to the best one before it. As ``lmcourse.regularization.EarlyStopping`` decides. Here
    1.6, 1.5 (a tie is no improvement) and 1.7 fail in a row, so training stops at index 4::

        >>> early_stop([2.0, 1.5, 1.6, 1.5, 1.7, 1.2], 3, 0.0)
        (1, 4)
    """
    best, best_loss, bad_in_a_row = 0, math.inf, 0
    for i, loss in enumerate(val_losses):
        if loss < best_loss - min_delta:
            best, best_loss, bad_in_a_row = i, loss, 0
        else:
            bad_in_a_row += 1
        if bad_in_a_row >= patience:
            return best, i
    return best, None


def shrink_factor(steps: int, lr: float, weight_decay: float) -> float:
    """What AdamW's decoupled weight decay alone multiplies a weight by in ``steps`` steps.

    Each step, before Adam's update, ``w ← w · (1 − lr · weight_decay)``; with a zero gradient
    that is all that happens, so after ``steps`` steps at a constant ``lr`` the weight is
    ``(1 − lr · weight_decay)^steps`` times what it was. One step of 0.1 · 0.5 removes 5%::

        >>> shrink_factor(1, 0.1, 0.5)
        0.95
    """
    return (1 - lr * weight_decay) ** steps


# --------------------------------------------------------------------------- feedback
# ``check`` calls ``compare(expected, got)``; the hints also need the case's inputs, so each
# compare tries the cases whose reference output is ``expected`` and names the classic slips
# that return what the learner's function returned (all of them, when two slips coincide).


def _sums(values: list[list]) -> tuple[float, float, int]:
    """Σ|w|, Σw² and the number of weights (at least 1) of ``values``, 1-D or 2-D lists."""
    weights: list[float] = []
    for v in values:
        weights += [w for row in v for w in row] if v and isinstance(v[0], list) else list(v)
    return sum(abs(w) for w in weights), sum(w * w for w in weights), max(len(weights), 1)


def _penalty_slips(params: dict, l1: float, l2: float) -> list[tuple[str, float]]:
    matrices = [value for value in params.values() if value and isinstance(value[0], list)]
    a, s, n = _sums(matrices)  # Σ|w|, Σw², weights: of the matrices
    a_all, s_all, _ = _sums(list(params.values()))
    a_named, s_named, _ = _sums([v for name, v in params.items() if name.endswith("weight")])
    means = [_sums([m]) for m in matrices]
    by_name = "choose by shape, not by name: a LayerNorm gain is called weight too, but is 1-D"
    norm = "L2 adds the squares themselves, Σw², not their square root (the norm ‖w‖)"
    mean = "add up the terms of all the weights, do not average them"
    return [
        ("only the matrices are penalised, not the 1-D lists", l1 * a_all + l2 / 2 * s_all),
        (by_name, l1 * a_named + l2 / 2 * s_named),
        ("the L2 term is l2/2 · Σw²: keep its 1/2", l1 * a + l2 * s),
        ("L1 and L2 are swapped: l1 goes with |w|, l2 with w²", l1 * s + l2 / 2 * a),
        ("L1 adds absolute values |w|, not squares", l1 * s + l2 / 2 * s),
        ("L2 adds squares w², not absolute values", l1 * a + l2 / 2 * a),
        (norm, l1 * a + l2 / 2 * math.sqrt(s)),
        (norm, l1 * a + l2 * math.sqrt(s)),
        (mean, (l1 * a + l2 / 2 * s) / n),
        (mean, sum(l1 * ma / mn + l2 / 2 * ms / mn for ma, ms, mn in means)),
    ]


def _stopping(losses: list[float], patience: int, min_delta: float, tie: bool = False,
              reset: bool = True, previous: bool = False) -> tuple[int, int | None]:  # fmt: skip
    """Early stopping with a choice of slips: a ``tie`` that improves, a count never ``reset``,
    each loss compared with the ``previous`` one instead of with the best."""
    best, best_loss, bad = 0, math.inf, 0
    for i, loss in enumerate(losses):
        if loss < best_loss - min_delta or (tie and loss == best_loss - min_delta):
            best, best_loss, bad = i, loss, 0 if reset else bad
        else:
            bad += 1
            best_loss = loss if previous else best_loss
        if bad >= patience:
            return best, i
    return best, None


def _stop_slips(losses: list[float], patience: int, min_delta: float) -> list[tuple[str, Any]]:
    best, stop = early_stop(losses, patience, min_delta)
    seen = losses if stop is None else losses[: stop + 1]
    lowest, lowest_ever = (min(range(len(x)), key=x.__getitem__) for x in (seen, losses))
    never = "training never stops here: the second item is then None, not an index"
    ends = (-1, len(losses) - 1, len(losses)) if stop is None else (stop,)  # not a slip: right
    return [
        (
            "stop at the very evaluation that makes `patience` in a row without improvement, "
            "not at the one after it",
            _stopping(losses, patience + 1, min_delta),
        ),
        (
            "stop once `patience` evaluations in a row have not improved, not `patience` − 1",
            _stopping(losses, patience - 1, min_delta),
        ),
        (
            "count the evaluations *in a row* without improvement: an improvement starts the "
            "count again from 0",
            _stopping(losses, patience, min_delta, reset=False),
        ),
        (
            "a loss equal to the best (minus min_delta) is no improvement: it must be below it",
            _stopping(losses, patience, min_delta, tie=True),
        ),
        (
            "compare each loss with the best loss so far, not with the loss just before it",
            _stopping(losses, patience, min_delta, previous=True),
        ),
        (
            "an improvement must beat the best by more than min_delta",
            _stopping(losses, patience, 0),
        ),
        ("return (best, stop), in that order", (stop, best)),
        (
            "return the best evaluation, whose weights are restored, not the last one",
            (len(seen) - 1, stop),
        ),
        (
            "the evaluations after the stop never happen: the best is one at or before it",
            (lowest_ever, stop),
        ),
        (
            "a loss below the best by min_delta or less is no improvement, so its weights were "
            "never kept: the best is the last evaluation that improved",
            (lowest, stop),
        ),
        *((never, (best, end)) for end in ends),
    ]


def _same_indexes(a: Any, b: Any) -> bool:
    return describe_difference(a, b) is None  # a list for the tuple, numpy ints for ints


def _compare_stop(expected: tuple[int, int | None], got: Any) -> str | None:
    """Both indexes exactly; else what differs and the slip, if known."""
    difference = describe_difference(expected, got, "items")
    if difference is None:
        return None
    if isinstance(got, numbers.Integral) and not isinstance(got, bool):
        return f"{difference} (return two things, (best, stop): the evaluation to restore and " \
               "the one at which training stops)"  # fmt: skip
    if not isinstance(got, list | tuple) or len(got) != 2:
        return difference
    if any(x is not None and _kind(x) != "int" for x in got):
        return f"{difference} (both items are indexes of evaluations, ints, or None for a stop " \
               "that never comes)"  # fmt: skip
    got = tuple(got)
    hint = slip_hint(_SOLUTIONS, "13.early_stop", expected, got, _same_indexes) or (
        "go through the losses in order, keeping the best loss so far, where it was, and how "
        "many evaluations in a row have not improved on it"
    )
    return f"expected {expected}, got {_short(got)} ({hint})"


def _shrink_slips(steps: int, lr: float, weight_decay: float) -> list[tuple[str, float]]:
    decay = lr * weight_decay  # the share of the weight one step removes
    exp = (
        "e^(−lr·weight_decay·steps) is only an approximation, close while lr·weight_decay is "
        "tiny: every step multiplies the weight by exactly the same factor; multiply those"
    )
    off_by_one = "one step's factor applies once per step: `steps` times, no more, no less"
    return [
        ("decoupled weight decay is scaled by the learning rate", (1 - weight_decay) ** steps),
        (exp, math.exp(-decay * steps)),
        ("the steps' factors multiply, they do not add up", 1 - steps * decay),
        (
            "that is the share decay removed: return the factor that remains",
            1 - (1 - decay) ** steps,
        ),
        ("that is the factor of one step: each of the steps applies it", 1 - decay),
        (off_by_one, (1 - decay) ** (steps - 1)),
        (off_by_one, (1 - decay) ** (steps + 1)),
        ("weight decay shrinks the weights: each step's factor is below 1", (1 + decay) ** steps),
    ]


# --------------------------------------------------------------------------- cases


def _tiny_gpt(rng: random.Random, C: int = 4, V: int = 6, T: int = 3) -> dict[str, list]:
    """A one-layer GPT's parameters under their HF names: matrices as lists of rows."""
    shapes = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (T, C)}
    for name, size in [("ln_1", C), ("attn.c_attn", 3 * C), ("attn.c_proj", C), ("ln_2", C),
                       ("mlp.c_fc", 4 * C), ("mlp.c_proj", C)]:  # fmt: skip
        inputs = 4 * C if name == "mlp.c_proj" else C
        shapes[f"transformer.h.0.{name}.weight"] = (size,) if "ln" in name else (size, inputs)
        shapes[f"transformer.h.0.{name}.bias"] = (size,)
    shapes |= {"transformer.ln_f.weight": (C,), "transformer.ln_f.bias": (C,)}

    def values(name: str, n: int) -> list[float]:
        gain = "ln" in name and name.endswith("weight")  # LayerNorm gains start near 1
        return [round(rng.gauss(1.0 if gain else 0.0, 0.2), 3) for _ in range(n)]

    return {name: values(name, shape[-1]) if len(shape) == 1
            else [values(name, shape[1]) for _ in range(shape[0])]
            for name, shape in shapes.items()}  # fmt: skip


def _penalty_cases() -> list[tuple[dict[str, list], float, float]]:
    layer = {"weight": [[1.0, -2.0], [0.0, 3.0]], "bias": [5.0, -5.0]}
    two_layers = {"a.weight": [[-1.5, -2.5, 0.5]], "b.weight": [[2.0], [-4.0]], "b.bias": [1.0]}
    cases = [
        (layer, 0.5, 0.25),
        (layer, 0.0, 0.1),  # L2 alone
        (layer, 0.01, 0.0),  # L1 alone
        (layer, 0.0, 0.0),  # no penalty at all
        ({"ln_f.weight": [1.0, 0.9, 1.1], "ln_f.bias": [0.1, -0.2, 0.0]}, 0.5, 0.5),  # no matrix
        ({"wte.weight": [[-0.5, 0.25], [0.75, -1.0], [0.0, -0.125]]}, 1.0, 1.0),
        ({"w": [[-3.0]], "b": [-3.0]}, 0.1, 0.1),  # a 1×1 matrix is one, a 1-element list is not
        (two_layers, 0.2, 0.4),
    ]
    rng = random.Random(13)
    cases += [(_tiny_gpt(rng), l1, l2) for l1, l2 in [(1e-4, 0.0), (0.0, 0.1), (1e-3, 1e-2)]]
    return cases


def _stop_cases() -> list[tuple[list[float], int, float]]:
    cases = [
        ([2.0, 1.5, 1.6, 1.5, 1.7, 1.2], 3, 0.0),  # a tie is no improvement
        ([2.0, 1.5, 1.2, 1.3, 1.25, 1.4, 1.1], 3, 0.0),  # a lower loss comes after the stop
        ([3.0, 2.5, 2.4, 2.45, 2.3, 2.2], 2, 0.0),  # never stops
        ([1.0, 1.0, 1.0, 0.9], 2, 0.0),  # ties only
        ([2.0, 1.5, 1.5, 1.5, 1.4], 2, 0.0),
        ([2.0, 1.5, 1.5, 1.5, 1.5, 1.6, 1.3], 2, 0.0),
        ([1.0, 0.75, 0.5, 0.6], 1, 0.25),  # 0.75 is 1.0 − 0.25 exactly: no improvement
        ([1.0, 0.995, 0.992, 0.991, 0.98], 3, 0.01),  # lower, but never by more than min_delta
        ([1.0, 0.995, 0.985, 0.984, 0.983, 0.96], 2, 0.01),
        ([5.0, 4.0, 4.5, 3.0], 1, 0.0),  # patience 1: the first bad evaluation stops
        ([4.0, 4.2, 3.9, 4.0, 3.8, 3.9, 3.7, 3.75, 3.76], 3, 0.0),  # bad ones, never 3 in a row
        ([3.0, 2.0, 2.1, 2.2, 1.0], 2, 0.0),
        ([1.0, 1.1, 1.2, 1.3], 2, 0.0),  # worse from the start
        ([2.3], 1, 0.0),  # one evaluation: nothing to stop
    ]
    rng = random.Random(13)
    for patience, min_delta in [(1, 0.0), (2, 0.0), (3, 0.02), (2, 0.05), (4, 0.0), (3, 0.0)]:
        n, turn = rng.randrange(8, 20), rng.uniform(0.2, 0.8)  # overfitting from turn · n on
        curve = [2.5 * math.exp(-4 * t / n) + max(0, t / n - turn) for t in range(n)]
        cases.append(([round(loss + rng.gauss(0, 0.02), 2) for loss in curve], patience, min_delta))
    return cases


def _shrink_cases() -> list[tuple[int, float, float]]:
    return [
        (2000, 1e-3, 0.1),  # the cpu preset: 2,000 steps, lr 1e-3 (held constant), decay 0.1
        (5000, 1e-3, 0.1),  # the gpu preset
        (4000, 1e-3, 0.1),  # the shipped model
        (600_000, 6e-4, 0.1),  # GPT-2 small as nanoGPT trains it
        (1, 0.1, 0.5),
        (3, 0.2, 1.5),
        (10, 0.5, 1.0),  # half the weight gone at every step
        (100, 0.01, 10.0),  # a large weight decay
        (20, 1e-2, 2.0),
        (100, 1e-3, 0.01),  # here e^(−lr·wd·steps) is within 1e-6 of the exact factor
        (0, 1e-3, 0.1),  # no step, no change
        (1000, 1e-3, 0.0),  # no weight decay
    ]


_SOLUTIONS = {
    "13.weight_penalty": (weight_penalty, _penalty_cases, _penalty_slips),
    "13.early_stop": (early_stop, _stop_cases, _stop_slips),
    "13.shrink_factor": (shrink_factor, _shrink_cases, _shrink_slips),
}

register(
    Exercise(
        name="13.weight_penalty",
        prompt="The penalty that L1 and L2 regularisation add to the loss: `l1 · Σ|w| + l2/2 · "
        "Σw²`, summed over the weights of the matrices only. `params` maps each parameter's name "
        "to its values: a matrix (a weight matrix, an embedding table) is a list of rows, a 2-D "
        "list, and is penalised; a 1-D list (a bias, a LayerNorm gain) is not. Return the "
        "penalty as a float. Checked to within a relative 1e-6.",
        solution=weight_penalty,
        cases=_penalty_cases,
        noun="numbers",
        compare=number_compare(
            _SOLUTIONS,
            "13.weight_penalty",
            "add l1 times the sum of the |w| and l2/2 times the sum of the w², both over the "
            "weights of the 2-D lists only",
        ),
    )
)
register(
    Exercise(
        name="13.early_stop",
        prompt="Early stopping. `val_losses[i]` is the validation loss of evaluation i. An "
        "evaluation improves when its loss is below the best loss so far minus `min_delta`; "
        "training stops at the evaluation where `patience` evaluations in a row have not "
        "improved. Return a tuple (best, stop): the index of the best evaluation seen up to the "
        "stop (the last one that improved: its weights are restored), and the index of the "
        "evaluation at which training stops, or None if it never stops.",
        solution=early_stop,
        cases=_stop_cases,
        noun="items",
        compare=_compare_stop,
    )
)
register(
    Exercise(
        name="13.shrink_factor",
        prompt="AdamW's decoupled weight decay moves every decayed weight w to w − lr · "
        "weight_decay · w at each step, apart from Adam's update. With a zero gradient there is "
        "no update: return the factor by which `steps` steps at a constant learning rate `lr` "
        "multiply a weight (0.5: it halved). Checked to within a relative 1e-6.",
        solution=shrink_factor,
        cases=_shrink_cases,
        noun="numbers",
        compare=number_compare(
            _SOLUTIONS,
            "13.shrink_factor",
            "find the factor one step multiplies the weight by, then apply it once per step",
            same=functools.partial(close, abs_tol=0.0),
        ),
    )
)
