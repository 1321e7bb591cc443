"""Notebooks 04 and 05's exercises: the references agree with torch.autograd, torch.nn.LSTM and
torch.nn.GRUCell, a learner's right answers pass, and each classic slip gets its hint."""

import math

import pytest
import torch

from lmcourse.exercises import check, get
from lmcourse.exercises.gates import gru_paper_step, lstm_params
from lmcourse.exercises.recurrence import clip_by_norm, gradient_back

# --------------------------------------------------------------------------- 04.gradient_back


@pytest.mark.parametrize("T, H", [(1, 1), (1, 4), (3, 2), (12, 5), (40, 8)])
def test_gradient_back_equals_autograd_through_an_rnn(T, H):
    gen = torch.Generator().manual_seed(T * 100 + H)
    C = 3
    x = torch.randn(T, C, generator=gen, dtype=torch.float64)
    weight_ih = torch.randn(H, C, generator=gen, dtype=torch.float64)
    weight_hh = torch.randn(H, H, generator=gen, dtype=torch.float64) / math.sqrt(H)
    bias = torch.randn(H, generator=gen, dtype=torch.float64)
    h0 = torch.randn(H, generator=gen, dtype=torch.float64, requires_grad=True)
    g = torch.randn(H, generator=gen, dtype=torch.float64)  # dL/dh_T
    h, pre = h0, []
    for t in range(T):  # h_t = tanh(a_t), a_t = W_ih x_t + W_hh h_(t-1) + b
        pre.append(x[t] @ weight_ih.T + h @ weight_hh.T + bias)
        h = pre[-1].tanh()
    (expected,) = torch.autograd.grad((h * g).sum(), h0)  # L = g · h_T, so dL/dh_T = g
    a = torch.stack(pre).detach()  # (T, H)
    torch.testing.assert_close(gradient_back(a, weight_hh, g), expected)


def test_gradient_back_by_hand():
    weight_hh = torch.tensor([[0.0, 2.0], [3.0, 0.0]])
    g = torch.tensor([1.0, 1.0])
    zeros = torch.zeros(2, 2)  # tanh'(0) = 1: two steps of g @ W_hh
    torch.testing.assert_close(gradient_back(zeros, weight_hh, g), g @ weight_hh @ weight_hh)
    assert gradient_back(zeros, weight_hh, g).tolist() == [6.0, 6.0]  # [3, 2] @ W_hh
    torch.testing.assert_close(gradient_back(torch.zeros(0, 2), weight_hh, g), g)  # T = 0
    a = torch.tensor([[math.atanh(0.5), 0.0]])  # tanh' = 1 - 0.25 and 1
    torch.testing.assert_close(gradient_back(a, weight_hh, g), torch.tensor([3.0, 1.5]))


def learner_gradient_back(a, weight_hh, g):
    for t in range(len(a) - 1, -1, -1):
        jacobian = torch.diag(1 - torch.tanh(a[t]) ** 2) @ weight_hh  # dh_t/dh_(t-1)
        g = g @ jacobian
    return g


def test_right_answers_pass():
    assert check("04.gradient_back", gradient_back)
    assert check("04.gradient_back", learner_gradient_back)
    assert check("04.clip_by_norm", clip_by_norm)


