"""The state of one training run, which ``lmcourse.train.train`` loops over.

A ``Run`` holds what changes while training: the model (compiled and wrapped in DDP when asked),
the optimizer, the step reached, the history, the random generators, and the files it writes
(``metrics.jsonl`` and the checkpoint ``ckpt.pt`` in ``out_dir``). Saving and resuming are two
methods on it, so an interrupted run continues exactly where its last checkpoint left it.

Ctrl-C (a notebook's "interrupt the kernel", the same signal) or SIGTERM (a cluster's time
limit, ``kill``) in the middle of a step does not cut the step in two: the run finishes the
step, saves a checkpoint, and raises ``TrainingInterrupted``; ``resume=True`` then continues as
if nothing had happened. A second Ctrl-C stops at once. Under torchrun (which passes a Ctrl-C
or a SIGTERM on to every process) the processes agree on the step to stop after: each step's
loss is averaged over them anyway, and "a signal came" travels with it.

A run that diverges (a loss or gradient norm of nan or inf: the learning rate was too high)
stops at once with ``TrainingDiverged``; its last checkpoint, from before, is never replaced.
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from lmcourse import distributed
from lmcourse.checkpoint import (
    changed_settings,
    check_compatible,
    check_resumable,
    check_same_text,
    data_sha256,
    load_checkpoint,
    save_checkpoint,
    unwrap,
)
from lmcourse.data import get_batch
from lmcourse.files import write_text_atomically
from lmcourse.run_dir import keep_aside, read_metrics, remove_partial_saves
from lmcourse.signals import StopAfterStep
from lmcourse.train import (
    History,
    TrainConfig,
    configure_optimizer,
    estimate_loss,
    lr_at,
    train_step,
)

__all__ = ["PEAK_FLOPS", "Run", "TrainingDiverged", "TrainingInterrupted", "estimate_mfu"]

#: Dense bfloat16 peak FLOP/s of common GPUs (their data sheets), for model FLOPs utilisation;
#: the first name found in the GPU's name wins (L40S before L40 before L4). The T4 has no
#: bfloat16 units: its figure is float16's.
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L40": 181e12,
              "L4": 121e12, "A10": 125e12, "RTX 4090": 165e12, "RTX 3090": 71e12,
              "T4": 65e12}  # fmt: skip


def estimate_mfu(model: nn.Module, tokens_per_second: float, device: torch.device) -> float | None:
    """Model FLOPs utilisation: the FLOP/s the model needed / the GPU's peak (None if unknown).

    ``MFU = flops_per_token · tokens/s / peak`` (Chowdhery et al., 2022); only for a GPT on a
    GPU named in ``PEAK_FLOPS``.
    """
    from lmcourse.gpt import GPTConfig, flops_per_token

    config = getattr(unwrap(model), "config", None)
    if device.type != "cuda" or not isinstance(config, GPTConfig):
        return None
    name = torch.cuda.get_device_name(device)
    peak = next((flops for gpu, flops in PEAK_FLOPS.items() if gpu in name), None)
    return None if peak is None else flops_per_token(config) * tokens_per_second / peak


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped at a signal after a whole step; ``checkpoint`` holds it (None: unsaved)."""

    def __init__(self, step: int, max_steps: int, checkpoint: Path | None, signal_name: str):
        self.step, self.max_steps, self.checkpoint = step, max_steps, checkpoint
        self.signal_name = signal_name
        saved = "no out_dir, so no checkpoint was saved"
        if checkpoint:
            saved = f"checkpoint saved: {checkpoint}; resume=True continues from it"
        super().__init__(f"{signal_name}: stopped after step {step} of {max_steps}; {saved}.")


class TrainingDiverged(ValueError):
    """The loss (or the gradient, or the weights) became nan or infinite: training stopped."""

    def __init__(self, what: str, value, step: int, lr: float, checkpoint: Path | None,
                 saved_step: int | None) -> None:  # fmt: skip
        self.step, self.checkpoint, self.saved_step = step, checkpoint, saved_step
        if checkpoint is None:
            kept = "Nothing was saved (no out_dir)."
        elif saved_step is None:
            kept = f"No checkpoint was saved before it; nothing was written to {checkpoint}."
        else:
            kept = (f"The last checkpoint, from step {saved_step}, is kept: {checkpoint}. Start a "
                    "new run with a lower learning rate, or resume with one if the losses up to "
                    f"step {saved_step} were still sensible.")  # fmt: skip
        super().__init__(f"The {what} became {value} at step {step}: training diverged. Lower the "
                         f"learning rate (it was {lr:g}). {kept}")  # fmt: skip


