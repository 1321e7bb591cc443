"""Exercises of notebook 05, "LSTM and GRU".

Importing this module registers ``05.lstm_params`` and ``05.gru_paper_step``. The functions
below are the reference solutions. ``gru_paper_step`` works on tensors, built only when its
cases are checked: importing ``lmcourse.exercises`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lmcourse.exercises.core import Exercise, register
from lmcourse.exercises.difference import describe_difference

if TYPE_CHECKING:  # torch is imported only where the cases are built: importing stays light
    import torch

# --------------------------------------------------------------------------- reference solutions


def lstm_params(input_size: int, hidden_size: int, num_layers: int = 1) -> int:
    """Parameters of ``torch.nn.LSTM``: per layer, 4 gates × (W_ih, W_hh, b_ih, b_hh).

    Layer 1 reads the input (C); later layers read the layer below (H):
    4 · (C·H + H·H + 2H) + (L − 1) · 4 · (H·H + H·H + 2H).

    >>> lstm_params(10, 20)  # 4 * (200 + 400 + 40)
    2560
    """
    first = 4 * (input_size * hidden_size + hidden_size * hidden_size + 2 * hidden_size)
    later = 4 * (2 * hidden_size * hidden_size + 2 * hidden_size)
    return first + (num_layers - 1) * later


def gru_paper_step(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
) -> torch.Tensor:
    """One step of the GRU as Cho et al. (2014) wrote it: the reset gate acts on h itself.

        r  = σ(W_ir x + b_ir + W_hr h + b_hr)
        z  = σ(W_iz x + b_iz + W_hz h + b_hz)
        n  = tanh(W_in x + b_in + W_hn (r * h) + b_hn)    PyTorch: r * (W_hn h + b_hn)
        h' = (1 - z) * n + z * h

    The weights are stacked as ``torch.nn.GRUCell``'s, blocks of H rows in the order r, z, n.

    Shapes: x (B, C), h (B, H), weight_ih (3H, C), weight_hh (3H, H), bias_ih and bias_hh
    (3H,) -> h' (B, H).
    """
    H = h.shape[1]
    x_r, x_z, x_n = (x @ weight_ih.T + bias_ih).split(H, dim=1)  # (B, H) each
    w_r, w_z, w_n = weight_hh.split(H)  # (H, H) each
    b_r, b_z, b_n = bias_hh.split(H)  # (H,) each
    r = (x_r + h @ w_r.T + b_r).sigmoid()  # reset: how much of h the candidate sees
    z = (x_z + h @ w_z.T + b_z).sigmoid()  # update: how much of h to keep
    n = (x_n + (r * h) @ w_n.T + b_n).tanh()  # (B, H)
    return (1 - z) * n + z * h


# --------------------------------------------------------------------------- feedback


def _gru(x: Any, h: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any, slip: str = "") -> Any:
    """A GRU step with one of the classic slips: "torch", "order" or "keep"."""
    H = h.shape[1]
    x_r, x_z, x_n = (x @ w_ih.T + b_ih).split(H, dim=1)
    h_r, h_z, h_n = (h @ w_hh.T + b_hh).split(H, dim=1)
    if slip == "order":  # z's rows read as r's and r's as z's
        x_r, x_z, h_r, h_z = x_z, x_r, h_z, h_r
    r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
    if slip == "torch":
        n = (x_n + r * h_n).tanh()
    else:
        w_n, b_n = w_hh[2 * H :], b_hh[2 * H :]
        n = (x_n + (r * h) @ w_n.T + b_n).tanh()
    return z * n + (1 - z) * h if slip == "keep" else (1 - z) * n + z * h


_HINTS = {
    "torch": "that is PyTorch's GRU, whose candidate scales W_hn h + b_hn by r; in the paper's "
    "form r scales h before W_hn: W_hn (r * h) + b_hn",
    "order": "the gates are swapped: the blocks of H rows are stacked in the order r, z, n, "
    "so rows 0 to H - 1 belong to the reset gate",
    "keep": "z is how much of the old state to keep: h' = (1 - z) * n + z * h",
}


def _compare_step(expected: Any, got: Any) -> str | None:
    """``describe_difference`` plus a hint when ``got`` is what a classic slip returns."""
    difference = describe_difference(expected, got, "values")
    if difference is None or tuple(getattr(got, "shape", ())) != tuple(expected.shape):
        return difference
    for args in _gru_cases():
        if describe_difference(gru_paper_step(*args), expected) is None:
            for slip, hint in _HINTS.items():
                if describe_difference(_gru(*args, slip=slip), got) is None:
                    return f"{difference} ({hint})"
            break
    return difference


# --------------------------------------------------------------------------- cases


def _gru_cases() -> list[tuple[torch.Tensor, ...]]:
    """Seeded float64 inputs, state, weights and biases, rounded so that they read well
    (``+ 0.0`` turns -0.0 into 0.0)."""
    import torch

    gen = torch.Generator().manual_seed(5)
    cases = []
    for B, C, H in [(1, 2, 2), (2, 3, 4), (3, 4, 3), (1, 1, 1), (4, 5, 5)]:
        shapes = [(B, C), (B, H), (3 * H, C), (3 * H, H), (3 * H,), (3 * H,)]
        cases.append(
            tuple(
                torch.randn(shape, generator=gen, dtype=torch.float64).round(decimals=1) + 0.0
                for shape in shapes
            )
        )
    return cases


register(
    Exercise(
        name="05.lstm_params",
        prompt="Return the number of parameters of `torch.nn.LSTM(input_size, hidden_size, "
        "num_layers)` (with biases): each layer has 4 gates, each gate a weight for its input, a "
        "weight for the hidden state and two bias vectors; the first layer's input is the "
        "input (size C), every later layer's input is the layer below (size H).",
        solution=lstm_params,
        cases=[(10, 20), (10, 20, 2), (64, 128), (1, 1), (64, 128, 3), (70, 256, 1)],
        noun="parameters",
    )
)
register(
    Exercise(
        name="05.gru_paper_step",
        prompt="One step of the GRU in the form of Cho et al.'s paper, for a batch: the same "
        "gates as section 1's, but the candidate applies the reset gate to the old state before "
        "W_hn, n = tanh(W_in x + b_in + W_hn (r * h) + b_hn), where PyTorch's GRUCell scales "
        "W_hn h + b_hn by r. The weights and biases are stacked as GRUCell's (its parameters of "
        "the same names). x is (B, C), h is (B, H); return h' (B, H).",
        solution=gru_paper_step,
        cases=_gru_cases,
        noun="values",
        compare=_compare_step,
    )
)