def step_back(step, order="back", skip=None):
    """A learner's gradient_back whose step is ``step(g, a_t, weight_hh)``, in the given order,
    with the row ``skip`` ("first" or "last") left out."""

    def gradient(a, weight_hh, g):
        rows = list(range(len(a)))
        if skip == "first":
            rows = rows[1:]
        elif skip == "last":
            rows = rows[:-1]
        for t in reversed(rows) if order == "back" else rows:
            g = step(g, a[t], weight_hh)
        return g

    return gradient


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (step_back(lambda g, a, w: (g * (1 - a.tanh() ** 2)) @ w.T), "weight_hh is transposed"),
        (step_back(lambda g, a, w: g @ w), "every step also goes back through its tanh"),
        (step_back(lambda g, a, w: (g * (1 - a**2)) @ w), "not 1 - a²"),
        (step_back(lambda g, a, w: (g * a.tanh()) @ w), "not tanh(a)"),
        (step_back(lambda g, a, w: (g @ w) * (1 - a.tanh() ** 2)), "before W_hh, not after"),
        (step_back(lambda g, a, w: (g * (1 - a.tanh() ** 2)) @ w, order="forward"), "go back"),
        (step_back(lambda g, a, w: (g * (1 - a.tanh() ** 2)) @ w, skip="first"), "one step short"),
        (step_back(lambda g, a, w: (g * (1 - a.tanh() ** 2)) @ w, skip="last"), "one step short"),
    ],
)
def test_gradient_back_slips_get_their_hints(feedback, wrong, hint):
    assert hint in feedback("04.gradient_back", wrong)


def test_gradient_back_autograd_on_h_alone_and_a_wrong_shape(feedback):
    text = feedback("04.gradient_back", lambda a, w, g: a[0] @ w)  # no g at all
    assert "expected" in text
    text = feedback("04.gradient_back", lambda a, w, g: learner_gradient_back(a, w, g)[None])
    assert "expected shape (2,), got shape (1, 2)" in text


def test_clip_by_norm_scaling_up_a_short_gradient(feedback):
    text = feedback(
        "04.clip_by_norm", lambda g, m: [x * m / math.sqrt(sum(y * y for y in g) or 1) for x in g]
    )
    assert "for inputs [0.3, 0.4], 1.0" in text  # scaled up a gradient that was short enough


# --------------------------------------------------------------------------- 05.lstm_params


def test_lstm_params_matches_torch(feedback):
    assert check("05.lstm_params", lstm_params)
    for args in [(10, 20), (10, 20, 2), (64, 128, 3)]:
        assert lstm_params(*args) == sum(p.numel() for p in torch.nn.LSTM(*args).parameters())
    text = feedback("05.lstm_params", lambda c, h, layers=1: 4 * (c * h + h * h + 2 * h) * layers)
    assert "for inputs 10, 20, 2" in text  # later layers read H, not C


# --------------------------------------------------------------------------- 05.gru_paper_step