class Run:
    """One training run: ``Run(...).loop(...)`` trains; ``resume()`` first continues a saved one."""

    def __init__(self, model, train_data, val_data, config: TrainConfig, generator, device,
                 out_dir=None, tokenizer=None, corpus=None) -> None:  # fmt: skip
        self.model, self.config, self.device = model, config, device
        self.train_data, self.val_data, self.generator = train_data, val_data, generator
        self.tokenizer, self.corpus = tokenizer, corpus
        self.optimizer = configure_optimizer(model, config)
        self.history, self.step, self.seconds_before = History(), 0, 0.0
        self.on_evaluate = None  # called with the History after each evaluation
        self.early_stopping, self.stopped_early = None, False  # lmcourse.regularization's
        self.net = distributed.wrap(self._compiled(model))
        self.compile_checked = not config.compile
        self.amp = device.type == "cuda" and config.mixed_precision
        main = distributed.is_main_process()
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.ckpt_path = self.out_dir / "ckpt.pt" if self.out_dir else None
        self.metrics_path = self.out_dir / "metrics.jsonl" if self.out_dir and main else None
        # the data by content: a resumed run must train on the same (check_same_text)
        self.data_sha256 = data_sha256(train_data, val_data) if self.ckpt_path else None
        self.saved_step: int | None = None  # the step of the checkpoint in ckpt_path, if any
        self.stop = StopAfterStep()  # Ctrl-C and SIGTERM, while the loop runs

    def _compiled(self, model: nn.Module) -> nn.Module:
        return torch.compile(model) if self.config.compile else model

    def _autocast(self):
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ------------------------------------------------------------------- saving and resuming

    def save(self) -> None:
        """Write the checkpoint (process 0 only), atomically; never weights that are nan or inf."""
        if self.ckpt_path is None:
            return
        finite = torch.stack([p.isfinite().all() for p in self.model.parameters()]).all()
        if not finite.item():  # one sync per save, not per step: saving copies them anyway
            self._diverged("weights", "nan or inf")
        if not distributed.is_main_process():
            return
        rng = {"torch": torch.get_rng_state(), "batches": self.generator.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        save_checkpoint(self.ckpt_path, self.model, optimizer=self.optimizer.state_dict(),
                        step=self.step, rng=rng, train_config=self.config,
                        history=self.history, tokenizer=self.tokenizer,
                        corpus=self.corpus, data_sha256=self.data_sha256,
                        world_size=distributed.world_size())  # fmt: skip
        self.saved_step = self.step

    def resume(self) -> None:
        """Continue from ``out_dir/ckpt.pt`` if there is one: weights, optimizer, step, RNGs."""
        if self.ckpt_path is None or not self.ckpt_path.exists():
            return
        entry = load_checkpoint(self.ckpt_path, map_location=self.device)
        check_resumable(self.ckpt_path, entry)
        moved = check_same_text(self.ckpt_path, entry, self.tokenizer, self.corpus,
                                  self.data_sha256)  # fmt: skip
        check_compatible(entry, self.model)
        self._note_differences(entry, moved)
        self.model.load_state_dict(entry["model"])
        self.optimizer.load_state_dict(entry["optimizer"])
        self.step = self.saved_step = entry["step"]
        self.history = History(**entry["history"])
        self.seconds_before = self.history.seconds
        torch.set_rng_state(entry["rng"]["torch"].cpu())
        self.generator.set_state(entry["rng"]["batches"].cpu())
        if "cuda" in entry["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(entry["rng"]["cuda"].cpu(), self.device)
        self._truncate_metrics()

    def _note_differences(self, entry: dict, moved: str | None) -> None:
        """Warn of what this run does otherwise than the checkpoint's run would have."""
        step, max_steps = entry["step"], self.config.max_steps
        notes = [moved] if moved else []  # (the same text, moved: check_same_text's note)
        world = distributed.world_size()  # (a checkpoint without it: as many as now)
        changed = changed_settings(entry.get("train_config") or {}, self.config,
                                   entry.get("world_size", world), world)  # fmt: skip
        if changed:
            notes.append(f"{self.ckpt_path} goes on from step {step} with other training "
                         f"settings: {', '.join(changed)}. From here on the run differs from an "
                         "uninterrupted one (and its speed, tokens/s, mixes both settings); the "
                         "checkpoint will keep the new settings.")  # fmt: skip
        if step >= max_steps:
            notes.append(f"{self.ckpt_path} is already at step {step}: nothing to train "
                         f"(max_steps {max_steps}).")  # fmt: skip
        for note in notes if distributed.is_main_process() else []:  # once, not K times
            warnings.warn(note, stacklevel=4)  # at the line that called train()

    def _truncate_metrics(self) -> None:
        """Drop the records written after the checkpoint: they will be written again."""
        if self.metrics_path is None or not self.metrics_path.exists():
            return
        kept = [line for line, record in read_metrics(self.metrics_path)
                if record.get("step", -1) <= self.step and "event" not in record]  # fmt: skip
        write_text_atomically(self.metrics_path, "".join(line + "\n" for line in kept))

    def _log(self, record: dict) -> None:
        if self.metrics_path is not None:
            self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    # ------------------------------------------------------------------------- the loop

    def _evaluate(self) -> None:
        """Estimate both losses on the same batches as at every other step (a fixed eval set)."""
        generator = torch.Generator().manual_seed(self.config.seed + 1)  # not the training stream
        with self._autocast():
            train_loss = estimate_loss(self.model, self.train_data, self.config, generator,
                                       self.device)  # fmt: skip
            val_loss = estimate_loss(self.model, self.val_data, self.config, generator, self.device)
        self._check_finite(training_loss=train_loss, validation_loss=val_loss)
        self.history.steps.append(self.step)
        self.history.train_loss.append(train_loss)
        self.history.val_loss.append(val_loss)
        self._log({"step": self.step, "train_loss": train_loss, "val_loss": val_loss})
        if self.on_evaluate is not None and distributed.is_main_process():
            self.on_evaluate(self.history)  # e.g. lmcourse.liveplot.LiveLossPlot
        if self.early_stopping is not None:  # every process decides; one "stop" stops them all
            stop = self.early_stopping.update(self.step, val_loss, self.model)
            self.stopped_early = distributed.all_sum([float(stop)])[0] > 0

    def _batches(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The step's micro-batches: every process draws the global batch, keeps its share."""
        B, T, K = self.config.batch_size, self.config.block_size, distributed.world_size()
        xs, ys = [], []
        for _ in range(self.config.grad_accum_steps):
            x, y = get_batch(self.train_data, B * K, T, self.generator)  # (K·B, T) each
            xs.append(distributed.share(x).to(self.device, non_blocking=True))  # (B, T)
            ys.append(distributed.share(y).to(self.device, non_blocking=True))
        return xs, ys

    def _step_or_uncompile(self) -> tuple[float, float]:
        """One optimizer step; a compiled model that fails on its first step runs uncompiled."""
        if self.compile_checked:
            return self._step_once()
        states = torch.get_rng_state(), self.generator.get_state()
        try:
            return self._step_once()
        except Exception as error:  # no C compiler, an unsupported platform...
            warnings.warn(f"torch.compile failed ({error}); training uncompiled.", stacklevel=3)
            torch.set_rng_state(states[0])
            self.generator.set_state(states[1])
            self.net = distributed.wrap(self.model)
            return self._step_once()
        finally:
            self.compile_checked = True

    def _step_once(self) -> tuple[float, float]:
        """The learning rate, the micro-batches, ``train_step``; the loss over all processes."""
        lr = lr_at(self.step + 1, self.config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        xs, ys = self._batches()
        with self._autocast():
            loss, norm = train_step(self.net, self.optimizer, xs, ys, self.config.grad_clip)
        return self.stop.mean_and_agree(loss), norm  # the global batch's loss

    def loop(self, progress: bool, tqdm) -> History:
        was_training = self.model.training
        try:
            with self.stop:
                return self._loop(progress, tqdm, self.stop)
        finally:
            self.model.train(was_training)  # left as the caller gave it, whatever happened

    def _loop(self, progress: bool, tqdm, stop: StopAfterStep) -> History:
        config, history, start = self.config, self.history, time.perf_counter()
        if self.metrics_path is not None:  # (process 0): what a kill while saving left
            remove_partial_saves(self.out_dir)
        if self.step == 0:
            if self.metrics_path is not None:  # a fresh run: an older one's records are kept
                keep_aside(self.metrics_path)  # aside (that run's checkpoint is gone: moved)
            self._evaluate()
        self.model.train()
        show = progress and distributed.is_main_process()
        bar = tqdm(range(self.step + 1, config.max_steps + 1), desc="training", disable=not show,
                   initial=self.step, total=config.max_steps)  # fmt: skip
        with contextlib.closing(bar):  # closed on an error too, not left half drawn
            for _ in bar:
                self._step(bar)
                if self.step % config.eval_interval == 0 or self.step == config.max_steps:
                    self._evaluate()
                every = config.checkpoint_interval or config.eval_interval
                # (stopping: Ctrl-C or SIGTERM came during this step: save it, then stop)
                stopping = stop.requested()
                last = self.step == config.max_steps or self.stopped_early
                if self.step % every == 0 or last or stopping:
                    self._finish(start)
                    self.save()
                if self.stopped_early:
                    break
                if stopping and self.step < config.max_steps:
                    raise TrainingInterrupted(self.step, config.max_steps, self.ckpt_path,
                                              stopping)  # fmt: skip
        self._finish(start)
        self._log({"event": "done", "seconds": history.seconds, "mfu": history.mfu,
                   "tokens_per_second": history.tokens_per_second})  # fmt: skip
        if show and getattr(bar, "container", None) is not None:
            # a notebook's progress bar is a widget: where widgets do not run (GitHub, nbviewer,
            # a notebook opened without its kernel) it shows its first state, "0%"; a line of
            # text keeps the result in the saved notebook
            print(history.summary())
        return history

    def _step(self, bar) -> None:
        """One training step, recorded in the history, ``metrics.jsonl`` and the progress bar."""
        history, step_start = self.history, time.perf_counter()
        loss, norm = self._step_or_uncompile()  # -> _step_once -> train.train_step
        self.step += 1
        ms = 1000 * (time.perf_counter() - step_start)
        lr = self.optimizer.param_groups[0]["lr"]
        # (two floats the step has read already: checking them costs no extra GPU sync)
        self._check_finite(loss=loss, gradient_norm=norm)
        for name, value in (("step_loss", loss), ("grad_norm", norm), ("lr", lr),
                            ("step_ms", ms)):  # fmt: skip
            getattr(history, name).append(value)
        self._log({"step": self.step, "loss": loss, "grad_norm": norm, "lr": lr, "ms": ms})
        recent = history.step_ms[-50:]  # the speed now, not since the start
        speed = self._tokens_per_step() * len(recent) / (sum(recent) / 1000)
        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{speed:,.0f}", refresh=False)  # at its pace

    def _check_finite(self, **values: float) -> None:
        """Stop at a loss (or norm) of nan or inf, before it is recorded or its state saved."""
        for name, value in values.items():
            if not math.isfinite(value):
                self._diverged(name.replace("_", " "), value)

    def _diverged(self, what: str, value) -> None:
        raise TrainingDiverged(what, value, self.step, self.optimizer.param_groups[0]["lr"],
                               self.ckpt_path, self.saved_step)  # fmt: skip

    def _tokens_per_step(self) -> int:
        """Tokens of one optimizer step, all processes together."""
        config = self.config
        tokens = config.batch_size * config.block_size * config.grad_accum_steps
        return tokens * distributed.world_size()

    def _finish(self, start: float) -> None:
        """Fill in the run's totals: time (over resumes too), speed and MFU."""
        history = self.history
        history.seconds = self.seconds_before + time.perf_counter() - start
        if history.step_ms:
            # at the median step: a first step that compiles, or a slow one, does not count
            median_seconds = statistics.median(history.step_ms) / 1000
            history.tokens_per_second = self._tokens_per_step() / median_seconds
            history.mfu = estimate_mfu(self.model, history.tokens_per_second, self.device)
