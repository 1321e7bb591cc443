"""Named GPT training recipes (``ci``, ``cpu``, ``gpu``, ``ship``) and ``train_gpt`` to run one.

A preset is a model size and a ``TrainConfig``, a named constant: the notebook, the
``lmcourse train`` command, ``python -m lmcourse.train`` and ``torchrun`` all read the same ones.

- ``ci``: a few seconds, so the test suite can run the notebook and the command end to end.
- ``cpu``: nanoGPT's CPU recipe for Shakespeare characters: 4 layers, 4 heads, 128 wide,
  context 64, batch 12, 2000 steps, lr 1e-3 with warmup 100 and cosine decay to 1e-4.
- ``gpu``: nanoGPT's "baby GPT": 6 layers, 6 heads, 384 wide, context 256, batch 64, dropout
  0.2, 5000 steps.
- ``ship``: the model shipped inside the package (``lmcourse.load_pretrained``): 4 layers,
  4 heads, 192 wide, context 128, batch 32, 4000 steps, trained on 2 CPU cores.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from lmcourse.bpe import BPETokenizer, split_text, train_bpe
from lmcourse.data import load_text, train_val_split
from lmcourse.gpt import GPT, GPTConfig
from lmcourse.tokenizers import CharTokenizer
from lmcourse.train import History, TrainConfig, train

__all__ = ["PRESETS", "Preset", "train_gpt"]


_MODEL_FIELDS = {"n_layer", "n_head", "n_embd", "dropout", "bias", "gelu"}  # a Preset's sizes
_TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}

#: A BPE chunk longer than this many characters gets a warning that training will be slow
#: (tiny-shakespeare's longest chunk is 27 characters).
SLOW_BPE_CHUNK = 10_000


@dataclass(frozen=True)
class Preset:
    """A GPT's size and its training recipe; the context is ``train.block_size``."""

    name: str
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float
    bias: bool
    train: TrainConfig
    description: str = ""
    gelu: str = "exact"  # nanoGPT's GELU (GPT-2's tanh approximation is slower on CPUs)

    def with_changes(self, **changes) -> Preset:
        """A copy with some settings replaced: model sizes and ``TrainConfig`` fields, by name.

        Presets are frozen, so a changed recipe is a new one (``dataclasses.replace``, for the
        preset and for its ``train`` config)::

            >>> small = PRESETS["cpu"].with_changes(n_layer=2, max_steps=100)
            >>> small.n_layer, small.train.max_steps, PRESETS["cpu"].n_layer
            (2, 100, 4)
        """
        unknown = set(changes) - _MODEL_FIELDS - _TRAIN_FIELDS
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(_MODEL_FIELDS)} "
                             f"and the TrainConfig fields {sorted(_TRAIN_FIELDS)}.")  # fmt: skip
        train = dataclasses.replace(
            self.train, **{k: v for k, v in changes.items() if k in _TRAIN_FIELDS}
        )
        model = {k: v for k, v in changes.items() if k in _MODEL_FIELDS}
        return dataclasses.replace(self, train=train, **model)

    def gpt_config(self, vocab_size: int) -> GPTConfig:
        """The model's config for a vocabulary of ``vocab_size`` tokens."""
        return GPTConfig(vocab_size, self.train.block_size, self.n_layer, self.n_head,
                         self.n_embd, self.dropout, self.bias, self.gelu)  # fmt: skip


# nanoGPT's train_shakespeare_char recipe: AdamW with beta2 0.99, weight decay 0.1, clip 1.
_RECIPE = dict(learning_rate=1e-3, min_lr=1e-4, warmup_steps=100, weight_decay=0.1, beta2=0.99,
               grad_clip=1.0)  # fmt: skip

PRESETS = {
    "ci": Preset("ci", n_layer=2, n_head=2, n_embd=32, dropout=0.0, bias=False,
                 train=TrainConfig(max_steps=30, batch_size=8, block_size=32, eval_interval=10,
                                   eval_batches=2, **_RECIPE | {"warmup_steps": 5}),
                 description="seconds: for the test suite"),
    "cpu": Preset("cpu", n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False,
                  train=TrainConfig(max_steps=2000, batch_size=12, block_size=64,
                                    eval_interval=250, eval_batches=20, **_RECIPE),
                  description="minutes on a laptop or Binder: nanoGPT's CPU recipe"),
    "gpu": Preset("gpu", n_layer=6, n_head=6, n_embd=384, dropout=0.2, bias=False,
                  train=TrainConfig(max_steps=5000, batch_size=64, block_size=256,
                                    eval_interval=250, eval_batches=200, compile=True, **_RECIPE),
                  description="minutes on one GPU: nanoGPT's baby GPT"),
    "ship": Preset("ship", n_layer=4, n_head=4, n_embd=192, dropout=0.0, bias=False,
                   train=TrainConfig(max_steps=4000, batch_size=32, block_size=128,
                                     eval_interval=500, eval_batches=20, compile=True, **_RECIPE),
                   description="the shipped model: about 27 minutes on 2 CPU cores"),
}  # fmt: skip