def paper_gru_by_gate(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """An independent reference: one torch.nn.Linear per gate and per input, as in the paper."""
    H = h.shape[1]

    def linear(weight, bias, k):
        layer = torch.nn.Linear(weight.shape[1], H, dtype=weight.dtype)
        layer.load_state_dict(
            {"weight": weight[k * H : (k + 1) * H], "bias": bias[k * H : (k + 1) * H]}
        )
        return layer

    with torch.no_grad():
        r = torch.sigmoid(linear(weight_ih, bias_ih, 0)(x) + linear(weight_hh, bias_hh, 0)(h))
        z = torch.sigmoid(linear(weight_ih, bias_ih, 1)(x) + linear(weight_hh, bias_hh, 1)(h))
        n = torch.tanh(linear(weight_ih, bias_ih, 2)(x) + linear(weight_hh, bias_hh, 2)(r * h))
        return z * h + (1 - z) * n


def random_gru(B, C, H, seed):
    cell = torch.nn.GRUCell(C, H, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, generator=gen, dtype=torch.float64)
    h = torch.randn(B, H, generator=gen, dtype=torch.float64)
    return cell, x, h


@pytest.mark.parametrize("B, C, H", [(1, 1, 1), (2, 3, 4), (5, 4, 3)])
def test_gru_paper_step_agrees_with_a_gate_by_gate_reference(B, C, H):
    cell, x, h = random_gru(B, C, H, seed=B + C + H)
    weights = [p.detach() for p in cell.parameters()]  # weight_ih, weight_hh, bias_ih, bias_hh
    torch.testing.assert_close(gru_paper_step(x, h, *weights), paper_gru_by_gate(x, h, *weights))


@pytest.mark.parametrize("B, C, H", [(1, 2, 2), (3, 4, 5)])
def test_gru_paper_step_equals_torch_where_the_two_forms_agree(B, C, H):
    cell, x, h = random_gru(B, C, H, seed=7 * H)
    with torch.no_grad():
        # r = 1 (a huge reset bias): r * (W_hn h + b_hn) = W_hn (r * h) + b_hn
        cell.bias_ih[:H] = 60.0
        weights = [p.detach() for p in cell.parameters()]
        torch.testing.assert_close(gru_paper_step(x, h, *weights), cell(x, h))
        # W_hn diagonal and b_hn = 0: r * (W_hn h) = W_hn (r * h) for any r
        cell.bias_ih[:H] = 0.5
        cell.weight_hh[2 * H :] = torch.diag(torch.linspace(-1, 1, H, dtype=torch.float64))
        cell.bias_hh[2 * H :] = 0.0
        weights = [p.detach() for p in cell.parameters()]
        torch.testing.assert_close(gru_paper_step(x, h, *weights), cell(x, h))
        # in general they differ
        cell.weight_hh[2 * H :] = torch.ones(H, H, dtype=torch.float64)
        weights = [p.detach() for p in cell.parameters()]
        assert not torch.allclose(gru_paper_step(x, h, *weights), cell(x, h))


def learner_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """A learner's update gate z and candidate n, in the paper's form."""
    H = h.shape[1]
    gi = x @ weight_ih.T + bias_ih  # (B, 3H)
    gh = h @ weight_hh[: 2 * H].T + bias_hh[: 2 * H]  # (B, 2H): r and z only
    r = torch.sigmoid(gi[:, :H] + gh[:, :H])
    z = torch.sigmoid(gi[:, H : 2 * H] + gh[:, H:])
    n = torch.tanh(gi[:, 2 * H :] + (r * h) @ weight_hh[2 * H :].T + bias_hh[2 * H :])
    return z, n


def learner_gru(x, h, *weights):
    z, n = learner_gates(x, h, *weights)
    return (1 - z) * n + z * h


def test_gru_paper_step_right_answers_pass():
    assert check("05.gru_paper_step", gru_paper_step)
    assert check("05.gru_paper_step", learner_gru)
    assert check("05.gru_paper_step", paper_gru_by_gate)


def torch_form(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    cell = torch.nn.GRUCell(x.shape[1], h.shape[1], dtype=x.dtype)
    cell.load_state_dict(
        {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih, "bias_hh": bias_hh}
    )
    with torch.no_grad():
        return cell(x, h)


def gates_swapped(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    H = h.shape[1]
    order = torch.cat([torch.arange(H, 2 * H), torch.arange(H), torch.arange(2 * H, 3 * H)])
    return learner_gru(x, h, weight_ih[order], weight_hh[order], bias_ih[order], bias_hh[order])


def keep_swapped(x, h, *weights):
    z, n = learner_gates(x, h, *weights)
    return z * n + (1 - z) * h  # z read as how much of the candidate to take


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (torch_form, "that is PyTorch's GRU"),
        (gates_swapped, "the gates are swapped: the blocks of H rows are stacked in the order r"),
        (keep_swapped, "z is how much of the old state to keep"),
    ],
)
def test_gru_paper_step_slips_get_their_hints(feedback, wrong, hint):
    assert hint in feedback("05.gru_paper_step", wrong)


def test_gru_paper_step_without_transposes_is_a_shape_error(feedback):
    def untransposed(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
        gi = x @ weight_ih + bias_ih  # (B, C) @ (3H, C): needs weight_ih.T
        return gi[:, : h.shape[1]]

    assert "RuntimeError" in feedback("05.gru_paper_step", untransposed)


def test_the_cases_cover_a_single_unit_and_a_square_cell():
    shapes = [(x.shape[1], h.shape[1]) for x, h, *_ in get("05.gru_paper_step").case_list()]
    assert (1, 1) in shapes and any(C == H > 1 for C, H in shapes)
    assert any(C != H for C, H in shapes)  # forgotten transposes fail with a shape error
