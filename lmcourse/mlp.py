"""The first neural language models: a bigram table learned by gradient descent, Bengio's MLP.

Both have the course's one LM interface, ``forward(idx, targets=None) -> (logits, loss)``
with ``idx`` (B, T) long and ``logits`` (B, T, V), so ``lmcourse.train.train``,
``lmcourse.lm.evaluate`` and ``lmcourse.lm.generate`` work on them unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmcourse.lm import check_ids, lm_loss
from lmcourse.utils import is_int, is_real

__all__ = ["MLPLM", "MLPConfig", "NeuralBigram"]


class NeuralBigram(nn.Module):
    """The bigram count table of notebook 02, learned by gradient descent instead of counted.

    One parameter, a V×V table of logits W: row i scores the token after token i,

        P(next = j | current = i) = softmax(W[i])_j = exp(W[i, j]) / Σ_k exp(W[i, k])

    Minimising the cross-entropy on a text is maximum likelihood, and for a table the
    maximum-likelihood estimate is the count estimate ``count(i j) / count(i •)``: with enough
    steps ``softmax(W)`` converges to the row-normalised bigram counts (rows of tokens that
    never occur stay uniform; a count of 0 is only approached, as W[i, j] → -∞).

    W starts at zero: every row is uniform, so the first loss is exactly ln V.

    Args:
        vocab_size: V, the number of distinct tokens.

    Shapes:
        idx, targets: (B, T) long; logits: (B, T, V), ``logits[b, t] = W[idx[b, t]]``.

    Example (V = 4, a fresh table: each token has probability 1/4, the loss is ln 4)::

        >>> model = NeuralBigram(4)
        >>> logits, loss = model(torch.tensor([[0, 1, 2]]), torch.tensor([[1, 2, 3]]))
        >>> logits.shape, round(loss.item(), 4), round(math.log(4), 4)
        (torch.Size([1, 3, 4]), 1.3863, 1.3863)
    """

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        if not is_int(vocab_size) or vocab_size < 1:
            raise ValueError(f"vocab_size must be an integer >= 1, got {vocab_size!r}.")
        self.vocab_size = vocab_size
        self.weight = nn.Parameter(torch.zeros(vocab_size, vocab_size))  # (V, V)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        check_ids(idx, self.weight.shape[0])  # (a negative id would wrap around silently)
        logits = self.weight[idx]  # (B, T, V): one row of the table per token
        loss = None if targets is None else lm_loss(logits, targets)
        return logits, loss

    def probs(self) -> torch.Tensor:
        """The table as probabilities, ``softmax(W)`` row by row: (V, V), rows sum to 1."""
        return F.softmax(self.weight.detach(), dim=-1)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}"


@dataclass(frozen=True)
class MLPConfig:
    """The size of an ``MLPLM`` (see the class for what each number does).

    Args:
        vocab_size: V, the number of distinct tokens.
        context: how many tokens the model sees: the current one and ``context - 1`` before it.
        embedding_dim: C, the size of each token's embedding.
        hidden_size: H, the width of the tanh layer.
        dropout: probability of zeroing a hidden unit during training, in [0, 1).
    """

    vocab_size: int
    context: int = 3
    embedding_dim: int = 16
    hidden_size: int = 128
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for field in ("vocab_size", "context", "embedding_dim", "hidden_size"):
            value = getattr(self, field)
            if not is_int(value) or value < 1:
                raise ValueError(f"{field} must be an integer >= 1, got {value!r}.")
        if not is_real(self.dropout) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}.")


class MLPLM(nn.Module):
    """Bengio et al. (2003), "A Neural Probabilistic Language Model", at every position.

    Position t sees the ``context`` tokens ending at t, x_{t-context+1} .. x_t (K = context):

        e_t = [E[x_{t-K+1}], ..., E[x_t]]              concatenated embeddings, K·C numbers
        h_t = tanh(W_h e_t + b_h)                        (H,)
        logits_t = W_o dropout(h_t) + b_o                (V,): scores of the token at t + 1

    A window is scored at every position at once, like every model of the course, so the
    training batches are the usual ``get_batch`` windows. Before the start of the window there
    is nothing to see: those positions get a dedicated *start* embedding, index V of the
    embedding table (V + 1 rows), so the first ``context - 1`` positions of a window see fewer
    real tokens (in training too: the model also learns to predict from a short context).
    Bengio's paper also adds direct connections from e_t to the output; they are left out.

    Args:
        config: an ``MLPConfig``.
        generator: a seeded ``torch.Generator`` for the initial weights (default: torch's
            global one). The initialisation is PyTorch's default: E ~ N(0, 1), linear weights
            and biases ~ U(-1/√fan_in, 1/√fan_in).

    Shapes:
        idx, targets: (B, T) long; logits: (B, T, V).

    Example: a 3-token context sees exactly the last 3 tokens, so changing an older token
    changes nothing::

        >>> model = MLPLM(MLPConfig(vocab_size=5), generator=torch.Generator().manual_seed(0))
        >>> a, _ = model(torch.tensor([[1, 2, 3, 4]]))
        >>> b, _ = model(torch.tensor([[0, 2, 3, 4]]))
        >>> torch.equal(a[:, 3], b[:, 3]), torch.equal(a[:, 2], b[:, 2])
        (True, False)
    """

    def __init__(self, config: MLPConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not isinstance(config, MLPConfig):
            raise TypeError(f"config must be an MLPConfig, got {type(config).__name__}.")
        self.config = config
        V, K, C, H = config.vocab_size, config.context, config.embedding_dim, config.hidden_size
        self.start_id = V  # the embedding of "before the window": one row after the tokens
        self.wte = nn.Embedding(V + 1, C)  # token embeddings, (V + 1, C)
        self.hidden = nn.Linear(K * C, H)
        self.dropout = nn.Dropout(config.dropout)
        self.lm_head = nn.Linear(H, V)
        self._init_weights(generator)

    @torch.no_grad()
    def _init_weights(self, generator: torch.Generator | None) -> None:
        """PyTorch's default initialisation, written out so that it can take a generator."""
        nn.init.normal_(self.wte.weight, generator=generator)
        for layer in (self.hidden, self.lm_head):
            bound = 1 / math.sqrt(layer.in_features)
            nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        check_ids(idx, self.config.vocab_size)  # id V is the start row: not a token
        B, T = idx.shape
        K = self.config.context
        padded = F.pad(idx, (K - 1, 0), value=self.start_id)  # (B, K - 1 + T)
        windows = padded.unfold(1, K, 1)  # (B, T, K): windows[:, t] = x_{t-K+1} .. x_t
        emb = self.wte(windows)  # (B, T, K, C)
        e = emb.view(B, T, -1)  # (B, T, K·C): the K embeddings side by side, Bengio's e_t
        h = torch.tanh(self.hidden(e))  # (B, T, H)
        logits = self.lm_head(self.dropout(h))  # (B, T, V)
        loss = None if targets is None else lm_loss(logits, targets)
        return logits, loss

    def extra_repr(self) -> str:
        return f"context={self.config.context}"
