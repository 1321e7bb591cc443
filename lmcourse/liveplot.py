"""A loss plot that redraws itself in a notebook while ``train`` runs.

    history = train(model, train_data, val_data, config, on_evaluate=LiveLossPlot())

After every evaluation (every ``eval_interval`` steps) the plot is drawn again in the same
output area, so a learner watches the training and validation losses fall, and sees at once a
run that diverges or overfits. The last drawing stays in the saved notebook as a picture, so
the notebook shows the final curves anywhere, also where widgets do not run (GitHub,
nbviewer). Outside IPython (a script, ``lmcourse train``) it draws nothing.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from lmcourse.train import History
from lmcourse.viz import fit_after_first_interval

__all__ = ["LiveLossPlot"]


class LiveLossPlot:
    """Call it with a ``History``; it redraws the losses in one output area of the notebook.

    Args:
        in_bits: bits (nats / ln 2) instead of nats.
        per: what one token is, for the unit: ``"character"`` (bits per character, for a
            character-level model) or ``"token"``.
        title: the plot's title.
        figsize: the figure's size in inches.

    The training batches' losses (``step_loss``, one batch each: noisy) are drawn faintly
    behind the two estimates, which are averages over ``eval_batches`` batches. As in
    ``viz.plot_history``, the y-axis leaves out the first evaluation interval.
    """

    def __init__(
        self,
        in_bits: bool = True,
        title: str = "Training, live",
        figsize: tuple[float, float] = (7.0, 4.0),
        per: str = "token",
    ) -> None:
        if not isinstance(in_bits, bool):
            raise ValueError(f"in_bits must be True or False, got {in_bits!r}.")
        if per not in ("token", "character"):
            raise ValueError(f"per must be 'token' or 'character', got {per!r}.")
        self.in_bits, self.title, self.figsize, self.per = in_bits, title, figsize, per
        self.handle = None  # IPython's DisplayHandle of the output area, after the first call
        self.draws = 0

    def figure(self, history: History) -> plt.Figure:
        """The plot of ``history`` as a figure that is not shown (closed for pyplot)."""
        if not isinstance(history, History):
            raise TypeError(f"history must be a History, got {type(history).__name__}.")
        scale, unit = (1 / math.log(2), "bits") if self.in_bits else (1.0, "nats")
        fig, ax = plt.subplots(figsize=self.figsize)
        plt.close(fig)  # drawn through the display handle only, never twice by pyplot
        batches = [loss * scale for loss in history.step_loss]
        ax.plot(range(1, len(batches) + 1), batches, color="gray", lw=0.5, alpha=0.5,
                label="each training batch")  # fmt: skip
        estimates = {"train (estimate)": history.train_loss,
                     "validation (estimate)": history.val_loss}  # fmt: skip
        curves = [(history, range(1, len(batches) + 1), batches)]  # (history, steps, values)
        for (name, values), colour in zip(estimates.items(), ("C0", "C1")):
            curves.append((history, history.steps, [v * scale for v in values]))
            ax.plot(*curves[-1][1:], marker=".", color=colour, label=name)
        fit_after_first_interval(ax, curves, f"{unit} per {self.per}")
        title = self.title
        if history.steps:
            title += f"; step {history.steps[-1]}: validation {history.val_loss[-1] * scale:.3f}"
        ax.set_title(f"{title} {unit}" if history.steps else title)
        ax.set_xlabel("training step")
        ax.set_ylabel(f"loss ({unit} per {self.per})")
        ax.grid(alpha=0.3)
        ax.legend()
        return fig

    def __call__(self, history: History) -> None:
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # no IPython: nowhere to draw
            return
        if get_ipython() is None:  # a script or a terminal
            return
        fig = self.figure(history)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        self.draws += 1
