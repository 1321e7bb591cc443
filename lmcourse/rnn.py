"""Recurrent networks written from their equations: RNN, LSTM and GRU, and a recurrent LM.

``RNNCell``, ``LSTMCell`` and ``GRUCell`` take one step, ``h_t = cell(x_t, h_{t-1})``; ``RNN``,
``LSTM`` and ``GRU`` run that step along a sequence, layer after layer, in a Python loop over
time (slow, but every step is visible). Parameter names and shapes, gate order and
initialisation are ``torch.nn``'s, so ``ours.load_state_dict(theirs.state_dict())`` makes the
two compute the same function (the parity tests), and ``RecurrentLM`` runs on either.

Shape letters: B batch, T time, C input channels (the embedding size), H hidden size (as in
the ``torch.nn.LSTM`` docs; in the attention modules H counts heads), L layers, V vocabulary.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lmcourse.lm import check_ids, eval_mode, lm_loss  # lm_loss checks targets
from lmcourse.sampling import check_generate_args, choose_next
from lmcourse.utils import is_int, is_real

CELLS = ("rnn", "lstm", "gru")
IMPLS = ("scratch", "torch")
State = Tensor | tuple[Tensor, Tensor]  # h, or (h, c) for an LSTM
Weights = tuple[Tensor, Tensor, Tensor | None, Tensor | None]  # W_ih, W_hh, b_ih, b_hh


class _Recurrent(nn.Module):
    """torch.nn-named weights of a cell, or of ``num_layers`` layers; a subclass gives the
    ``gates`` (blocks of H rows stacked in each weight) and ``_step(x, state, weights)``."""

    gates = 1  # 1 for an RNN, 4 for an LSTM (i, f, g, o), 3 for a GRU (r, z, n)
    num_layers: int | None = None  # None: a cell, whose weights have no _l<k> suffix

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G, H = self.gates, hidden_size
        for k in range(self.num_layers or 1):
            suffix = "" if self.num_layers is None else f"_l{k}"
            C = input_size if k == 0 else H  # a layer above the first reads the h below
            setattr(self, "weight_ih" + suffix, nn.Parameter(torch.empty(G * H, C)))
            setattr(self, "weight_hh" + suffix, nn.Parameter(torch.empty(G * H, H)))
            for name in ("bias_ih" + suffix, "bias_hh" + suffix):  # None: not in state_dict
                self.register_parameter(name, nn.Parameter(torch.empty(G * H)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw every parameter from U(-1/√H, 1/√H), as torch does."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound, generator=generator)

    def forward(self, x: Tensor, state: State | None = None) -> State:
        """One step: input x (B, C) and the state (zeros if None) -> the next state."""
        self._check_x(x, "(B, C)")
        return self._step(x, self._state(state, x, (len(x), self.hidden_size)), self._weights())

    def _state(self, state: Tensor | None, x: Tensor, shape: tuple, name: str = "h") -> State:
        if state is None:  # zeros, of x's dtype and on x's device
            return x.new_zeros(shape)
        if tuple(state.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(state.shape)}.")
        return state

    def _weights(self, suffix: str = "") -> Weights:
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # biases None if not bias
        return tuple(getattr(self, name + suffix) for name in names)

    def _check_x(self, x: Tensor, shape: str) -> None:
        if x.dim() != shape.count(",") + 1 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must be {shape}, C={self.input_size}, got {tuple(x.shape)}.")

    def extra_repr(self) -> str:
        layers = f", num_layers={self.num_layers}" if (self.num_layers or 1) > 1 else ""
        return f"{self.input_size}, {self.hidden_size}{layers}" + ", bias=False" * (not self.bias)


class RNNCell(_Recurrent):
    """An Elman RNN cell, ``torch.nn.RNNCell`` written out:

        h' = tanh(W_ih x + b_ih + W_hh h + b_hh)        (relu in place of tanh if asked)

    Args:
        input_size: C, the size of x. hidden_size: H, the size of h.
        bias: whether to add b_ih and b_hh. nonlinearity: ``"tanh"`` or ``"relu"``.

    Shapes:
        x (B, C), state h (B, H) or None (zeros) -> h' (B, H).
        weight_ih (H, C), weight_hh (H, H), bias_ih (H,), bias_hh (H,).
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}.")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def _step(self, x: Tensor, h: Tensor, weights: Weights) -> Tensor:
        weight_ih, weight_hh, bias_ih, bias_hh = weights
        pre = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)  # (B, H)
        return torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)


