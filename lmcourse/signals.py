"""Stopping a training run cleanly at Ctrl-C or SIGTERM: after the step in progress, not inside it.

A notebook's "interrupt the kernel" is a Ctrl-C (SIGINT); a cluster's time limit or ``kill`` is
a SIGTERM. Either one, arriving in the middle of a step, would leave the optimizer half updated.
While a ``StopAfterStep`` is active they only set a flag, which the loop of
``lmcourse.trainer.Run`` reads at the end of each step: it saves that step, then stops.
"""

from __future__ import annotations

import signal
import sys
import threading

from lmcourse import distributed

__all__ = ["StopAfterStep"]


class StopAfterStep:
    """While active, SIGINT and SIGTERM only set ``self.signal``; the loop stops at a step's end.

    The first signal also puts the previous handlers back, so a second one acts at once.
    Under DDP the processes stop after the same step: ``mean_and_agree`` tells each whether any
    got one.
    """

    def __init__(self) -> None:
        self.signal: str | None = None  # the signal this process got
        self.agreed: str | None = None  # under DDP: a signal that some process got
        self.previous: dict = {}

    def __enter__(self) -> StopAfterStep:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self.previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, frame) -> None:
        self.signal = signal.Signals(number).name
        self._restore()
        if distributed.is_main_process():  # (under torchrun every process gets the signal)
            print(f"\n{self.signal}: the training stops after the step in progress (an "
                  "evaluation can take a while) and saves it; a second signal stops at once.",
                  file=sys.stderr, flush=True)  # fmt: skip

    def mean_and_agree(self, loss: float) -> float:
        """The mean of ``loss`` over the processes; under DDP, also agree on stopping."""
        total, signalled = distributed.all_sum([loss, float(self.signal is not None)])
        if signalled and self.agreed is None:  # (only another got one: torchrun's SIGTERM)
            self.agreed = self.signal or "SIGTERM"
        return total / distributed.world_size()

    def requested(self) -> str | None:
        """The signal to stop after this step for: one process's own; under DDP, the agreed."""
        return self.signal if distributed.world_size() == 1 else self.agreed

    def _restore(self) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        self.previous = {}

    def __exit__(self, *exc_info) -> None:
        self._restore()
