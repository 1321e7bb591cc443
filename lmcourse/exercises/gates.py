"""Exercises of notebook 05, "LSTM and GRU".

Importing this module registers ``05.lstm_params`` and ``05.lstm_cell_update``. The functions
below are the reference solutions.
"""

from lmcourse.exercises.core import Exercise, register

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


def lstm_cell_update(c: list[float], i: list[float], f: list[float], g: list[float]) -> list[float]:
    """The LSTM's memory update, element by element: ``c' = f * c + i * g``.

    >>> lstm_cell_update([1.0, 2.0], [0.5, 0.0], [1.0, 0.5], [0.2, 0.9])
    [1.1, 1.0]
    """
    return [fk * ck + ik * gk for ck, ik, fk, gk in zip(c, i, f, g)]


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
        name="05.lstm_cell_update",
        prompt="Return the new memory of an LSTM cell, element by element: the forget gate `f` "
        "keeps part of the old memory `c`, the input gate `i` writes part of the candidate `g`: "
        "`c' = f * c + i * g`.",
        solution=lstm_cell_update,
        cases=[
            ([1.0, 2.0], [0.5, 0.0], [1.0, 0.5], [0.2, 0.9]),
            ([0.0], [1.0], [0.0], [-0.7]),
            ([3.0, -1.0, 0.5], [0.1, 0.9, 0.3], [0.9, 0.1, 1.0], [1.0, -1.0, 0.0]),
        ],  # fmt: skip
        noun="values",
    )
)
