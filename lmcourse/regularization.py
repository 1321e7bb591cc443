"""Regularisation: ways to make a model that fits its training text also fit text it never saw.

A model with many parameters and little data learns its training text by heart: the training
loss keeps falling while the validation loss turns and rises (overfitting). Each tool here
attacks that from one side; notebook 13 measures them side by side on a small subset of the
plays:

- ``WeightPenalty``: add ``l1 · Σ|w| + l2/2 · Σw²`` over the weight matrices to the loss
  (L1 pushes weights to exactly 0, L2 shrinks them all in proportion). AdamW's own
  ``weight_decay`` (``TrainConfig``) is the *decoupled* form of L2 (Loshchilov & Hutter, 2019).
- ``InputNoise``: data augmentation for text, replacing a fraction of the input tokens by random
  ones while the targets stay clean (data noising, Xie et al., 2017): the same sentence never
  comes twice in the same form.
- ``EarlyStopping``: watch the validation loss, stop when it has not improved for a while
  (``lmcourse.train.train(..., early_stopping=...)``), then ``restore`` the best weights seen
  (``train`` leaves the model, and its checkpoint, at the last step).
- Dropout is part of the models themselves (``GPTConfig.dropout``).

Overfitting also shows in what a model writes: ``copied_fraction`` and ``longest_copy`` measure
how much of a sample is its training text, word for word.

The two wrappers are models too (``forward(idx, targets) -> (logits, loss)``), so they train
with ``lmcourse.train.train`` and nest: ``InputNoise(WeightPenalty(gpt, l1=1e-5), p=0.1)``.
They act only in training mode: evaluation (``eval_mode``) sees the model as it is. Like
DistributedDataParallel they keep the model as ``.module``, so a checkpoint written while
training a wrapped model holds the model itself (``lmcourse.checkpoint.unwrap``).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from lmcourse.checkpoint import unwrap
from lmcourse.utils import is_int, is_real

__all__ = [
    "EarlyStopping",
    "InputNoise",
    "WeightPenalty",
    "copied_fraction",
    "decay_parameters",
    "longest_copy",
    "weight_penalty",
]


def decay_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that regularisers shrink: the trainable ones with 2 or more dimensions.

    Weight matrices and embeddings, not biases or LayerNorm gains: the same split as
    ``lmcourse.train.configure_optimizer`` makes for AdamW's weight decay.
    """
    return [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]


def weight_penalty(model: nn.Module, l1: float = 0.0, l2: float = 0.0) -> torch.Tensor:
    """``l1 · Σ|w| + l2/2 · Σw²`` over ``decay_parameters(model)``: a scalar tensor.

    Its gradient is ``l1 · sign(w) + l2 · w``: L1 pulls every weight towards 0 by the same
    amount, L2 in proportion to its size. With plain SGD, the L2 term is exactly the
    ``weight_decay`` of ``torch.optim.SGD``.
    """
    _check_strength("l1", l1)
    _check_strength("l2", l2)
    params = decay_parameters(model)
    if not params:
        raise ValueError(f"{type(model).__name__} has no weight matrices to penalise.")
    total = params[0].new_zeros(())
    for w in params:
        if l1:
            total = total + l1 * w.abs().sum()
        if l2:
            total = total + 0.5 * l2 * w.pow(2).sum()
    return total


class WeightPenalty(nn.Module):
    """A language model whose training loss carries ``weight_penalty(model, l1, l2)``.

    ``loss = cross-entropy + l1 · Σ|w| + l2/2 · Σw²`` in training mode; in evaluation mode
    the loss is the model's own, so reported training and validation losses compare with
    those of an unpenalised model. (``History.step_loss``, the loss each step minimised,
    includes the penalty.)
    """

    def __init__(self, model: nn.Module, l1: float = 0.0, l2: float = 0.0) -> None:
        super().__init__()
        _check_strength("l1", l1)
        _check_strength("l2", l2)
        if not decay_parameters(model):
            raise ValueError(f"{type(model).__name__} has no weight matrices to penalise.")
        self.module, self.l1, self.l2 = model, float(l1), float(l2)
        self.config = getattr(model, "config", None)  # what train() reads of a GPT

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        logits, loss = self.module(idx, targets)
        if self.training and loss is not None and (self.l1 or self.l2):
            loss = loss + weight_penalty(self.module, self.l1, self.l2)
        return logits, loss

    def extra_repr(self) -> str:
        return f"l1={self.l1:g}, l2={self.l2:g}"


class InputNoise(nn.Module):
    """Data augmentation for text: while training, corrupt the inputs, keep the targets.

    Each input token is replaced, with probability ``p``, by a token drawn uniformly from the
    vocabulary; the targets (the true next tokens) stay as they were, so the model learns to
    predict the real text from a slightly damaged context. At ``p`` = 0.1 a 64-character
    window has about 6 wrong characters, a different 6 every time it is seen. Evaluation
    mode passes the inputs through untouched.

    Like dropout, it draws from torch's global generator (which ``train`` seeds).
    """

    def __init__(self, model: nn.Module, p: float, vocab_size: int | None = None) -> None:
        super().__init__()
        if not (is_real(p) and 0 <= p < 1):
            raise ValueError(f"p is the fraction of input tokens replaced, from 0 to below 1; "
                             f"got {p!r}.")  # fmt: skip
        config = getattr(model, "config", None)
        vocab_size = getattr(config, "vocab_size", None) if vocab_size is None else vocab_size
        if not (is_int(vocab_size) and vocab_size >= 1):
            raise ValueError("InputNoise needs the vocabulary size: pass vocab_size=tokenizer."
                             f"vocab_size (got {vocab_size!r}).")  # fmt: skip
        known = getattr(config, "vocab_size", None)  # (a smaller vocab_size is fine: a tokenizer's)
        if is_int(known) and vocab_size > known:
            raise ValueError(f"vocab_size {vocab_size} is more than the model's {known}: the "
                             "random ids would be outside its embedding table.")  # fmt: skip
        self.module, self.p, self.config = model, float(p), config
        self.vocab_size = int(vocab_size)

    def corrupt(self, idx: torch.Tensor) -> torch.Tensor:
        """``idx`` (B, T) with about a fraction ``p`` of its tokens replaced by random ones."""
        replace = torch.rand(idx.shape, device=idx.device) < self.p  # (B, T) booleans
        random_ids = torch.randint_like(idx, self.vocab_size)  # (B, T)
        return torch.where(replace, random_ids, idx)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        if self.training and self.p > 0:
            idx = self.corrupt(idx)
        return self.module(idx, targets)

    def extra_repr(self) -> str:
        return f"p={self.p:g}, vocab_size={self.vocab_size}"


