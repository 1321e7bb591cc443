"""``lmcourse sample``: print a prompt and its continuation, sampled from a checkpoint's model.

    lmcourse sample --checkpoint runs/cpu --prompt "ROMEO:" --temperature 0.8 --top-k 20

Every argument is checked before the model is loaded, and every mistake is one line on stderr
with exit status 2 (``lmcourse sample: error: ...``), as in the rest of ``lmcourse.cli``.
"""

from __future__ import annotations

import argparse
import sys

from lmcourse.cli import _fail, _reader_gone

__all__ = ["add_sample"]


def _check_sample_args(args: argparse.Namespace) -> None:
    import math

    if args.max_new_tokens < 0:
        _fail("sample", f"--max-new-tokens must be >= 0, got {args.max_new_tokens}.")
    if not 0 <= args.temperature < math.inf:
        _fail("sample", f"--temperature must be a number >= 0 (0: greedy), got {args.temperature}.")
    _check_utf8(args.prompt)  # (first: its byte offsets are those of the prompt as typed)
    # as in corpus files (lmcourse.data.load_text): Windows' and old Macs' line ends are "\n"
    args.prompt = args.prompt.replace("\r\n", "\n").replace("\r", "\n")
    if not args.prompt:
        _fail("sample", "--prompt is empty: give at least one character (default: a newline).")
    if args.top_k is not None and args.top_k < 1:
        _fail("sample", f"--top-k must be an integer >= 1 (1: greedy), got {args.top_k}.")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        _fail("sample", f"--top-p must be a number in (0, 1] (1: no filter), got {args.top_p}.")
    from lmcourse.utils import generator_from_seed

    try:
        generator_from_seed(args.seed)
    except ValueError as error:
        _fail("sample", f"--seed: {error}")


def _check_utf8(prompt: str) -> None:
    """Refuse a prompt with a lone surrogate: a byte that was not UTF-8 on the command line.

    Python keeps such a byte as a code point U+DC80 to U+DCFF (``'\\udcff'`` for 0xFF), which
    no tokenizer can encode: a BPE one would fail deep inside, a character one show the code.
    """
    bad = next((i for i, c in enumerate(prompt) if "\ud800" <= c <= "\udfff"), None)
    if bad is not None:
        code, offset = ord(prompt[bad]), len(prompt[:bad].encode("utf-8"))  # (no surrogate before)
        what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"U+{code:04X}"
        _fail("sample", f"the prompt is not valid UTF-8 ({what} at byte offset {offset}); give "
                        "it as UTF-8 text (a terminal set to UTF-8, or a file's text converted, "
                        "e.g. `iconv -f latin1 -t utf-8`).")  # fmt: skip


def _load_for_sampling(source: str, device: str | None):
    """The model (on ``device``), the tokenizer and the device: ``lmcourse.pretrained.load_model``.

    ``source`` is a checkpoint, a run's folder (its ``ckpt.pt``), or a shipped model's name.
    """
    from lmcourse.pretrained import load_model
    from lmcourse.utils import get_device

    try:
        device = get_device(device)
        model, tokenizer, _ = load_model(source, device)
    except (FileNotFoundError, ValueError) as error:  # CheckpointError is a ValueError
        _fail("sample", str(error))
    return model, tokenizer, device


def _check_model(args: argparse.Namespace, model, tokenizer) -> None:
    """Refuse weights that are NaN or inf, and a prompt with characters the model never saw."""
    import torch

    from lmcourse.tokenizers import _describe_char, unknown_characters

    if not all(torch.isfinite(p).all() for p in model.parameters()):  # one pass over the weights
        _fail("sample", f"the model of {args.checkpoint} has weights that are not finite (NaN "
                        "or inf: its training diverged); it cannot write text.")  # fmt: skip
    unknown = unknown_characters(tokenizer, args.prompt)
    if unknown:
        chars = ", ".join(map(_describe_char, unknown))  # 'é' (U+00E9): a lone accent shows too
        _fail("sample", f"the prompt has characters outside the checkpoint's vocabulary of "
                        f"{tokenizer.vocab_size}: {chars}.")  # fmt: skip


def _sample(args: argparse.Namespace) -> int:
    _check_sample_args(args)
    import torch

    from lmcourse.sampling import stream, streaming_decoder
    from lmcourse.utils import generator_from_seed

    model, tokenizer, device = _load_for_sampling(args.checkpoint, args.device)
    _check_model(args, model, tokenizer)
    idx = torch.tensor([tokenizer.encode(args.prompt)], dtype=torch.long, device=device)  # (1, T)
    generator = generator_from_seed(args.seed)
    block_size = getattr(model.config, "block_size", None)
    tokens = stream(model, idx, args.max_new_tokens, temperature=args.temperature,
                    top_k=args.top_k, top_p=args.top_p, generator=generator,
                    block_size=block_size)  # fmt: skip
    text_of = streaming_decoder(tokenizer)
    try:
        print(tokenizer.decode(idx[0].tolist()), end="", flush=True)
        for token in tokens:  # (1, 1): each token shows as soon as it is chosen
            print(text_of(token[0].tolist()), end="", flush=True)
        print(text_of([], final=True))
    except KeyboardInterrupt:  # Ctrl-C: enough text; no traceback
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lmcourse sample ... | head`: the reader has gone; so do we
        return _reader_gone()
    except ValueError:  # the arguments were checked above: the logits were inf or nan
        print()  # end the line of text
        _fail("sample", f"the model of {args.checkpoint} gives outputs that are not finite "
                        "(its weights may be NaN: training diverged).")  # fmt: skip
    return 0


def add_sample(commands) -> None:
    """The ``sample`` subcommand and its options, on ``commands`` (argparse's subparsers)."""
    sample = commands.add_parser(
        "sample", help="generate text from a checkpoint",
        description="Print the prompt and a continuation sampled from a checkpoint's model, "
        "token by token as the model writes it (a character at a time for a character model).",
    )  # fmt: skip
    add = sample.add_argument
    add("--checkpoint", required=True, help="a ckpt.pt of lmcourse train (or its folder), "
        "or a shipped model: shakespeare-char")  # fmt: skip
    add("--prompt", default="\n", help="the text to continue (default: a newline); Windows "
        "line ends (\\r\\n) and lone \\r become \\n, as in corpus files")  # fmt: skip
    add("--max-new-tokens", type=int, default=500, help="characters to add (default: 500)")
    add("--temperature", type=float, default=1.0, help=">= 0; 0 is greedy (default: 1)")
    add("--top-k", type=int, metavar="K", help="sample among the K likeliest characters only")
    add("--top-p", type=float, metavar="P", help="sample among the likeliest characters whose "
        "probabilities add up to P, in (0, 1] (nucleus sampling)")  # fmt: skip
    add("--seed", type=int, default=0, help="seed of the sampling (default: 0)")
    add("--device", help="cpu, cuda, mps (default: the best available)")
    sample.set_defaults(handler=_sample)