class LSTMCell(_Recurrent):
    """A long short-term memory cell, ``torch.nn.LSTMCell`` written out (σ the sigmoid):

        i  = σ(W_ii x + b_ii + W_hi h + b_hi)       input gate: how much of g to write
        f  = σ(W_if x + b_if + W_hf h + b_hf)       forget gate: how much of c to keep
        g  = tanh(W_ig x + b_ig + W_hg h + b_hg)    candidate memory
        o  = σ(W_io x + b_io + W_ho h + b_ho)       output gate: how much of c to show
        c' = f * c + i * g
        h' = o * tanh(c')

    weight_ih stacks W_ii, W_if, W_ig, W_io in that order, weight_hh likewise, so one matrix
    product per input computes all four gates.

    Args:
        input_size: C, the size of x. hidden_size: H, the size of h and c. bias: add the b terms.

    Shapes:
        x (B, C), state (h, c) each (B, H), or None (zeros) -> (h', c') each (B, H).
        weight_ih (4H, C), weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,).
    """

    gates = 4

    def _step(self, x: Tensor, state: tuple[Tensor, Tensor], weights: Weights) -> State:
        (h, c), (weight_ih, weight_hh, bias_ih, bias_hh) = state, weights
        gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)  # (B, H) each, in torch's order
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g  # keep part of the old memory, write part of the candidate
        return o * torch.tanh(c), c

    def _state(self, state: State | None, x: Tensor, shape: tuple) -> State:
        if state is not None and (not isinstance(state, tuple | list) or len(state) != 2):
            raise ValueError("an LSTM's state is a pair (h, c), the output and the memory.")
        h, c = (None, None) if state is None else state
        return _Recurrent._state(self, h, x, shape), _Recurrent._state(self, c, x, shape, "c")


class GRUCell(_Recurrent):
    """A gated recurrent unit, ``torch.nn.GRUCell`` written out (σ the sigmoid):

        r  = σ(W_ir x + b_ir + W_hr h + b_hr)            reset gate
        z  = σ(W_iz x + b_iz + W_hz h + b_hz)            update gate
        n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))   candidate (the paper: W_hn (r * h))
        h' = (1 - z) * n + z * h

    weight_ih stacks W_ir, W_iz, W_in in that order, weight_hh likewise.

    Args:
        input_size: C, the size of x. hidden_size: H, the size of h. bias: add the b terms.

    Shapes:
        x (B, C), state h (B, H) or None (zeros) -> h' (B, H).
        weight_ih (3H, C), weight_hh (3H, H), bias_ih (3H,), bias_hh (3H,).
    """

    gates = 3

    def _step(self, x: Tensor, h: Tensor, weights: Weights) -> Tensor:
        weight_ih, weight_hh, bias_ih, bias_hh = weights
        x_r, x_z, x_n = F.linear(x, weight_ih, bias_ih).chunk(3, dim=1)  # (B, H) each
        h_r, h_z, h_n = F.linear(h, weight_hh, bias_hh).chunk(3, dim=1)  # (B, H) each
        r = torch.sigmoid(x_r + h_r)  # reset: how much of h the candidate sees
        z = torch.sigmoid(x_z + h_z)  # update: how much of h to keep
        n = torch.tanh(x_n + r * h_n)  # r scales W_hn h + b_hn, bias included, as in torch
        return (1 - z) * n + z * h


