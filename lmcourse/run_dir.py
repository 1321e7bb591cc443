"""The folder of a training run (``out_dir``): checked before training, tidied, its metrics read.

A run writes two files there: the checkpoint ``ckpt.pt`` (``lmcourse.checkpoint``) and
``metrics.jsonl``, one JSON record per step and per evaluation. Both are written through a
temporary file and a rename, so a run killed while saving leaves a file named like
``ckpt.pt3k9x_q1a.tmp`` next to an intact ``ckpt.pt``; the next run in the folder removes it
(``remove_partial_saves``), so that kills never fill the disk with dead copies.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

__all__ = ["check_out_dir", "read_metrics", "remove_partial_saves", "set_aside_run"]

#: The files a run writes into its out_dir.
RUN_FILES = ("ckpt.pt", "metrics.jsonl")


def check_out_dir(out_dir: str | Path | None, resume: bool) -> None:
    """Refuse, before any training, an ``out_dir`` that would lose a run or cannot hold one.

    The folder is created here, so that a path that cannot be one (under a file, on a
    read-only disk) fails now, with its name, and not after the first steps.

    Raises:
        FileExistsError: ``out_dir`` is a file, or holds a checkpoint and ``resume`` is False.
        OSError: the folder cannot be created.
    """
    if out_dir is None:
        return
    out_dir, ckpt = Path(out_dir), Path(out_dir) / "ckpt.pt"
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"out_dir {str(out_dir)!r} is a file, not a folder.")
    if ckpt.exists() and not ckpt.is_file():
        raise FileExistsError(f"{ckpt} is not a file: the checkpoint could not be written there.")
    if ckpt.exists() and not resume:
        raise FileExistsError(
            f"{ckpt} already holds a run: continue it with resume=True (lmcourse train "
            "--resume), or start a new one in another out_dir (or delete that one first)."
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # (a FileExistsError: a file on the way, e.g. a/ckpt.pt/b)
        raise OSError(
            f"out_dir {str(out_dir)!r} cannot be created ({error.strerror or error}): "
            "choose a folder you can write to."
        ) from None


def remove_partial_saves(out_dir: str | Path) -> list[Path]:
    """Delete the temporary files of saves that a kill cut short; return what was deleted.

    Such a file (``ckpt.pt*.tmp``, ``metrics.jsonl*.tmp``) is never read: the rename that would
    have made it the checkpoint did not happen, and the previous checkpoint is intact. Call it
    before a run starts writing, never while another run writes into the same folder.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    removed = []
    for name in RUN_FILES:
        for path in sorted(out_dir.glob(f"{name}*.tmp")):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def read_metrics(path: Path) -> list[tuple[str, dict]]:
    """The records of a run's ``metrics.jsonl``, each with its line of text.

    The file grows a line at a time, so a crash while writing (a kill, a full disk) leaves its
    last line cut short: that record came after the checkpoint, and is dropped like the others
    that did. Blank lines are skipped. A damaged line before the last is no such accident.
    """
    from lmcourse.checkpoint import CheckpointError  # (checkpoint imports this module)

    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
    records = []
    for number, line in numbered:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            record = error.msg
        if isinstance(record, dict):
            records.append((line, record))
        elif number != numbered[-1][0]:
            detail = record if isinstance(record, str) else "not a JSON object"
            raise CheckpointError(
                f"Line {number} of {path} is not a record of the run ({detail}). Only a last "
                "line cut short (by a crash while it was written) is dropped on resuming: mend "
                "or delete this one, then resume again."
            )
    return records


def set_aside_run(out_dir: str | os.PathLike) -> Path | None:
    """Move an earlier run's ``ckpt.pt`` and ``metrics.jsonl`` out of ``out_dir``, losing nothing.

    A fresh run in a folder that holds one (notebook 08 run again without ``resume``) would
    replace its checkpoint. Instead its files go to a sibling folder named after the time of its
    last write, ``<out_dir>-YYYYmmdd-HHMMSS`` (``runs/08_train_gpt-20261129-101500/``), where
    notebooks 09 and 10 and ``lmcourse sample`` can still load it.

    Returns:
        that folder (relative, if ``out_dir`` was), or None when ``out_dir`` holds neither file.
    """
    given = Path(out_dir)
    out_dir = given.resolve()
    files = [out_dir / name for name in ("ckpt.pt", "metrics.jsonl") if (out_dir / name).is_file()]
    if not files:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(max(f.stat().st_mtime for f in files)))
    kept, n = out_dir.with_name(f"{out_dir.name}-{stamp}"), 1
    while kept.exists():  # two runs in one second: -2, -3, ...
        n += 1
        kept = out_dir.with_name(f"{out_dir.name}-{stamp}-{n}")
    kept.mkdir()
    for path in files:
        os.replace(path, kept / path.name)  # a rename: same file system, nothing copied
    return kept if given.name in ("", "..") else given.parent / kept.name
