"""Image patches as tokens: a tiny GPT that describes scikit-learn's 8×8 digits in words.

An image becomes a sequence the way a text does: cut it into P square patches (ViT's
"an image is worth 16×16 words", here 2×2 pixels), and map each patch's pixels to a vector of
C channels with one linear layer. Those P "image tokens" go in front of the caption's
characters, and one GPT reads the whole sequence::

    x = [patch_embed(patches) ; wte[idx]] + wpe[0 .. P+T-1]      (B, P+T, C)
    x = blocks(x)                        causal self-attention over image and caption
    logits = ln_f(x[:, P:]) @ wteᵀ       the caption positions only               (B, T, V)

The image is a *prefix* (as in ClipCap and LLaVA): attention is causal over the whole
sequence, so image tokens see only the patches before them, while every caption character
sees all P patches and the characters before it. The caption's first input is ``START``, so
``logits[:, 0]`` predicts the first character from the image alone; the weights from a
character's position to the patches say where the model looked while writing the next one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmcourse.gpt import GPT, GPTConfig
from lmcourse.lm import IGNORE, check_ids, eval_mode, lm_loss, model_device
from lmcourse.supervised import train_rows
from lmcourse.tokenizers import CharTokenizer
from lmcourse.utils import generator_from_seed, is_int, is_real

__all__ = [
    "END", "START", "CaptionerConfig", "ImageCaptioner", "caption_accuracy", "caption_digit",
    "caption_images", "caption_tokenizer", "digit_captions", "digits_split", "encode_captions",
    "patchify", "train_captioner", "word_to_patch_attention",
]  # fmt: skip

IMAGE_SIZE = 8  #: the digits are 8×8 pixels
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
START = "\n"  #: the caption's first input: "the caption starts here"
END = "."  #: every caption ends with it; generation stops there
Pairs = tuple[torch.Tensor, torch.Tensor]  # images (N, 8, 8) and labels (N,)


# --------------------------------------------------------------------------- data


def digits_split(val_fraction: float = 0.2, seed: int = 0) -> tuple[Pairs, Pairs]:
    """scikit-learn's 1,797 handwritten digits, shuffled with ``seed`` and split in two.

    Pixels are 0..16 in the data set; here they are divided by 16, so they lie in [0, 1].

    Returns:
        ``(train_images, train_labels), (val_images, val_labels)``: images (N, 8, 8) float32,
        labels (N,) long, the last ``round(val_fraction · 1797)`` shuffled images for validation.
    """
    from sklearn.datasets import load_digits  # ships with scikit-learn: no download

    if not is_real(val_fraction) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}.")
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32) / 16  # (N, 8, 8) in [0, 1]
    labels = torch.tensor(digits.target, dtype=torch.long)  # (N,)
    order = torch.randperm(len(labels), generator=generator_from_seed(seed))  # checks seed
    n_val = round(val_fraction * len(labels))
    train, val = order[: len(labels) - n_val], order[len(labels) - n_val :]
    return (images[train], labels[train]), (images[val], labels[val])


def _digits(labels) -> list[int]:
    """``labels`` (a 1-D tensor, array or list) as ints; a ValueError names any non-digit."""
    values = list(labels.tolist() if hasattr(labels, "tolist") else labels)
    for i, label in enumerate(values):
        if not is_int(label) or not 0 <= label <= 9:
            raise ValueError(f"labels must be digits 0 to 9, got {label!r} (at position {i}).")
    return values


def digit_captions(labels: torch.Tensor, thick: torch.Tensor | None = None) -> list[str]:
    """A short caption per label: "a seven.", "an eight.", or "a thick seven." with ``thick``.

    The article follows the sound, not the letter: "an eight" (a vowel sound), "a one" (it
    starts with a "w" sound). Nothing is said that the label or the pixels do not give: for
    ``thick``, compare each image's ink (its mean pixel) with the training images' median,
    ``ink = images.mean(dim=(1, 2)); thick = ink > train_ink.median()``.

    Example::

        >>> digit_captions(torch.tensor([7, 8, 1]))
        ['a seven.', 'an eight.', 'a one.']
        >>> digit_captions(torch.tensor([8, 8]), thick=torch.tensor([True, False]))
        ['a thick eight.', 'a thin eight.']
    """
    labels = _digits(labels)
    if thick is not None and len(thick) != len(labels):
        raise ValueError(f"thick has {len(thick)} entries for {len(labels)} labels.")
    sizes = [""] * len(labels) if thick is None else ["thick " if t else "thin " for t in thick]
    words = [size + NUMBER_WORDS[label] for size, label in zip(sizes, labels)]
    return [("an " if word.startswith("eight") else "a ") + word + END for word in words]


def caption_tokenizer() -> CharTokenizer:
    """A ``CharTokenizer`` over ``START`` and every character a caption can have.

    >>> caption_tokenizer().vocab_size  # START, " ", ".", and 18 letters
    21
    """
    digits = torch.arange(10)
    every = [*digit_captions(digits), *digit_captions(digits.repeat(2), torch.arange(20) < 10)]
    return CharTokenizer.from_text(START + "".join(every))


def caption_digit(caption: str) -> int | None:
    """The digit a caption names (its last number word), or None if it names none.

    >>> caption_digit("a thick seven."), caption_digit("a thin."), caption_digit("an eight")
    (7, None, 8)
    """
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a str, got {type(caption).__name__}.")
    words = caption.replace(END, " ").split()
    named = [NUMBER_WORDS.index(w) for w in words if w in NUMBER_WORDS]
    return named[-1] if named else None


def _check_max_len(max_len: int | None) -> None:
    if max_len is not None and (not is_int(max_len) or max_len < 1):
        raise ValueError(f"max_len must be an integer >= 1 or None, got {max_len!r}.")


def encode_captions(
    captions: list[str], tokenizer: CharTokenizer, max_len: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets for teacher forcing: ``START + caption[:-1]`` and ``caption``.

    Shorter captions are padded at the end: inputs with ``START`` (a causal model never lets
    them change an earlier position), targets with -100, which the loss ignores.

    Example (``n``, ``o``, ``e``, ``.`` ... have the tokenizer's ids)::

        >>> tok = caption_tokenizer()
        >>> idx, targets = encode_captions(["a one.", "an eight."], tok)
        >>> tok.decode(idx[0]), targets[0, 5:].tolist()
        ('\\na one\\n\\n\\n', [2, -100, -100, -100])

    Shapes:
        returns idx (B, T) and targets (B, T) long, T = the longest caption's length.
    """
    if isinstance(captions, str) or not captions:
        raise ValueError(f"no captions to encode: pass a non-empty list of str, got {captions!r}.")
    _check_max_len(max_len)
    for caption in captions:
        if not caption.endswith(END):
            raise ValueError(f"Every caption must end with {END!r}; {caption!r} does not.")
        if len(caption) > (max_len or len(caption)):
            raise ValueError(f"The caption {caption!r} has {len(caption)} characters, more than "
                             f"the model's max_len = {max_len}.")  # fmt: skip
    ids = [tokenizer.encode(caption) for caption in captions]  # names an unknown character
    T, start = max(len(i) for i in ids), tokenizer.stoi[START]
    idx = torch.full((len(ids), T), start, dtype=torch.long)  # (B, T)
    targets = torch.full((len(ids), T), IGNORE, dtype=torch.long)  # (B, T)
    for b, row in enumerate(ids):
        idx[b, 1 : len(row)] = torch.tensor(row[:-1])  # shifted right by one, after START
        targets[b, : len(row)] = torch.tensor(row)
    return idx, targets