def train_gpt(
    preset: str | Preset = "cpu",
    corpus: str = "tiny-shakespeare",
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    bpe_vocab_size: int | None = None,
    **overrides,
) -> tuple[GPT, CharTokenizer | BPETokenizer, History]:
    """Train a GPT on ``corpus`` with a preset; return model, tokenizer, history.

    Args:
        preset: a name of ``PRESETS`` or a ``Preset``.
        corpus: a corpus name of ``lmcourse.data`` or the path of a UTF-8 text file.
        out_dir: where the checkpoint and ``metrics.jsonl`` go (None: nowhere).
        resume: continue from ``out_dir/ckpt.pt`` when it exists.
        bpe_vocab_size: None for a GPT over characters; a number (>= 256) for one over byte-level
            BPE tokens, a vocabulary of that size learned on the training text (notebook 11).
        overrides: ``TrainConfig`` fields (``max_steps=100``, ``device="cuda"``) and model sizes
            (``n_layer``, ``n_head``, ``n_embd``, ``dropout``, ``bias``) that replace the preset's.

    The split is the course's: the first 90% of the text for training, the rest for validation.
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {list(PRESETS)}, got {preset!r}.")
        preset = PRESETS[preset]
    if not isinstance(preset, Preset):
        raise ValueError(f"preset must be a name of {list(PRESETS)} or a Preset, got {preset!r}.")
    preset = preset.with_changes(**overrides)
    train_config = preset.train
    text = load_text(corpus)
    tokenizer, train_data, val_data = _tokenize(text, str(corpus), train_config.block_size,
                                                bpe_vocab_size)  # fmt: skip
    generator = torch.Generator().manual_seed(train_config.seed)
    model = GPT(preset.gpt_config(tokenizer.vocab_size), generator=generator)
    history = train(model, train_data, val_data, train_config, progress=progress,
                    out_dir=out_dir, resume=resume, tokenizer=tokenizer,
                    corpus=str(corpus))  # fmt: skip
    return model, tokenizer, history


def _tokenize(text: str, corpus: str, T: int, bpe_vocab_size: int | None):
    """The tokenizer and the token ids of the two splits, each longer than a window of ``T``.

    Characters: the text's characters, then the ids split 90/10. BPE: the text split 90/10 first
    (a token never straddles the two), the merges learned on the training part alone.
    """
    if len(text) < 10 * (T + 1):  # a window needs T inputs and one more token as a target
        raise ValueError(
            f"the validation part of {corpus!r} (the last 10% of its {len(text):,} characters) "
            f"is too short for a context of {T}, which needs {T + 1}: use a text of at least "
            f"{10 * (T + 1):,} characters."
        )
    if bpe_vocab_size is None:
        tokenizer = CharTokenizer.from_text(text)
        train_data, val_data = train_val_split(torch.tensor(tokenizer.encode(text)))
        return tokenizer, train_data, val_data  # (the 10% hold T + 1 and the 90% more)
    train_text, val_text = train_val_split(text)
    longest = max(map(len, split_text(train_text)), default=0)
    if longest > SLOW_BPE_CHUNK:  # a text with few places to cut: DNA, base64, a minified file
        warnings.warn(
            f"the longest chunk of {corpus!r} (the text between the spaces, line breaks and "
            f"punctuation where BPE cuts it) is {longest:,} characters: BPE training may take "
            "minutes, as each merge re-reads that chunk. A text with spaces or line breaks "
            "trains in seconds.",
            stacklevel=3,  # at the line that called train_gpt
        )
    tokenizer = train_bpe(train_text, bpe_vocab_size)
    train_data, val_data = (torch.tensor(tokenizer.encode(part)) for part in (train_text, val_text))
    for split, part in (("training", train_data), ("validation", val_data)):
        if len(part) <= T:  # BPE tokens hold several characters each
            raise ValueError(f"the {split} part of {corpus!r} is {len(part):,} BPE tokens, but a "
                             f"context of {T} needs {T + 1}: use a longer text.")  # fmt: skip
    return tokenizer, train_data, val_data
