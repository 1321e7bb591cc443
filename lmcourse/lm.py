"""What every language model of the course shares: the loss, evaluation, sampling, n-gram adapter.

Every neural LM has one interface::

    logits, loss = model(idx, targets)      # idx, targets: (B, T) long; logits: (B, T, V)

``logits[b, t]`` scores the token that follows ``idx[b, :t + 1]``, and ``loss`` is the mean
cross-entropy over all B·T positions (``None`` without targets). So one ``evaluate``, one
``generate`` (``lmcourse.sampling.generate``, also importable from here) and one training loop
(``lmcourse.train``) serve the bigram table through GPT, and
``NGramModule`` puts a count-based ``NGramLM`` behind the same interface.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lmcourse.data import as_token_ids
from lmcourse.ngram import BOS, EOS, UNK, UNK_ID, NGramLM
from lmcourse.sampling import _context_size, generate  # generate: one sampler, for every model
from lmcourse.tokenizers import CharTokenizer, unknown_characters
from lmcourse.utils import get_device, is_int

__all__ = [
    "IGNORE", "NGramModule", "bits_per_character", "bits_per_token", "check_ids", "eval_mode",
    "evaluate", "generate", "lm_loss", "model_device", "next_token_logits", "prompt_ids",
]  # fmt: skip


#: A target that no loss is computed for (``F.cross_entropy``'s ``ignore_index``): the padding
#: of rows, and the prompt of an example whose answer alone is learned (notebooks 14 and 15).
IGNORE = -100


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the next-token predictions, in nats.

    ``loss = -(1 / |M|) Σ_{(b,t) ∈ M} log softmax(logits[b, t])[targets[b, t]]``, with M the
    positions whose target is not ``IGNORE``: all B·T of them when nothing is ignored.

    Shapes:
        logits: (B, T, V); targets: (B, T) long; loss: a scalar.

    Example: two equal logits give each token probability 1/2, so the loss is ln 2::

        >>> loss = lm_loss(torch.zeros(1, 1, 2), torch.tensor([[1]]))
        >>> round(loss.item(), 6), round(math.log(2), 6)
        (0.693147, 0.693147)
    """
    B, T, V = logits.shape
    check_ids(targets, name="targets", shape=(B, T))
    try:
        return F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))  # (B·T, V), (B·T,)
    except IndexError:  # (on the CPU; a GPU stops with a device-side assert instead)
        low, high = int(targets.min()), int(targets.max())
        raise ValueError(
            f"targets must be ids in [0, {V}) (the model's vocab_size), got {low}..{high}."
        ) from None