# --------------------------------------------------------------------------- patches


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """Cut square images into patch×patch squares, row by row, each flattened row-major.

    Example: a 4×4 image 0..15 in 2×2 patches: top-left, top-right, bottom-left, bottom-right::

        >>> patchify(torch.arange(16).view(1, 4, 4), 2)
        tensor([[[ 0,  1,  4,  5],
                 [ 2,  3,  6,  7],
                 [ 8,  9, 12, 13],
                 [10, 11, 14, 15]]])

    Shapes:
        images (B, S, S) -> (B, P, patch²) with P = (S / patch)²; S = 8 for the digits.
    """
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be (B, S, S) square images, got {tuple(images.shape)}.")
    B, S, _ = images.shape
    if not is_int(patch) or patch < 1 or S % patch:
        raise ValueError(f"patch must be a whole number that divides the image side {S}, "
                         f"got {patch!r}.")  # fmt: skip
    n = S // patch  # patches per side
    x = images.reshape(B, n, patch, n, patch)  # (B, row, i, column, j)
    x = x.permute(0, 1, 3, 2, 4)  # (B, row, column, i, j)
    return x.reshape(B, n * n, patch * patch)  # (B, P, patch²)


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class CaptionerConfig:
    """The size of an ``ImageCaptioner``.

    Args:
        vocab_size: V, the caption characters (``caption_tokenizer().vocab_size``).
        patch: pixels per patch side; it must divide 8. P = (8 / patch)² image tokens.
        max_len: the most characters in a caption, ``END`` included.
        n_layer, n_head, n_embd, dropout: as in ``GPTConfig``.

    >>> CaptionerConfig(vocab_size=21, patch=2).n_patches
    16
    >>> CaptionerConfig(vocab_size=21, patch=3)
    Traceback (most recent call last):
    ...
    ValueError: patch must divide the image side 8 (1, 2, 4 or 8), got 3.
    """

    vocab_size: int
    patch: int = 2
    max_len: int = 16
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if not is_int(self.patch) or self.patch not in (1, 2, 4, 8):
            raise ValueError(f"patch must divide the image side 8 (1, 2, 4 or 8), got "
                             f"{self.patch!r}.")  # fmt: skip
        if not is_int(self.max_len) or self.max_len < 1:
            raise ValueError(f"max_len must be an integer >= 1, got {self.max_len!r}.")
        _ = self.gpt_config  # GPTConfig checks the other fields, naming the bad one

    @property
    def n_patches(self) -> int:
        """P = (8 / patch)², the number of image tokens."""
        return (IMAGE_SIZE // self.patch) ** 2

    @property
    def gpt_config(self) -> GPTConfig:
        """The GPT that reads P image tokens and then up to ``max_len`` caption characters."""
        return GPTConfig(vocab_size=self.vocab_size, block_size=self.n_patches + self.max_len,
                         n_layer=self.n_layer, n_head=self.n_head, n_embd=self.n_embd,
                         dropout=self.dropout, gelu="exact")  # fmt: skip


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 3 or images.shape[1:] != (8, 8):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a (B, 8, 8) tensor, got {shape}.")
    if not images.is_floating_point() or not ((images >= 0) & (images <= 1)).all():
        raise ValueError(f"images must be floats in [0, 1] (pixels / 16), got {images.dtype} "
                         f"from {images.min().item()} to {images.max().item()}.")  # fmt: skip


class ImageCaptioner(nn.Module):
    """A GPT whose first P tokens are image patches: ``logits, loss = model(images, idx, targets)``.

    ``patch_embed`` maps each patch's pixels to C channels (a token embedding computed from
    pixels instead of looked up in a table); the GPT adds its position embeddings to the
    whole sequence, so positions 0..P-1 are the patch positions, and runs its blocks.

    Args:
        config: a ``CaptionerConfig``.
        generator: a seeded ``torch.Generator`` for the initial weights (GPT-2's scheme).

    Shapes:
        images (B, 8, 8) in [0, 1]; idx, targets (B, T) long, T <= max_len, from
        ``encode_captions``: ``idx[:, 0]`` is ``START`` and ``logits[:, t]`` predicts the
        caption's character t from the image and ``idx[:, :t + 1]``. logits (B, T, V). With
        ``return_attn=True`` also L maps (B, H, P+T, P+T), the image tokens first.
    """

    def __init__(self, config: CaptionerConfig, generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(config, CaptionerConfig):
            raise TypeError(f"config must be a CaptionerConfig, got {type(config).__name__}.")
        self.config = config
        self.gpt = GPT(config.gpt_config, generator=generator)
        self.patch_embed = nn.Linear(config.patch**2, config.n_embd)  # a patch's pixels -> C
        nn.init.normal_(self.patch_embed.weight, 0.0, 0.02, generator=generator)
        nn.init.zeros_(self.patch_embed.bias)

    def forward(
        self, images: torch.Tensor, idx: torch.Tensor, targets: torch.Tensor | None = None,
        return_attn: bool = False,
    ):  # fmt: skip
        _check_images(images)
        check_ids(idx)
        (B, T), P = idx.shape, self.config.n_patches
        if len(images) != B:
            raise ValueError(f"{len(images)} images for {B} captions: one image per caption.")
        if T > self.config.max_len:
            raise ValueError(f"idx has {T} characters, more than max_len = {self.config.max_len}.")
        tr = self.gpt.transformer
        image_tokens = self.patch_embed(patchify(images, self.config.patch))  # (B, P, C)
        x = torch.cat([image_tokens, tr.wte(idx)], dim=1)  # (B, P+T, C)
        x = tr.drop(x + tr.wpe(P + T))  # (B, P+T, C)
        x, attn = self.gpt.run_blocks(x, return_attn)  # (B, P+T, C); L maps (B, H, P+T, P+T)
        logits = self.gpt.lm_head(tr.ln_f(x[:, P:]))  # (B, T, V): the caption positions
        loss = None if targets is None else lm_loss(logits, targets)
        return (logits, loss, attn) if return_attn else (logits, loss)


# --------------------------------------------------------------------------- use


def train_captioner(
    model: ImageCaptioner, images: torch.Tensor, captions: list[str], tokenizer: CharTokenizer,
    steps: int = 800, batch_size: int = 64, lr: float = 2e-3,
    generator: torch.Generator | None = None, progress: bool = False,
) -> list[float]:  # fmt: skip
    """AdamW on random batches of (image, caption) pairs; returns every step's loss, in eval mode.

    ``lmcourse.supervised.train_rows`` with one pair per row: each step draws ``batch_size`` pairs
    with ``generator`` and minimises the mean cross-entropy (nats per character, padding
    excluded) of their captions. Dropout is seeded from ``generator``: the same seed gives the
    same losses.
    """
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images for {len(captions)} captions.")
    idx, targets = encode_captions(captions, tokenizer, model.config.max_len)  # (N, T) each
    device = model_device(model)
    rows = images.to(device), idx.to(device), targets.to(device)  # one (image, caption) per row
    return train_rows(model, rows, steps, batch_size, lr, generator, progress)


def caption_images(
    model: ImageCaptioner, images: torch.Tensor, tokenizer: CharTokenizer,
    max_len: int | None = None,
) -> list[str]:  # fmt: skip
    """Greedy captions: from ``START``, append the most likely character until ``END``.

    Each step runs the whole sequence again (no KV cache: the captions are a dozen characters).

    Returns:
        one string per image, up to and including ``END`` (cut at ``max_len`` characters,
        ``config.max_len`` by default, if ``END`` never comes).
    """
    _check_max_len(max_len)
    _check_images(images)
    max_len = model.config.max_len if max_len is None else min(max_len, model.config.max_len)
    images = images.to(model_device(model))
    idx = torch.full((len(images), 1), tokenizer.stoi[START], device=images.device)  # (B, 1)
    end = tokenizer.stoi[END]
    with eval_mode(model):
        for _ in range(max_len):
            logits = model(images, idx)[0]  # (B, T, V)
            idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], dim=1)  # (B, T + 1)
            if (idx[:, 1:] == end).any(dim=1).all():
                break
    texts = [tokenizer.decode(row[1:]) for row in idx.cpu()]
    return [text[: text.index(END) + 1] if END in text else text for text in texts]