class EarlyStopping:
    """Stop training once the validation loss has not improved for ``patience`` evaluations.

    ``update(step, val_loss, model)`` is called after each evaluation (``train`` does it when
    given ``early_stopping=``); it keeps a copy of the weights at the best validation loss so
    far, and returns True when the last ``patience`` evaluations all failed to beat that best
    by more than ``min_delta``. ``restore(model)`` then puts the best weights back: ``train``
    does not, and the checkpoint it saves at the stop holds the last step's weights. Once it
    has said stop it says stop at every call: use a new ``EarlyStopping`` for each run.

    The validation loss chooses the stopping step, so it is no longer an unbiased estimate of
    the loss on new text: report a third, untouched text (a test set) if that matters.

    Attributes:
        best_step, best_loss: where the best validation loss was seen (None before any update).
        stopped_step: the step at which ``update`` said stop (None while training goes on).
    """

    def __init__(self, patience: int = 3, min_delta: float = 0.0) -> None:
        if not (is_int(patience) and patience >= 1):
            raise ValueError(f"patience counts evaluations, an integer >= 1; got {patience!r}.")
        _check_strength("min_delta", min_delta)
        self.patience, self.min_delta = patience, float(min_delta)
        self.best_step: int | None = None
        self.best_loss = math.inf
        self.stopped_step: int | None = None
        self.bad_evaluations = 0  # evaluations since the best one
        self._best_state: dict[str, torch.Tensor] | None = None

    def update(self, step: int, val_loss: float, model: nn.Module) -> bool:
        """Record one evaluation; True means stop now (and at every call after that)."""
        if self.stopped_step is not None:
            return True
        if not (is_real(val_loss) and math.isfinite(val_loss)):
            raise ValueError(f"val_loss must be a finite number, got {val_loss!r} at step {step}.")
        if val_loss < self.best_loss - self.min_delta:
            self.best_step, self.best_loss, self.bad_evaluations = step, float(val_loss), 0
            self._best_state = copy.deepcopy(unwrap(model).state_dict())  # a copy, not a view
        else:
            self.bad_evaluations += 1
        if self.bad_evaluations >= self.patience:
            self.stopped_step = step
        return self.stopped_step is not None

    def restore(self, model: nn.Module) -> nn.Module:
        """Load the weights of the best evaluation into ``model``.

        Both methods look through wrappers (``WeightPenalty``, ``InputNoise``, DDP,
        ``torch.compile``: ``lmcourse.checkpoint.unwrap``), so ``model`` may be the one
        ``update`` saw, the model inside it, or a wrapper around it.
        """
        if self._best_state is None:
            raise ValueError("EarlyStopping has seen no evaluation yet: nothing to restore.")
        unwrap(model).load_state_dict(self._best_state)
        return model

    def __repr__(self) -> str:
        parts = [f"patience={self.patience}", f"min_delta={self.min_delta:g}"]
        if self.best_step is not None:
            parts.append(f"best_loss={self.best_loss:.4f} at step {self.best_step}")
        if self.stopped_step is not None:
            parts.append(f"stopped at step {self.stopped_step}")
        return f"EarlyStopping({', '.join(parts)})"


def copied_fraction(sample: str, training_text: str, n: int = 16) -> float:
    """The fraction of the ``n``-character substrings of ``sample`` found in ``training_text``.

    A model that learned the language writes new strings: few of its 16-character pieces
    occur in its training text. One that learned the text by heart recites it: most do.
    ``n`` = 16 is longer than most common phrases ("and the king of" has 15 characters).
    """
    if not (is_int(n) and n >= 1):
        raise ValueError(f"n must be an integer >= 1, got {n!r}.")
    if len(sample) < n:
        raise ValueError(f"the sample has {len(sample)} characters, fewer than n = {n}.")
    pieces = [sample[i : i + n] for i in range(len(sample) - n + 1)]
    return sum(piece in training_text for piece in pieces) / len(pieces)


def longest_copy(sample: str, training_text: str) -> str:
    """The longest substring of ``sample`` that occurs in ``training_text`` (the first one).

    Grows a window along the sample: if ``sample[start:end]`` occurs, so does every part of
    it, so each start needs only to try extending the best length found so far.
    """
    best_start, best_length = 0, 0
    for start in range(len(sample)):
        end = start + best_length + 1  # only a longer copy than the best so far matters
        while end <= len(sample) and sample[start:end] in training_text:
            best_start, best_length = start, end - start
            end += 1
    return sample[best_start : best_start + best_length]


def _check_strength(name: str, value: float) -> None:
    if not (is_real(value) and 0 <= value < math.inf):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