class _Layers(_Recurrent):
    """A cell's ``_step`` run along time, layer after layer: layer 0 reads x_t, layer l > 0
    reads the h_t of layer l - 1, and each starts from its own initial state."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True):
        self.num_layers = num_layers
        super().__init__(input_size, hidden_size, bias)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """The last layer's h_t for every t (B, T, H), and every layer's last state (L, B, H)."""
        self._check_x(x, "(B, T, C)")
        B, T, C = x.shape
        state = self._state(state, x, (self.num_layers, B, self.hidden_size))  # (L, B, H)
        finals = []
        for k in range(self.num_layers):
            # layer k's state: h (B, H), or the LSTM's (h, c), each (B, H)
            s = tuple(part[k] for part in state) if isinstance(state, tuple) else state[k]
            outputs, weights = [], self._weights(f"_l{k}")
            for t in range(T):  # the loop over time
                s = self._step(x[:, t], s, weights)  # (B, H), or ((B, H), (B, H))
                outputs.append(s[0] if isinstance(s, tuple) else s)
            x = torch.stack(outputs, dim=1)  # (B, T, H): the next layer's input
            finals.append(s)
        if isinstance(state, tuple):  # (h_n, c_n)
            return x, tuple(torch.stack(part) for part in zip(*finals))  # (L, B, H) each
        return x, torch.stack(finals)  # (B, T, H), (L, B, H)


class RNN(_Layers):
    """``RNNCell``'s step along time, over L layers, as ``torch.nn.RNN(batch_first=True)``.

    Args:
        input_size: C. hidden_size: H. num_layers: L. nonlinearity: ``"tanh"`` or ``"relu"``.
        bias: whether to add the b terms.

    Shapes:
        x (B, T, C), h_0 (L, B, H) or None (zeros) -> output (B, T, H), h_n (L, B, H).
        weight_ih_lk (H, C if k = 0 else H), weight_hh_lk (H, H), bias_ih_lk, bias_hh_lk (H,).
    """

    _step = RNNCell._step  # the cell's step, the same code

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}.")
        super().__init__(input_size, hidden_size, num_layers, bias)
        self.nonlinearity = nonlinearity


class LSTM(_Layers):
    """``LSTMCell``'s step along time, over L layers, as ``torch.nn.LSTM(batch_first=True)``.

    Args:
        input_size: C. hidden_size: H. num_layers: L. bias: whether to add the b terms.

    Shapes:
        x (B, T, C), (h_0, c_0) or None (zeros) -> output (B, T, H), (h_n, c_n); h, c (L, B, H).
        weight_ih_lk (4H, C if k = 0 else H), weight_hh_lk (4H, H), bias_ih_lk, bias_hh_lk (4H,).
    """

    gates, _step, _state = 4, LSTMCell._step, LSTMCell._state  # the cell's, the same code


class GRU(_Layers):
    """``GRUCell``'s step along time, over L layers, as ``torch.nn.GRU(batch_first=True)``.

    Args:
        input_size: C. hidden_size: H. num_layers: L. bias: whether to add the b terms.

    Shapes:
        x (B, T, C), h_0 (L, B, H) or None (zeros) -> output (B, T, H), h_n (L, B, H).
        weight_ih_lk (3H, C if k = 0 else H), weight_hh_lk (3H, H), bias_ih_lk, bias_hh_lk (3H,).
    """

    gates, _step = 3, GRUCell._step  # the cell's step, the same code


@dataclass(frozen=True)
class RecurrentLMConfig:
    """The settings of a ``RecurrentLM``, validated once.

    Args:
        vocab_size: V. embedding_dim: C, the recurrent input size. hidden_size: H.
        cell: one of ``CELLS``: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``. num_layers: L.
        impl: ``"scratch"`` (this module's classes) or ``"torch"`` (``torch.nn``'s, faster);
            the parameter names agree, so weights copy both ways with ``load_state_dict``.
        dropout: the probability of zeroing each hidden output before the head, in training.
    """

    vocab_size: int
    cell: str = "lstm"
    embedding_dim: int = 32
    hidden_size: int = 64
    num_layers: int = 1
    impl: str = "scratch"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        p = self.dropout
        rules = {  # field: (is it valid?, what it must be)
            "cell": (self.cell in CELLS, f"one of {CELLS}"),
            "impl": (self.impl in IMPLS, f"one of {IMPLS}"),
            "dropout": (is_real(p) and 0 <= p < 1, "a number in [0, 1)"),
        }
        for field in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            size = getattr(self, field)
            rules[field] = (is_int(size) and size >= 1, "an integer >= 1")
        for field, (valid, rule) in rules.items():
            if not valid:
                raise ValueError(f"{field} must be {rule}, got {getattr(self, field)!r}.")


class RecurrentLM(nn.Module):
    """A recurrent language model: embed each token, run the recurrence, score the next token.

        e_t = E[idx_t]                   a row of the embedding table E (V, C)
        h_t = cell(e_t, h_{t-1})         L stacked layers; h_{-1} = 0 unless a state is given
        logits_t = W dropout(h_t) + b    the scores (V,) of the token at t + 1

    logits_t depends on idx_0..idx_t only: the model is causal by construction. ``forward``
    has the course-wide interface; ``forward_with_state`` also returns the final state: a run
    on ``a`` then on ``b`` from that state equals one run on ``torch.cat([a, b], dim=1)``.

    Args:
        config: a ``RecurrentLMConfig``.
        generator: a seeded ``torch.Generator`` for the initial weights (default: the global).

    Shapes:
        idx, targets (B, T) long, ids in [0, V) -> logits (B, T, V), loss () or None.
        state: the initial state (zeros if None), h (L, B, H), or (h, c) for an LSTM.

    Example (V = 5, B = 1, T = 3; the loss is the mean of -log softmax(logits_t)[target_t]):

    >>> lm = RecurrentLM(RecurrentLMConfig(vocab_size=5, cell="gru", hidden_size=8))
    >>> logits, loss = lm(torch.tensor([[0, 1, 2]]), targets=torch.tensor([[1, 2, 3]]))
    >>> logits.shape, loss.shape
    (torch.Size([1, 3, 5]), torch.Size([]))
    """

    def __init__(self, config: RecurrentLMConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not isinstance(config, RecurrentLMConfig):
            raise TypeError(f"config must be a RecurrentLMConfig, got {type(config).__name__}.")
        self.config = config
        V, C, H, L = config.vocab_size, config.embedding_dim, config.hidden_size, config.num_layers
        self.wte = nn.Embedding(V, C)  # E: (V, C); wte and lm_head: the MLP's and GPT's names
        if config.impl == "torch":  # torch.nn.RNN, LSTM or GRU: the same parameters
            self.rnn = getattr(nn, config.cell.upper())(C, H, L, batch_first=True)
        else:
            self.rnn = {"rnn": RNN, "lstm": LSTM, "gru": GRU}[config.cell](C, H, L)
        self.dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(H, V)  # W: (V, H), b: (V,)
        self._init_weights(generator)

    @torch.no_grad()
    def _init_weights(self, generator: torch.Generator | None) -> None:
        """torch's default initialisation, written out to take a generator: E ~ N(0, 1), and
        every other parameter (the recurrent ones, and the head's, fan-in H) U(-1/√H, 1/√H)."""
        nn.init.normal_(self.wte.weight, generator=generator)
        bound = 1 / math.sqrt(self.config.hidden_size)
        for p in [*self.rnn.parameters(), *self.lm_head.parameters()]:
            nn.init.uniform_(p, -bound, bound, generator=generator)

    def forward_with_state(self, idx: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Logits (B, T, V) and the state after the last token, to continue from there."""
        check_ids(idx, self.config.vocab_size)
        x = self.wte(idx)  # (B, T, C)
        h, state = self.rnn(x, state)  # (B, T, H); state (L, B, H) or a pair of them
        return self.lm_head(self.dropout(h)), state  # (B, T, V)

    def forward(
        self, idx: Tensor, targets: Tensor | None = None, state: State | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``(logits, loss)``: loss is ``lm_loss``, the mean cross-entropy, or None."""
        logits, _ = self.forward_with_state(idx, state)  # (B, T, V)
        loss = None if targets is None else lm_loss(logits, targets)
        return logits, loss

    @torch.no_grad()
    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
    ) -> Tensor:
        """Continue each row of ``idx`` (B, T) by ``max_new_tokens`` = N tokens: (B, T + N).

        The prompt is read once, then each new token alone from the carried state: no window,
        no recomputation (``lmcourse.sampling.generate`` would rerun the whole sequence at every
        step). Each token is chosen by ``lmcourse.sampling.choose_next``, the rule every model
        of the course uses: temperature (0 = greedy), then top-k, then top-p. It samples in eval
        mode (no dropout), as ``lmcourse.sampling.generate`` does, and gives the mode back."""
        check_ids(idx, self.config.vocab_size)
        check_generate_args(idx, max_new_tokens, temperature, top_k, top_p, None)
        tokens = [idx]
        with eval_mode(self):
            logits, state = self.forward_with_state(idx)  # the prompt, once: (B, T, V)
            for step in range(max_new_tokens):
                if step > 0:  # feed the last token only, from the carried state
                    logits, state = self.forward_with_state(tokens[-1], state)  # (B, 1, V)
                tokens.append(choose_next(logits[:, -1], temperature, top_k, top_p, generator))
        return torch.cat(tokens, dim=1)  # (B, T + N)