def caption_accuracy(
    model: ImageCaptioner, images: torch.Tensor, labels: torch.Tensor, tokenizer: CharTokenizer
) -> float:
    """The fraction of images whose greedy caption names the right digit (chance: 0.1)."""
    labels = _digits(labels)
    named = [caption_digit(c) for c in caption_images(model, images, tokenizer)]  # checks images
    if len(named) != len(labels):
        raise ValueError(f"{len(named)} images for {len(labels)} labels: one label per image.")
    return sum(n == label for n, label in zip(named, labels)) / len(named)


def word_to_patch_attention(
    model: ImageCaptioner, image: torch.Tensor, caption: str, tokenizer: CharTokenizer,
    layer: int | None = None,
) -> torch.Tensor:  # fmt: skip
    """The attention from each caption position to the P patches, per head: (H, T, P).

    Row t is the query that predicts the caption's character t (its input is ``START`` or
    character t - 1). The weights are the softmax's, not renormalised: a row's P weights
    sum to the share of its attention that goes to the image (the rest goes to the caption),
    so ``w / w.sum(-1, keepdim=True)`` is where in the image it looked. ``layer=None``
    averages the L layers; -1 is the last (as Python counts). The patches are in row-major
    order (``patchify``'s): ``w.view(H, T, 8 // patch, 8 // patch)`` lays each row on the image.

    Shapes:
        image (8, 8); returns (H, T, P), T = ``len(caption)``, P = ``config.n_patches``.
    """
    if not isinstance(image, torch.Tensor) or image.shape != (8, 8):
        raise ValueError(f"image must be one (8, 8) image, got {getattr(image, 'shape', image)}.")
    device, P, L = model_device(model), model.config.n_patches, model.config.n_layer
    if layer is not None and (not is_int(layer) or not -L <= layer < L):
        raise ValueError(f"layer must be an integer from {-L} to {L - 1} or None, got {layer!r}: "
                         f"the model has {L} layers.")  # fmt: skip
    idx, _ = encode_captions([caption], tokenizer, model.config.max_len)  # (1, T)
    with eval_mode(model):
        _, _, attn = model(image[None].to(device), idx.to(device), return_attn=True)
    weights = torch.stack(attn) if layer is None else attn[layer][None]  # (L or 1, 1, H, P+T, P+T)
    return weights.mean(0)[0, :, P:, :P].cpu()  # (H, T, P)
