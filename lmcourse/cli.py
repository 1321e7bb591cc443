"""The ``lmcourse`` command.

    lmcourse info      versions, device, and where the corpus comes from
    lmcourse presets   the GPT training presets (ci, cpu, gpu, ship) side by side
    lmcourse train     train a GPT (characters or BPE) with a preset: a checkpoint and metrics.jsonl
    lmcourse sample    generate text from a checkpoint
    lmcourse run NN    execute notebook NN with papermill, with a preset and parameters
    lmcourse --help    this list

``python -m lmcourse.train ARGS`` is ``lmcourse train ARGS``, so that
``torchrun --nproc_per_node=K -m lmcourse.train --preset gpu`` trains on K GPUs.

A mistake in the arguments (an unknown preset, a negative step count, a missing checkpoint...)
prints ``lmcourse COMMAND: error: ...`` on stderr and exits with status 2, as argparse does.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

# Any number with a minus sign: -1, -0.5, -1e-3, -inf, -nan. argparse knows only the first two
# and reads the others as an option, so that `--temperature -1e-3` would fail with "expected one
# argument" instead of this module's "--temperature must be a number >= 0".
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.I)


class _Parser(argparse.ArgumentParser):
    """argparse that reads every negative number as a value, and says how to pass "-Nay"."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)  # subcommands' parsers are of this class too
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str) -> NoReturn:
        option = re.fullmatch(r"argument (?:\S+/)?(--\S+): expected one argument", message)
        if option:  # `--prompt -Nay` lands here too: the value looks like an option
            message += f" (for a value that starts with '-', write {option[1]}=VALUE)"
        super().error(message)


def _fail(command: str, message: str) -> NoReturn:
    """Report a usage mistake the way argparse does: a message on stderr, exit status 2."""
    print(f"lmcourse {command}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _reader_gone() -> int:
    """After a BrokenPipeError on stdout (``lmcourse ... | head``): end quietly, as ``yes`` does."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no 2nd error at exit
    return 141  # 128 + SIGPIPE, the status of `yes | head`


def _print_table(header: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Print ``rows`` under ``header``: numbers right-aligned, text left-aligned."""
    cells = [list(map(str, header))] + [[str(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(header))]
    for row in cells:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)]
        print("  ".join(parts).rstrip())


def _info(args: argparse.Namespace) -> int:
    from lmcourse.utils import environment_report

    report = environment_report()
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    if args.corpus:
        from lmcourse.data import load_text

        text = load_text("shakespeare")
        print(f"{'characters':<{width}}  {len(text):,} ({len(set(text))} distinct)")
    return 0


def _presets(args: argparse.Namespace) -> int:
    from lmcourse.presets import PRESETS

    header = ("name", "layers", "heads", "width", "context", "batch", "steps", "lr", "dropout",
              "description")  # fmt: skip
    rows = [(p.name, p.n_layer, p.n_head, p.n_embd, p.train.block_size, p.train.batch_size,
             p.train.max_steps, p.train.learning_rate, p.dropout, p.description)
            for p in PRESETS.values()]  # fmt: skip
    _print_table(header, rows)
    return 0


# --------------------------------------------------------------------------- train


#: Command-line options that override a preset's setting of the same name, when given.
_OVERRIDES = ("max_steps", "batch_size", "learning_rate", "min_lr", "eval_interval", "seed",
              "compile", "n_layer", "n_head", "n_embd", "dropout")  # fmt: skip


def _train_overrides(args: argparse.Namespace) -> dict:
    """The settings the options replace; ``--learning-rate`` alone scales the preset's min_lr."""
    from lmcourse.presets import PRESETS

    overrides = {k: v for k, v in vars(args).items() if k in _OVERRIDES and v is not None}
    preset = PRESETS.get(args.preset)  # (an unknown name: train_gpt says so)
    scale = "learning_rate" in overrides and "min_lr" not in overrides
    if scale and preset and preset.train.min_lr is not None:
        # The same shape of schedule at another height: the preset's min_lr / lr ratio stays,
        # and min_lr stays <= lr (the preset's 1e-4 would be above a --learning-rate of 1e-5).
        ratio = preset.train.min_lr / preset.train.learning_rate
        overrides["min_lr"] = overrides["learning_rate"] * ratio
    return overrides


def _train_notes(args: argparse.Namespace, device: str | None, out_dir: Path) -> None:
    """Print, on stderr, what may surprise about this run before it starts."""
    from lmcourse import distributed

    if args.preset == "gpu" and _device_kind(device) == "cpu" and distributed.is_main_process():
        print("lmcourse train: note: the gpu preset on a CPU takes seconds a step and hours "
              "in all; --preset cpu is the recipe for a CPU.", file=sys.stderr)  # fmt: skip
    if args.resume and not (out_dir / "ckpt.pt").exists() and distributed.is_main_process():
        print(f"lmcourse train: note: no checkpoint at {out_dir / 'ckpt.pt'} to resume "
              "from; starting a new run.", file=sys.stderr)  # fmt: skip


