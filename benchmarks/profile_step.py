"""Where the time of one GPT training step goes: ``torch.profiler`` on the course's own step.

    python benchmarks/profile_step.py                 # the cpu preset, 2 threads, 20 steps
    python benchmarks/profile_step.py --steps 50 --top 25
    python benchmarks/profile_step.py --preset ship

Builds the preset's GPT and AdamW exactly as ``lmcourse.train`` does, takes warm-up steps on
random windows of tiny-shakespeare's training split, then profiles ``--steps`` calls of
``lmcourse.train.train_step`` and prints:

1. the wall time of a step, its matrix products' FLOPs (``2·m·n·k`` for every ``aten::mm``
   and ``aten::addmm`` the profiler records with its input shapes) and the rate they ran at;
2. a markdown table of the operations with the most time of their own (not counting the
   operations they call), as a share of all operations and in milliseconds per step.

This is the profile that docs/results.md's "What made the difference" starts from (matrix
products about 55% of a step, then flash attention, GELU, LayerNorm, AdamW). Like every speed
on a shared machine, the milliseconds drift with the neighbours; the shares drift much less.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch.profiler import ProfilerActivity, profile

from lmcourse.data import get_batch, load_text, train_val_split
from lmcourse.gpt import GPT
from lmcourse.presets import PRESETS
from lmcourse.tokenizers import CharTokenizer
from lmcourse.train import configure_optimizer, train_step

MATMULS = ("aten::mm", "aten::addmm")


def matmul_flops(events) -> int:
    """2·m·n·k summed over the matrix products among ``events`` (recorded with their shapes)."""
    flops = 0
    for event in events:
        if event.name not in MATMULS or not event.input_shapes:
            continue
        shapes = [s for s in event.input_shapes if len(s) == 2]  # addmm: bias, a, b
        a, b = shapes[-2], shapes[-1]  # (m, k) @ (k, n)
        flops += 2 * a[0] * a[1] * b[1]
    return flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=20, help="profiled steps (default 20)")
    parser.add_argument("--warmup", type=int, default=30, help="steps before profiling")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2: this machine)")
    parser.add_argument("--top", type=int, default=15, help="rows of the table")
    args = parser.parse_args()
    if min(args.steps, args.top) < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--steps, --top and --threads must be >= 1, --warmup >= 0")
    torch.set_num_threads(args.threads)
    preset = PRESETS[args.preset]
    text = load_text("tiny-shakespeare")
    tokenizer = CharTokenizer.from_text(text)
    train_data, _ = train_val_split(torch.tensor(tokenizer.encode(text)))
    torch.manual_seed(0)
    model = GPT(preset.gpt_config(tokenizer.vocab_size)).train()
    optimizer = configure_optimizer(model, preset.train)
    config, gen = preset.train, torch.Generator().manual_seed(0)

    def step() -> None:
        x, y = get_batch(train_data, config.batch_size, config.block_size, gen)
        train_step(model, optimizer, x, y, config.grad_clip)

    for _ in range(args.warmup):
        step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        wall = (time.perf_counter() - start) / args.steps
    events = prof.events()
    flops = matmul_flops(events) / args.steps
    table = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in table)  # microseconds, all profiled steps
    mm_us = sum(e.self_cpu_time_total for e in table if e.key in MATMULS) / args.steps
    print(f"preset {args.preset!r}, {args.threads} threads, {args.steps} profiled steps "
          f"(the profiler adds a little to each)")  # fmt: skip
    print(f"one step: {wall * 1000:.1f} ms; matrix products: {flops / 1e9:.3g} GFLOP a step, "
          f"{mm_us / 1000:.1f} ms, {flops / max(mm_us, 1e-9) / 1e3:.0f} GFLOP/s\n")  # fmt: skip
    print("| operation | share of the step | ms per step | calls per step |")
    print("|---|---:|---:|---:|")
    for event in table[: args.top]:
        share, ms = event.self_cpu_time_total / total, event.self_cpu_time_total / 1000 / args.steps
        print(f"| `{event.key}` | {share:.1%} | {ms:.2f} | {math.ceil(event.count / args.steps)} |")


if __name__ == "__main__":
    main()