def check_ids(
    ids: torch.Tensor, vocab_size: int | None = None, name: str = "idx", shape=None
) -> None:
    """ValueError, in words, unless ``ids`` is a (B, T) integer tensor of token ids.

    Checks the shape (``shape`` if given, else any (B, T) with B, T >= 1) and the dtype; with
    ``vocab_size`` also the range [0, vocab_size), which reads the tensor (a GPU waits for it),
    so a model's training step leaves the range to the embedding's own check.
    """
    if not isinstance(ids, torch.Tensor):
        raise ValueError(f"{name} must be a (B, T) tensor of token ids, got {type(ids).__name__}.")
    size = tuple(ids.shape)
    if ids.dtype not in (torch.long, torch.int) or len(size) != 2 or 0 in size:
        raise ValueError(
            f"{name} must be a (B, T) torch.long tensor of token ids with B, T >= 1, got "
            f"{ids.dtype} {size}."
        )
    if shape is not None and size != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (idx's), got {size}.")
    if vocab_size is not None and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(
            f"{name} must be ids in [0, {vocab_size}) (the model's vocab_size), got "
            f"{int(ids.min())}..{int(ids.max())}."
        )


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer; the CPU if it has neither."""
    tensor = next(iter([*model.parameters(), *model.buffers()]), None)
    return torch.device("cpu") if tensor is None else tensor.device


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the ``with``: ``model.eval()`` (dropout off) and no gradients; then the old mode.

    Example::

        >>> model = nn.Dropout(0.5)
        >>> with eval_mode(model):
        ...     model.training
        False
        >>> model.training
        True
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def prompt_ids(model: nn.Module, tokenizer, text: str, what: str = "prompt") -> torch.Tensor:
    """``text`` as a (1, T) long tensor on the model's device, or a ValueError in words.

    An empty text, or characters outside the vocabulary of a tokenizer without an unknown
    token, are named in the message (``what`` says what the text is: "prompt", "text").
    """
    if not text:
        raise ValueError(
            f"The {what} is empty: type at least one character for the model to start from "
            "(a newline works: the start of a speech)."
        )
    unknown = unknown_characters(tokenizer, text)
    if unknown:
        shown = ", ".join(repr(c) for c in unknown)
        raise ValueError(
            f"The {what} has characters outside the model's vocabulary: {shown}. Remove or "
            f"replace them (the model knows {tokenizer.vocab_size} characters)."
        )
    return torch.tensor([tokenizer.encode(text)], dtype=torch.long, device=model_device(model))


def next_token_logits(model: nn.Module, tokenizer, text: str) -> torch.Tensor:
    """The model's logits for the token after ``text``: ``model(text)[-1]``.

    A model with a maximum context (``config.block_size``) sees the text's last ``block_size``
    characters. ``softmax`` of the result is the next-token distribution.

    Shapes:
        returns (V,), float32 on the CPU.
    """
    idx = prompt_ids(model, tokenizer, text)  # the whole text is checked; (1, T)
    block_size = _context_size(model, None)
    idx = idx if block_size is None else idx[:, -block_size:]  # (1, min(T, block_size))
    with eval_mode(model):
        logits, _ = model(idx)[:2]  # (1, T, V)
    return logits[0, -1].float().cpu()  # (V,)


# --------------------------------------------------------------------------- evaluation


def _token_tensor(data: torch.Tensor) -> torch.Tensor:
    data = as_token_ids(data)  # refuses text (not yet encoded), floats, other shapes
    if len(data) < 2:
        raise ValueError(f"data has {len(data)} token(s); a prediction needs at least 2.")
    return data.long()


def _windows(
    data: torch.Tensor, block_size: int, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of consecutive, non-overlapping windows that cover every prediction once.

    The ``len(data) - 1`` predictions make ``full`` windows of ``block_size`` and a shorter
    last window (the tail), which comes alone as the last batch.
    """
    for name, value in (("block_size", block_size), ("batch_size", batch_size)):
        if not is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    full, tail = divmod(len(data) - 1, block_size)
    x = data[: full * block_size].view(full, block_size)  # (full, T)
    y = data[1 : full * block_size + 1].view(full, block_size)  # (full, T)
    for start in range(0, full, batch_size):
        yield x[start : start + batch_size], y[start : start + batch_size]
    if tail:
        end = full * block_size
        yield data[end : end + tail][None], data[end + 1 :][None]  # (1, tail) each


def _sliding_windows(
    data: torch.Tensor, block_size: int, stride: int, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Batches of windows of ``block_size`` whose ends are ``stride`` apart, with their scored
    positions: the first window scores all its predictions, every later one its last
    ``stride`` (the last window: what is left), so every prediction is scored once.

    Yields ``(x, y, scored)``, each (B, T); ``scored`` is a boolean mask.
    """
    if not is_int(stride) or not 1 <= stride <= block_size:
        raise ValueError(f"stride must be an integer from 1 to block_size, got {stride!r}.")
    n = len(data) - 1  # predictions
    first = min(block_size, n)
    ends = [first, *range(first + stride, n, stride)] + ([n] if n > first else [])
    T = first  # every window is this long: block_size, or the whole text if that is shorter
    for i in range(0, len(ends), batch_size):
        batch = ends[i : i + batch_size]
        x = torch.stack([data[end - T : end] for end in batch])  # (B, T)
        y = torch.stack([data[end - T + 1 : end + 1] for end in batch])  # (B, T)
        before = [ends[j - 1] if j > 0 else 0 for j in range(i, i + len(batch))]
        new = torch.tensor([end - prev for end, prev in zip(batch, before)])  # (B,) scored
        scored = torch.arange(T) >= (T - new)[:, None]  # (B, T): the last `new` of each row
        yield x, y, scored


def evaluate(
    model: nn.Module,
    data: torch.Tensor,
    block_size: int,
    batch_size: int = 64,
    max_batches: int | None = None,
    device: str | torch.device | None = None,
    stride: int | None = None,
) -> float:
    """Mean cross-entropy (nats per token) of ``model`` on ``data``: every prediction, once.

    ``data`` is cut into consecutive windows of ``block_size`` tokens that do not overlap
    (the last one may be shorter), so the result is deterministic: no random batches. Each
    window starts from scratch, so its first positions see less context than the model could
    use (an MLP's first ``context - 1``, every position of an RNN started from a zero state, a
    GPT's whole window). Compare models at the same ``block_size``; a bigger one gives a
    slightly lower loss for models that use long contexts.

    With a ``stride``, the windows overlap instead: each starts ``stride`` tokens after the one
    before and scores only its last ``stride`` predictions, so every prediction after the first
    window sees at least ``block_size - stride`` tokens of context (more forward passes: about
    ``block_size / stride`` times as many).

    Args:
        model: any LM with the ``forward(idx, targets) -> (logits, loss)`` interface.
        data: 1-D tensor of token ids (at least 2).
        block_size: T, tokens per window.
        batch_size: windows per forward pass.
        max_batches: evaluate only the first ``max_batches`` (>= 1) batches (a quick estimate).
        device: where to put the batches (default: the model's device; the model must be
            there already).
        stride: None (windows that do not overlap), or from 1 to ``block_size``.

    Runs in ``eval_mode``: dropout off, no gradients, the model's mode restored afterwards.
    """
    data = _token_tensor(data)
    device = model_device(model) if device is None else get_device(device)
    if max_batches is not None and (not is_int(max_batches) or max_batches < 1):
        raise ValueError(f"max_batches must be an integer >= 1 or None, got {max_batches!r}.")
    context = _context_size(model, None)  # a GPT's maximum context; None: no limit
    if context is not None and is_int(block_size) and block_size > context:
        raise ValueError(f"block_size {block_size} is more than the model's context ({context}).")
    if stride is None:
        batches = ((x, y, None) for x, y in _windows(data, block_size, batch_size))
    else:
        batches = _sliding_windows(data, block_size, stride, batch_size)
    total, count = 0.0, 0
    with eval_mode(model):
        for i, (x, y, scored) in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            batch_total, batch_count = _loss_sum(model, x.to(device), y.to(device), scored)
            total, count = total + batch_total, count + batch_count
    return total / count


def _loss_sum(model: nn.Module, x, y, scored: torch.Tensor | None) -> tuple[float, int]:
    """The summed loss of a batch's scored predictions (all of them for ``scored`` None)."""
    if scored is None:
        _, loss = model(x, y)
        return loss.item() * y.numel(), y.numel()  # the loss is a mean: weight it by its size
    logits = model(x)[0]  # (B, T, V)
    # (B, V, T): cross_entropy wants the classes in dim 1; losses (B, T), one per position
    losses = F.cross_entropy(logits.transpose(1, 2).float(), y, reduction="none")
    return losses[scored.to(losses.device)].sum().item(), int(scored.sum())


def bits_per_token(
    model: nn.Module,
    data: torch.Tensor,
    block_size: int,
    batch_size: int = 64,
    max_batches: int | None = None,
    device: str | torch.device | None = None,
    stride: int | None = None,
) -> float:
    """``evaluate(...) / ln 2``: the same cross-entropy in bits (bits per character for chars)."""
    return evaluate(model, data, block_size, batch_size, max_batches, device, stride) / math.log(2)


def bits_per_character(
    model: nn.Module, tokenizer, text: str, block_size: int, batch_size: int = 64,
    stride: int | None = None,
) -> float:  # fmt: skip
    """Bits per character of ``text``: the one unit in which any two tokenizers compare.

    A model over tokens of several characters (BPE) pays for a whole token with one
    prediction, so its bits per token are not comparable with a character model's. Summed over
    the text they are: ``bits/char = Σ_tokens −log2 p(token | context) / characters``. The
    first token has no context and is not predicted, so the characters it spells are not
    counted; for a ``CharTokenizer`` this equals ``bits_per_token``. The tokens must spell the
    text back (a ``WordTokenizer`` drops spaces and has ``<unk>``: its bits are not the text's).
    """
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    if tokenizer.decode(ids.tolist()) != text:  # an <unk>, a dropped space
        raise ValueError(f"{tokenizer!r} does not spell the text back (decode(encode(text)) != "
                         "text), so its bits are not the text's: use a CharTokenizer without unk "
                         "or a BPETokenizer, or bits_per_token.")  # fmt: skip
    if len(ids) < 2:
        raise ValueError(f"The text ({len(text)} characters) is {len(ids)} token(s) long: bits "
                         "per character need at least 2 tokens, one to predict from.")  # fmt: skip
    predictions = len(ids) - 1  # evaluate scores every token after the first, once
    nats = evaluate(model, ids, block_size, batch_size, stride=stride) * predictions
    first = tokenizer.decode(ids[:1].tolist()).rstrip("\ufffd")  # a part-character spells none
    return nats / math.log(2) / (len(text) - len(first))


# --------------------------------------------------------------------------- n-gram adapter


class NGramModule(nn.Module):
    """A fitted character ``NGramLM`` behind the neural LM interface, over a tokenizer's ids.

    ``logits[b, t] = log P(c | the n-1 characters ending at t)`` for every character c of the
    tokenizer, so ``evaluate``, ``generate`` and the leaderboard treat it like any network.

    Two things differ from the n-gram model itself:

    - Vocabulary. The n-gram's UNK, BOS and EOS are not characters: their probabilities are
      dropped and the characters' renormalised. A tokenizer character the n-gram never saw
      (a digit only in the validation text) is UNK to it; the k such characters share UNK's
      probability equally (each gets ``P(UNK | c) / k``) before the renormalisation. Where
      nothing is left (MLE, a context only ever followed by EOS) the row is uniform.
    - Context. Before the first token of a window the context is padded with BOS, as
      ``NGramLM`` pads a sentence, so every window is scored as if a text started there.
      ``NGramLM.cross_entropy([text])`` scores the text as one sequence (BOS only at its start)
      and also predicts EOS at its end, so its bits per token differ slightly from
      ``bits_per_token(NGramModule(...), ...)``, which scores exactly the predictions that
      every neural model makes.

    It has no trainable parameters: it is fitted by counting, not by ``train``.

    Args:
        ngram_lm: a fitted ``NGramLM`` over characters (``lm.fit([text])``).
        tokenizer: the ``CharTokenizer`` whose ids the inputs and logits use.

    Shapes:
        idx, targets: (B, T) long; logits: (B, T, V), V = ``tokenizer.vocab_size``.
    """

    def __init__(self, ngram_lm: NGramLM, tokenizer: CharTokenizer) -> None:
        super().__init__()
        if not isinstance(ngram_lm, NGramLM):
            raise TypeError(f"ngram_lm must be a fitted NGramLM, got {type(ngram_lm).__name__}.")
        if not isinstance(tokenizer, CharTokenizer):
            raise TypeError(f"tokenizer must be a CharTokenizer, got {type(tokenizer).__name__}.")
        words = [t for t in ngram_lm.vocab if t not in (UNK, BOS, EOS) and len(t) != 1]
        if words:
            raise ValueError(
                f"ngram_lm must be a character model; its vocabulary has {words[0]!r}."
            )
        self.ngram_lm, self.tokenizer = ngram_lm, tokenizer
        # The n-gram id of each tokenizer id; characters the n-gram never saw are UNK to it.
        self._ngram_ids = np.array([ngram_lm.stoi.get(c, UNK_ID) for c in tokenizer.chars])
        unknown = self._ngram_ids == UNK_ID
        self._share = np.where(unknown, 1.0 / max(unknown.sum(), 1), 1.0)  # (V,)

    def _next_char_probs(self, context_ids: tuple[int, ...]) -> np.ndarray:
        """P(c | context) over the tokenizer's characters, (V,); the context in n-gram ids."""
        context = [self.ngram_lm.vocab[i] for i in context_ids]
        p = self.ngram_lm.next_token_probs(context)[self._ngram_ids] * self._share  # (V,)
        total = p.sum()
        return p / total if total > 0 else np.full(len(p), 1.0 / len(p))

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T = idx.shape
        k = self.ngram_lm.n - 1  # context length
        ids = self._ngram_ids[idx.cpu().numpy()]  # (B, T) n-gram ids
        bos = self.ngram_lm.stoi.get(BOS, UNK_ID)  # (n = 1 has no BOS, and no context either)
        padded = np.concatenate([np.full((B, k), bos), ids], axis=1)  # (B, k + T)
        # position t sees padded[t + 1 : t + k + 1], the k tokens ending at t
        windows = np.lib.stride_tricks.sliding_window_view(padded, k + 1, axis=1)  # (B, T, k+1)
        contexts = windows[:, :, 1:].reshape(B * T, k)  # (B*T, k)
        # Score each distinct context once: a text has far fewer of them than positions.
        unique, inverse = np.unique(contexts, axis=0, return_inverse=True)  # (U, k), (B*T,)
        table = np.stack([self._next_char_probs(tuple(c)) for c in unique.tolist()])  # (U, V)
        probs = torch.from_numpy(table[inverse.reshape(-1)]).view(B, T, -1)  # (B, T, V)
        logits = probs.log().float().to(idx.device)  # log 0 = -inf: impossible
        loss = None if targets is None else lm_loss(logits, targets)
        return logits, loss

    def extra_repr(self) -> str:
        return f"n={self.ngram_lm.n}, vocab_size={self.tokenizer.vocab_size}"