def _train(args: argparse.Namespace) -> int:
    import signal

    from lmcourse import distributed
    from lmcourse.presets import train_gpt
    from lmcourse.trainer import TrainingInterrupted

    if not args.corpus:  # (load_text would read "" as the folder ".")
        _fail("train", "--corpus is empty: give a corpus name or the path of a text file.")
    overrides = _train_overrides(args)
    if args.out_dir is not None and not args.out_dir.strip():  # --out-dir "$OUT", OUT unset
        _fail("train", "--out-dir is empty: give a folder (without it: runs/PRESET).")
    out_dir = Path(args.out_dir) if args.out_dir else Path("runs") / args.preset
    try:
        try:
            device = distributed.setup(args.device)  # under torchrun: join the process group
        except ValueError as error:  # torchrun's variables set by hand, and wrong
            _fail("train", str(error))
        if device is not None:
            overrides["device"] = device
        _train_notes(args, overrides.get("device"), out_dir)
        try:
            with warnings.catch_warnings():  # a warning (resume's notes) reads as a note here
                warnings.showwarning = lambda message, *_, **__: print(
                    f"lmcourse train: note: {message}", file=sys.stderr)  # fmt: skip
                _, tokenizer, history = train_gpt(args.preset, corpus=args.corpus,
                                                  out_dir=out_dir, resume=args.resume,
                                                  progress=not args.no_progress,
                                                  bpe_vocab_size=args.bpe_vocab_size,
                                                  **overrides)  # fmt: skip
        except (ValueError, OSError) as error:  # CheckpointError; a corpus that is a folder...
            _fail("train", str(error))
        except RuntimeError as error:  # torch's out-of-memory errors are RuntimeErrors
            needed = _out_of_memory(error)
            if needed is None:
                raise
            _fail("train", f"out of memory{needed}: lower --batch-size, or the model's size "
                           "(--n-embd, --n-layer).")  # fmt: skip
        except TrainingInterrupted as stop:  # Ctrl-C or SIGTERM: the step finished and was saved
            K = distributed.world_size()  # under torchrun: the same command on K processes
            command = (
                f"torchrun --nproc_per_node={K} -m lmcourse.train " if K > 1 else "lmcourse train "
            ) + shlex.join(args.argv[1:])  # (argv[0]: "train")
            again = command + ("" if args.resume else " --resume")  # quoted
            if distributed.is_main_process():  # (every process stopped after the same step)
                print(f"lmcourse train: {stop.signal_name}: stopped after step {stop.step} of "
                      f"{stop.max_steps}, saved in {stop.checkpoint}. Continue with:\n"
                      f"    {again}", file=sys.stderr)  # fmt: skip
            return 128 + signal.Signals[stop.signal_name]  # the shell's code for that signal
        if distributed.is_main_process():
            try:
                _report_training(history, out_dir, per="char" if hasattr(tokenizer, "chars")
                                 else "token")  # fmt: skip
            except BrokenPipeError:  # `lmcourse train ... | head -1`: the run is saved already
                return _reader_gone()
    finally:
        distributed.teardown()
    return 0


def _device_kind(device: str | None) -> str | None:
    """ "cpu", "cuda" or "mps": where training would run; None if ``device`` is not available."""
    from lmcourse.utils import get_device

    try:
        return get_device(device).type
    except ValueError:  # train_gpt says so, in its own words
        return None


def _out_of_memory(error: RuntimeError) -> str | None:
    """None unless ``error`` is torch running out of memory; else " (N GB asked for)" or ""."""
    import re

    text = str(error)
    if type(error).__name__ != "OutOfMemoryError" and "can't allocate memory" not in text:
        return None
    asked = re.search(r"allocate (\d+) bytes", text)
    return f" ({int(asked[1]) / 1e9:.1f} GB asked for)" if asked else ""


def _report_training(history, out_dir: Path, per: str = "char") -> None:
    """The run's last validation loss, its speed and its files; ``per``: "char" or "token"."""
    import math
    import statistics

    loss, step = history.val_loss[-1], history.steps[-1]
    bits = loss / math.log(2)  # 1 nat = 1 / ln 2 bits
    print(f"validation loss  {loss:.4f} nats/{per} = {bits:.4f} bits/{per} (step {step}; an "
          "estimate on random windows of the validation split, not all of it)")  # fmt: skip
    step_ms = statistics.median(history.step_ms)  # the figure nanoGPT prints per iteration
    print(f"speed            {history.tokens_per_second:,.0f} tokens/s; median step "
          f"{step_ms:.1f} ms; {history.seconds:.0f} s in all, evaluation included")  # fmt: skip
    print(f"checkpoint       {out_dir / 'ckpt.pt'}")
    print(f"metrics          {out_dir / 'metrics.jsonl'}")


