"""GPT: a decoder-only transformer, read top to bottom, numerically equal to Hugging Face's GPT-2.

    x = wte[idx] + wpe[0..T-1]                       token + position embeddings   (B, T, C)
    for each of the L blocks:
        x = x + attn(ln_1(x))                        causal self-attention, H heads
        x = x + mlp(ln_2(x))                         C -> 4C -> GELU -> C
    logits = ln_f(x) @ wteᵀ                          the output head shares wte    (B, T, V)

Pre-LayerNorm blocks (the norm before each sub-layer, as in GPT-2), residual connections,
dropout, and the output head tied to the token embedding (Press & Wolf, 2017). The parameter
names are GPT-2's (``transformer.h.0.attn.c_attn.weight``, ...), so ``GPT.from_hf_gpt2`` is a
weight copy (with a transpose: GPT-2 stores its linear layers as ``Conv1D``, (in, out)).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmcourse.attention import CausalSelfAttention, KVCache, LearnedPositions
from lmcourse.lm import check_ids, lm_loss
from lmcourse.utils import hub_reachable, is_int, is_real

__all__ = [
    "GPT",
    "GPT2_CONFIGS",
    "GPT3_CONFIGS",
    "GPTConfig",
    "PretrainedUnavailableError",
    "flops_per_token",
    "num_params",
]


@dataclass(frozen=True)
class GPTConfig:
    """The size of a ``GPT``.

    Args:
        vocab_size: V, the number of distinct tokens.
        block_size: the context, the most tokens the model sees at once (T <= block_size).
        n_layer: L, the number of transformer blocks.
        n_head: H, attention heads per block; each has D = n_embd / n_head channels.
        n_embd: C, the width of the model.
        dropout: dropout probability in [0, 1) on embeddings, attention and residual branches.
        bias: biases in the linear layers and LayerNorms (GPT-2 has them).
        gelu: the MLP's GELU: ``"tanh"``, GPT-2's approximation (needed to equal GPT-2's
            outputs), or ``"exact"``, x·Φ(x) with the normal CDF Φ (nanoGPT's choice; on a CPU
            about twice as fast: ``benchmarks/train_gpt.py``). They differ by less than 1e-3.

    Example::

        >>> GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128).head_size
        32
        >>> GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=3, n_embd=128)
        Traceback (most recent call last):
        ...
        ValueError: n_embd must be a multiple of n_head: 128 is not divisible by 3.
    """

    vocab_size: int
    block_size: int
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    gelu: str = "tanh"

    def __post_init__(self) -> None:
        for field in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, field)
            if not is_int(value) or value < 1:
                raise ValueError(f"{field} must be an integer >= 1, got {value!r}.")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"n_embd must be a multiple of n_head: {self.n_embd} is not divisible by "
                f"{self.n_head}."
            )
        if not is_real(self.dropout) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}.")
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias must be True or False, got {self.bias!r}.")
        if self.gelu not in ("tanh", "exact"):
            raise ValueError(f"gelu must be 'tanh' or 'exact', got {self.gelu!r}.")

    @property
    def head_size(self) -> int:
        """D = C / H, the channels of one attention head."""
        return self.n_embd // self.n_head


def _openai(**sizes: int) -> GPTConfig:
    """One of OpenAI's GPTs: its sizes, by name, with the GPT-2 vocabulary of 50,257 tokens."""
    return GPTConfig(vocab_size=50257, **sizes)


#: The GPT-2 family as Hugging Face publishes it (``GPT.from_pretrained`` loads these).
GPT2_CONFIGS = {
    "gpt2": _openai(n_layer=12, n_head=12, n_embd=768, block_size=1024),
    "gpt2-medium": _openai(n_layer=24, n_head=16, n_embd=1024, block_size=1024),
    "gpt2-large": _openai(n_layer=36, n_head=20, n_embd=1280, block_size=1024),
    "gpt2-xl": _openai(n_layer=48, n_head=25, n_embd=1600, block_size=1024),
}

