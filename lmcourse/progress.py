"""The training loops' progress bar: tqdm's, a widget in a notebook and text in a terminal.

In a notebook tqdm draws a widget, which lives in the kernel. Where widgets do not run (a
notebook opened but not yet run, GitHub), a saved notebook shows instead the text the bar had
when it was first drawn, ``training:   0%|          | 0/2000``, right above the cell's own
"2,000 steps in 58 s": as if training had never started. This bar leaves a sentence there.
"""

from __future__ import annotations

from tqdm.auto import tqdm as _auto_tqdm
from tqdm.notebook import tqdm as _notebook_tqdm

__all__ = ["tqdm"]


class _NotebookBar(_notebook_tqdm):
    """tqdm's notebook bar, whose text fallback says what it is instead of its first state."""

    @staticmethod
    def status_printer(_, total=None, desc=None, ncols=None):
        box = _notebook_tqdm.status_printer(_, total, desc, ncols)
        bundle = box._repr_mimebundle_  # the widget's own display
        note = f"{desc or 'progress'}: a progress bar, live while the cell runs"
        box._repr_mimebundle_ = lambda **kwargs: {**bundle(**kwargs), "text/plain": note}
        return box


#: tqdm's choice (a widget in a notebook, text elsewhere), with the notebook bar's fallback.
tqdm = _NotebookBar if issubclass(_auto_tqdm, _notebook_tqdm) else _auto_tqdm