# --------------------------------------------------------------------------- run


def _run(args: argparse.Namespace) -> int:
    from lmcourse.notebook_run import run_notebook  # papermill's imports only when needed

    return run_notebook(args)


# --------------------------------------------------------------------------- the parser


def _add_train(commands) -> None:
    train = commands.add_parser(
        "train", help="train a GPT (over characters, or BPE tokens) with a preset",
        description="Train a GPT over characters (or over BPE tokens, --bpe-vocab-size) with a "
        "preset (see `lmcourse presets`); write the checkpoint ckpt.pt and metrics.jsonl into "
        "--out-dir. Options replace the preset's settings. Under torchrun: torchrun "
        "--nproc_per_node=K -m lmcourse.train ...",
    )  # fmt: skip
    add = train.add_argument
    add("--preset", required=True, help="ci, cpu, gpu or ship")
    add("--corpus", default="tiny-shakespeare", help="a corpus name or a UTF-8 text file")
    add("--out-dir", help="where ckpt.pt and metrics.jsonl go (default: runs/PRESET)")
    add("--resume", action="store_true", help="continue from OUT_DIR/ckpt.pt if it exists")
    add("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    more = {"--batch-size": "; per process under torchrun",
            "--learning-rate": "; without --min-lr, min_lr changes by the same factor, keeping "
                               "the preset's min_lr/lr (nanoGPT's rule: min_lr = lr/10)",
            "--min-lr": ", scaled with --learning-rate; where the cosine decay ends"}  # fmt: skip
    for flag, kind in (("--max-steps", int), ("--batch-size", int), ("--learning-rate", float),
                       ("--min-lr", float), ("--eval-interval", int), ("--seed", int),
                       ("--n-layer", int), ("--n-head", int), ("--n-embd", int),
                       ("--dropout", float)):  # fmt: skip
        add(flag, type=kind, metavar="N" if kind is int else "X",
            help=f"(default: the preset's{more.get(flag, '')})")  # fmt: skip
    add("--bpe-vocab-size", type=int, metavar="N", help="train over byte-level BPE tokens, a "
        "vocabulary of N (>= 256) learned on the training text, as notebook 11 does (default: "
        "characters)")  # fmt: skip
    add("--compile", action=argparse.BooleanOptionalAction, help="torch.compile the model")
    add("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(handler=_train)


def _add_run(commands) -> None:
    run = commands.add_parser(
        "run", help="execute a notebook with papermill",
        description="Execute notebooks/NN_*.ipynb with papermill into runs/NAME/. "
        "`papermill --help-notebook NOTEBOOK` lists a notebook's parameters.",
    )  # fmt: skip
    add = run.add_argument
    add("notebook", metavar="NN", help="the notebook's number, e.g. 03")
    add("--preset", help="the notebook's preset parameter (ci, cpu, gpu)")
    add("-p", "--parameter", nargs=2, action="append", dest="parameters",
        metavar=("KEY", "VALUE"), help="set a parameter; VALUE is read as YAML")  # fmt: skip
    add("--out-dir", help="folder of the executed notebook (default: runs/NN-PRESET-TIME)")
    add("--timeout", type=float, default=1800, help="seconds per cell (default: 1800)")
    add("--device", help="the notebook's device parameter, if it has one")
    add("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(handler=_run)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lmcourse",
        description="Language models from counting to GPT: the course's command-line tools.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser(
        "info", help="versions, device, and where the corpus comes from",
        description="Print the versions, the compute device and where the corpus comes from.",
    )  # fmt: skip
    info.add_argument("--corpus", action="store_true",
                      help="also load the corpus and count its characters")  # fmt: skip
    info.set_defaults(handler=_info)
    presets = commands.add_parser("presets", help="the GPT training presets (ci, cpu, gpu, ship)",
                                  description="Print the GPT training presets.")  # fmt: skip
    presets.set_defaults(handler=_presets)
    _add_train(commands)
    from lmcourse.cli_sample import add_sample  # it imports _fail from here

    add_sample(commands)
    _add_run(commands)
    for command in commands.choices.values():  # main reports a mistake with its command's usage
        command.set_defaults(parser=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # `lmcourse train --bogus 1`: train's usage, not the top-level one
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = argv  # what a "Continue with:" line repeats
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except KeyboardInterrupt:  # Ctrl-C before training began (importing torch, reading text)
        print(f"\nlmcourse {args.command}: stopped (Ctrl-C).", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