#: The eight models of the GPT-3 paper's Table 2.1 (Brown et al., 2020): context 2048, the GPT-2
#: vocabulary. Two rows of the table do not add up, and follow d_model here: GPT-3 XL prints
#: 24 heads of 128 (3072 ≠ d_model 2048; 16 heads of 128 fit) and GPT-3 13B prints d_model 5140
#: (40 heads of 128 = 5120). Notebook 07 shows that these choices reproduce the printed sizes.
GPT3_CONFIGS = {
    "gpt3-small": _openai(n_layer=12, n_head=12, n_embd=768, block_size=2048),
    "gpt3-medium": _openai(n_layer=24, n_head=16, n_embd=1024, block_size=2048),
    "gpt3-large": _openai(n_layer=24, n_head=16, n_embd=1536, block_size=2048),
    "gpt3-xl": _openai(n_layer=24, n_head=16, n_embd=2048, block_size=2048),
    "gpt3-2.7b": _openai(n_layer=32, n_head=32, n_embd=2560, block_size=2048),
    "gpt3-6.7b": _openai(n_layer=32, n_head=32, n_embd=4096, block_size=2048),
    "gpt3-13b": _openai(n_layer=40, n_head=40, n_embd=5120, block_size=2048),
    "gpt3-175b": _openai(n_layer=96, n_head=96, n_embd=12288, block_size=2048),
}


def num_params(config: GPTConfig) -> int:
    """The number of parameters of ``GPT(config)``, from the shapes alone.

    With b = 1 if ``config.bias`` else 0, per block: two LayerNorms (2·(C + bC)), attention
    (C·3C + 3bC for q, k, v; C·C + bC for the output), MLP (C·4C + 4bC, 4C·C + bC); then the
    embeddings V·C + T·C and the final LayerNorm C + bC. The output head is ``wte``: counted once.

        N = V·C + T·C + L·(12C² + 11bC + 2C) + C + bC  ≈  12·L·C²  for large models

    Example: GPT-2 small, as Hugging Face counts it::

        >>> num_params(GPT2_CONFIGS["gpt2"])
        124439808
    """
    V, T, L, C, b = config.vocab_size, config.block_size, config.n_layer, config.n_embd, config.bias
    per_block = 2 * (C + b * C) + (3 * C * C + 3 * b * C) + (C * C + b * C)  # norms, attention
    per_block += (4 * C * C + 4 * b * C) + (4 * C * C + b * C)  # the MLP
    return V * C + T * C + L * per_block + (C + b * C)


def flops_per_token(config: GPTConfig) -> int:
    """Floating-point operations to train on one token (forward and backward), as in PaLM.

    Each parameter costs a multiply and an add forward (2N) and twice that backward (4N): 6N.
    Attention adds, per layer, q·k and weights·v over a full context of T: 6 · 2 · T · C.

        F = 6·N + 12·L·T·C        (N without the position embeddings, which cost no matmul)

    Example: about 6 × 124M + 12·12·1024·768 ≈ 0.86 GFLOP per token for GPT-2 small::

        >>> flops_per_token(GPT2_CONFIGS["gpt2"])
        855166464
    """
    N = num_params(config) - config.block_size * config.n_embd
    return 6 * N + 12 * config.n_layer * config.block_size * config.n_embd


