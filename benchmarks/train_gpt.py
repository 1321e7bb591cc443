"""Train the ``cpu`` preset GPT and measure it against nanoGPT on the same recipe and data.

    python benchmarks/train_gpt.py                  # eager and compiled, 2000 iterations each
    python benchmarks/train_gpt.py --steps 300      # timing only (the loss is not comparable)
    python benchmarks/train_gpt.py --variants compiled --preset ship
    python benchmarks/train_gpt.py --repeats 3     # each variant 3 times, interleaved
    python benchmarks/train_gpt.py --nanogpt ~/nanoGPT  # and nanoGPT's train.py, interleaved

Each variant runs in a fresh Python process (so peak memory is its own) with 2 threads, on
tiny-shakespeare's 90/10 split, and reports the median milliseconds per training iteration
(the first 20 iterations excluded: compilation and warm-up), tokens per second at that median,
the process's peak resident memory, and the validation loss at the last iteration. nanoGPT's
figures, measured on this kind of 2-core machine (see docs/baselines.md), are printed alongside.
This machine is a shared virtual machine whose speed drifts with its neighbours: with
``--repeats N`` the variants run N times each, interleaved, and the table shows the median run
with the fastest and slowest medians beside it. With ``--nanogpt`` (the folder of a clone of
github.com/karpathy/nanoGPT), nanoGPT's own ``train.py`` runs too, on the same data and recipe,
each of its runs right after the course's (``benchmarks/nanogpt.py``): a comparison made in
one sitting, which the figures of docs/baselines.md cannot give.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import nanogpt  # benchmarks/nanogpt.py, next to this script

#: nanoGPT's train.py at the cpu recipe on this machine kind (docs/baselines.md).
NANOGPT = {
    "eager": {"ms": 47.0, "tokens_per_s": 16_300, "peak_mb": 412, "val_loss": 1.888},
    "compiled": {"ms": 33.9, "tokens_per_s": 22_600, "peak_mb": None, "val_loss": None},
}

_CHILD = """
import json, resource, statistics, sys, torch
torch.set_num_threads({threads})
from lmcourse.presets import train_gpt
model, tok, history = train_gpt({preset!r}, progress=False, device="cpu", max_steps={steps},
                                compile={compile}, eval_interval={steps})
ms = history.step_ms[20:] if len(history.step_ms) > 40 else history.step_ms
print(json.dumps({{
    "ms": statistics.median(ms),
    "tokens_per_s": model.config.block_size * {batch} / (statistics.median(ms) / 1000),
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "val_loss": history.val_loss[-1],
    "train_loss": history.train_loss[-1],
    "params": sum(p.numel() for p in model.parameters()),
    "seconds": history.seconds,
}}))
"""


def run_variant(preset: str, steps: int, compile: bool, threads: int) -> dict:
    from lmcourse.presets import PRESETS

    batch = PRESETS[preset].train.batch_size * PRESETS[preset].train.grad_accum_steps
    code = _CHILD.format(preset=preset, steps=steps, compile=compile, threads=threads, batch=batch)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"the {'compiled' if compile else 'eager'} run failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def row(name: str, results: list[dict]) -> str:
    """A table row for the median run of ``results``, with the range of their medians."""
    results = sorted(results, key=lambda r: r["ms"])
    run = results[len(results) // 2]  # the median run (of two middles, the slower one)
    spread = f" ({results[0]['ms']:.1f}-{results[-1]['ms']:.1f})" if len(results) > 1 else ""
    params = f"{run['params']:,}" if run.get("params") else ""
    return (f"| {name} | {run['ms']:.1f}{spread} | {run['tokens_per_s']:,.0f} | "
            f"{run['peak_mb']:.0f} | {run['val_loss']:.3f} | {params} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cpu", help="a preset of lmcourse.presets")
    parser.add_argument("--steps", type=int, default=None, help="default: the preset's")
    parser.add_argument("--variants", nargs="+", default=["eager", "compiled"],
                        choices=["eager", "compiled"])  # fmt: skip
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2: this machine)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant")
    parser.add_argument("--nanogpt", metavar="FOLDER", help="a nanoGPT clone: run it too")
    args = parser.parse_args()
    from lmcourse.presets import PRESETS

    clone = nanogpt.check_clone(args.nanogpt) if args.nanogpt else None
    preset = PRESETS[args.preset]
    steps = args.steps or preset.train.max_steps
    print(f"preset {args.preset!r}, {steps} iterations, {args.threads} threads\n")
    runs = {variant: [] for variant in args.variants}
    theirs = {variant: [] for variant in args.variants}
    for _ in range(args.repeats):
        for variant in args.variants:  # interleaved: a slow spell of the machine hits both
            ours = run_variant(args.preset, steps, variant == "compiled", args.threads)
            runs[variant].append(ours)
            print(json.dumps({"variant": variant, **ours}), flush=True)
            if clone:
                result = nanogpt.run(clone, preset, steps, variant == "compiled", args.threads,
                                     corpus="tiny-shakespeare")  # fmt: skip
                theirs[variant].append(result)
                print(json.dumps({"variant": f"nanoGPT {variant}", **result}), flush=True)
    print()
    print("| run | median ms/iter | tokens/s | peak MB | val loss (nats) | params |")
    print("|---|---|---|---|---|---|")
    for variant, results in runs.items():
        print(row(f"lmcourse, {variant}", results))
        if theirs[variant]:
            print(row(f"nanoGPT, {variant}, this sitting", theirs[variant]))
        if args.preset == "cpu":
            ref = NANOGPT[variant]
            peak = f"{ref['peak_mb']}" if ref["peak_mb"] else "-"
            loss = f"{ref['val_loss']:.3f}" if ref["val_loss"] and steps == 2000 else "-"
            print(f"| nanoGPT, {variant} (docs/baselines.md) | {ref['ms']:.1f} | "
                  f"{ref['tokens_per_s']:,} | {peak} | {loss} | |")  # fmt: skip


if __name__ == "__main__":
    main()