class MLP(nn.Module):
    """The feed-forward half of a block: ``dropout(c_proj(GELU(c_fc(x))))``, C -> 4C -> C.

    GELU(x) = x·Φ(x); ``config.gelu = "tanh"`` uses GPT-2's approximation
    0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (``gelu_new`` in Hugging Face), so outputs match.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        C = config.n_embd
        self.approximate = "tanh" if config.gelu == "tanh" else "none"
        self.c_fc = nn.Linear(C, 4 * C, bias=config.bias)
        self.c_proj = nn.Linear(4 * C, C, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.c_fc(x), approximate=self.approximate)  # (B, T, 4C)
        y = self.c_proj(h)  # (B, T, C)
        return self.dropout(y) if self.training else y  # (in eval: the same y, one call less)


class Block(nn.Module):
    """One transformer block, pre-LayerNorm: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``.

    ``LayerNorm(x) = γ ⊙ (x − μ) / √(σ² + ε) + β`` over one token's C channels: μ, σ² their
    mean and variance, ε = 1e-5, γ = 1 and β = 0 at first (no β when ``bias=False``).
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        C = config.n_embd
        self.ln_1 = nn.LayerNorm(C, eps=1e-5, bias=config.bias)
        self.attn = CausalSelfAttention(C, config.n_head, config.dropout, config.bias)
        self.ln_2 = nn.LayerNorm(C, eps=1e-5, bias=config.bias)
        self.mlp = MLP(config)

    def forward(
        self, x: torch.Tensor, return_attn: bool = False, cache=None, layer: int = 0
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if return_attn:  # a: (B, T, C), weights: (B, H, T, S)
            a, weights = self.attn(self.ln_1(x), return_attn=True, cache=cache, layer=layer)
        else:
            a = self.attn(self.ln_1(x), cache=cache, layer=layer)  # (B, T, C)
        x = x + a  # the residual stream: each sub-layer adds to it
        x = x + self.mlp(self.ln_2(x))  # (B, T, C)
        return (x, weights) if return_attn else x


class PretrainedUnavailableError(RuntimeError):
    """Pretrained weights could not be loaded (offline, or not installed): the message says why."""


class GPT(nn.Module):
    """A GPT language model with the course's interface: ``logits, loss = model(idx, targets)``.

    Args:
        config: a ``GPTConfig``.
        generator: a seeded ``torch.Generator`` for the initial weights. GPT-2's initialisation:
            weights N(0, 0.02²), biases 0, LayerNorms 1 and 0, and the two projections that
            write to the residual stream (``attn.c_proj``, ``mlp.c_proj``) N(0, (0.02/√(2L))²),
            so the stream's variance does not grow with depth.

    With ``cache=KVCache(L)`` the model continues the tokens already in the cache: ``idx``
    holds only the new ones, at positions ``len(cache)`` onwards (generation, one token a step).

    Shapes:
        idx, targets: (B, T) long with T <= block_size; logits: (B, T, V). With
        ``return_attn=True`` also a list of L attention maps, (B, H, T, S) each (S = T without
        a cache).
    """

    def __init__(self, config: GPTConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}.")
        self.config = config
        C = config.n_embd
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, C),  # token embeddings (V, C)
                wpe=LearnedPositions(config.block_size, C),  # position embeddings (block_size, C)
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(Block(config) for _ in range(config.n_layer)),
                ln_f=nn.LayerNorm(C, eps=1e-5, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(C, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied: one (V, C) matrix, read twice
        self._init_weights(generator)

    @torch.no_grad()
    def _init_weights(self, generator: torch.Generator | None) -> None:
        residual_std = 0.02 / (2 * self.config.n_layer) ** 0.5
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, residual_std, generator=generator)
            elif p.ndim == 2:  # embeddings and the other linear layers
                nn.init.normal_(p, 0.0, 0.02, generator=generator)
            elif name.endswith("bias"):
                nn.init.zeros_(p)  # (LayerNorm weights keep their initial 1)

    def _check_length(self, idx: torch.Tensor, start: int) -> None:
        """``idx``'s shape and dtype, and its T tokens after ``start`` within the context."""
        check_ids(idx)  # (the range of the ids is checked by the embedding, in forward)
        T, context = idx.shape[1], self.config.block_size
        if start + T > context:
            seen = f"the cache holds {start} tokens and " if start else ""
            raise ValueError(
                f"{seen}idx has {T} tokens, more than the model's context, block_size = "
                f"{context}: pass at most the last {context - start}."
            )

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        return_attn: bool = False,
        cache: KVCache | None = None,
    ):
        start = 0 if cache is None else len(cache)  # tokens already in the cache
        self._check_length(idx, start)
        B, T = idx.shape
        tr = self.transformer
        try:
            tokens = tr.wte(idx)  # (B, T, C)
        except IndexError:  # an id outside [0, V) (on the CPU; a GPU stops with an assert)
            check_ids(idx, self.config.vocab_size)  # raises, naming the range
            raise
        x = tokens + tr.wpe(T, start)  # (B, T, C): (B, T, C) + (T, C) broadcast
        x = tr.drop(x) if self.training else x  # (in eval: the same x, one call less)
        x, attn = self.run_blocks(x, return_attn, cache)  # (B, T, C); L maps (B, H, T, S)
        logits = self.lm_head(tr.ln_f(x))  # (B, T, V)
        loss = None if targets is None else lm_loss(logits, targets)
        return (logits, loss, attn) if return_attn else (logits, loss)

    def run_blocks(self, x: torch.Tensor, return_attn: bool = False, cache: KVCache | None = None):
        """The L blocks on embedded tokens x (B, T, C), before ``ln_f``: x (B, T, C), and the L
        attention maps (B, H, T, S) if ``return_attn`` (else []). ``forward`` runs them on
        token embeddings, the image captioner (``lmcourse.multimodal``) on patches, then text."""
        attn = []
        for layer, block in enumerate(self.transformer.h):
            if return_attn:
                x, weights = block(x, return_attn=True, cache=cache, layer=layer)  # + (B, H, T, S)
                attn.append(weights)
            else:
                x = block(x, cache=cache, layer=layer)  # (B, T, C)
        return x, attn

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())

    # ----------------------------------------------------------------------- GPT-2 weights

    @classmethod
    def from_hf_gpt2(cls, hf_model: nn.Module) -> GPT:
        """A ``GPT`` with the weights of a ``transformers.GPT2LMHeadModel``, in their dtype.

        GPT-2's ``Conv1D`` layers store (in, out) matrices; ``nn.Linear`` stores (out, in), so
        those four weights are transposed. Dropout is 0 (a loaded model is for inference; make a
        new config to fine-tune with dropout).
        """
        hf_config = getattr(hf_model, "config", None)
        if getattr(hf_config, "model_type", None) != "gpt2":
            raise TypeError(f"hf_model must be a transformers GPT-2 model, got {type(hf_model)}.")
        if hf_config.activation_function not in ("gelu_new", "gelu_pytorch_tanh"):
            raise ValueError(
                f"GPT uses tanh-GELU; this model uses {hf_config.activation_function}."
            )
        if abs(hf_config.layer_norm_epsilon - 1e-5) > 1e-12:
            raise ValueError(f"GPT uses LayerNorm eps 1e-5, not {hf_config.layer_norm_epsilon}.")
        for name, ours in (("tie_word_embeddings", True), ("scale_attn_weights", True),
                           ("scale_attn_by_inverse_layer_idx", False),
                           ("reorder_and_upcast_attn", False)):  # fmt: skip
            if getattr(hf_config, name, ours) != ours:  # GPT has no such switch: refuse
                raise ValueError(f"GPT cannot hold a GPT-2 with {name}={not ours}.")
        if getattr(hf_config, "n_inner", None) not in (None, 4 * hf_config.n_embd):
            raise ValueError(f"GPT's MLP is 4·n_embd wide, this GPT-2's {hf_config.n_inner}.")
        config = GPTConfig(
            vocab_size=hf_config.vocab_size,
            block_size=hf_config.n_positions,
            n_layer=hf_config.n_layer,
            n_head=hf_config.n_head,
            n_embd=hf_config.n_embd,
        )
        theirs = {k: v for k, v in hf_model.state_dict().items() if not k.endswith(".attn.bias")}
        model = cls(config).to(theirs["transformer.wte.weight"].dtype)  # equal logits
        conv1d = ("c_attn.weight", "c_proj.weight", "c_fc.weight")  # attention's and the MLP's
        ours = model.state_dict()
        missing = sorted(set(ours) - set(theirs))
        if missing:
            raise ValueError(f"the GPT-2 state dict lacks {missing[:3]} ...")
        with torch.no_grad():
            for name, tensor in ours.items():
                weight = theirs[name].t() if name.endswith(conv1d) else theirs[name]
                tensor.copy_(weight)
        return model

    @classmethod
    def from_pretrained(cls, name: str = "gpt2", download: bool = True) -> GPT:
        """OpenAI's GPT-2 weights from the Hugging Face hub (a download of 0.5 to 6 GB, once).

        Uses a copy already in the Hugging Face cache when there is one. Otherwise it downloads
        the weights, unless ``download`` is False (notebook 07's default: nothing downloads
        unless the learner asks). Offline, or with ``download=False`` and no cached copy, it
        fails at once with ``PretrainedUnavailableError``; the rest of the course needs no
        download.
        """
        if name not in GPT2_CONFIGS:
            raise ValueError(f"name must be one of {list(GPT2_CONFIGS)}, got {name!r}.")
        if not isinstance(download, bool):
            raise ValueError(f"download must be True or False, got {download!r}.")
        try:
            from transformers import GPT2LMHeadModel
        except ImportError as error:
            raise PretrainedUnavailableError(
                "loading GPT-2 needs the transformers package: pip install transformers"
            ) from error
        try:
            return cls.from_hf_gpt2(GPT2LMHeadModel.from_pretrained(name, local_files_only=True))
        except OSError:
            pass  # not in the cache: download it, if allowed and the hub can be reached
        if not download:
            raise PretrainedUnavailableError(
                f"{name!r} is not in the Hugging Face cache, and downloading is off: "
                f"GPT.from_pretrained({name!r}, download=True) fetches it (about "
                f"{4 * num_params(GPT2_CONFIGS[name]) / 1e9:.1f} GB of float32 weights)."
            )
        if not hub_reachable("huggingface.co"):
            raise PretrainedUnavailableError(
                f"cannot download {name!r}: huggingface.co cannot be reached (offline?). Nothing "
                "else in the course needs the network; run this cell again when online."
            )
        try:
            return cls.from_hf_gpt2(GPT2LMHeadModel.from_pretrained(name))
        except OSError as error:
            raise PretrainedUnavailableError(f"downloading {name!r} failed: {error}") from error
