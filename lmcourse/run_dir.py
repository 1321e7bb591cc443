"""The folder of a training run (``out_dir``): checked before training, tidied, its metrics read.

A run writes two files there: the checkpoint ``ckpt.pt`` (``lmcourse.checkpoint``) and
``metrics.jsonl``, one JSON record per step and per evaluation. Both are written through a
temporary file and a rename, so a run killed while saving leaves a file named like
``ckpt.pt3k9x_q1a.tmp`` next to an intact ``ckpt.pt``; the next run in the folder removes it
(``remove_partial_saves``), so that kills never fill the disk with dead copies.

While a run trains, it holds its folder (``claim``: a file ``run.lock`` with its process id), so
that a second run started into the same folder, or notebook 08 run again meanwhile, is refused
instead of writing over the first run's checkpoint or moving it away mid-run.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "RunInUse",
    "check_out_dir",
    "claim",
    "keep_aside",
    "read_metrics",
    "remove_partial_saves",
    "set_aside_run",
]

#: The files a run writes into its out_dir.
RUN_FILES = ("ckpt.pt", "metrics.jsonl")
LOCK = "run.lock"  # "<process id> <host>" of the run that trains into the folder now


class RunInUse(FileExistsError):
    """Another run, still alive, trains into this folder now."""


def _holder(out_dir: Path) -> str | None:
    """Who holds ``out_dir``: "process N on HOST", if that process still runs; else None.

    A lock left by a run that is gone (killed with kill -9, a crashed machine) is no one's. A
    process of another machine (a shared disk) cannot be asked: it counts as alive.
    """
    try:
        text, host = (out_dir / LOCK).read_text(encoding="utf-8").split()
        pid = int(text)
    except (OSError, ValueError):  # no lock, or not one this module wrote
        return None
    if pid <= 0 or (host == socket.gethostname() and pid == os.getpid()):
        return None  # not a process id, or this process's own
    if host == socket.gethostname() and os.name != "nt":  # (on Windows os.kill(pid, 0) ends it)
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return None
        except PermissionError:  # it exists, and belongs to someone else
            pass
    return f"process {pid} on {host}"


def _in_use(out_dir: Path, holder: str) -> RunInUse:
    return RunInUse(
        f"{out_dir} is in use: a run ({holder}) is training into it now. Wait for it to end, "
        f"or choose another folder. (If no run is training there, delete {out_dir / LOCK}.)"
    )


@contextlib.contextmanager
def claim(out_dir: str | Path) -> Iterator[None]:
    """Hold ``out_dir`` while the block runs: a second run into the same folder is refused.

    The lock is created with ``O_EXCL``, so of two runs starting at once exactly one gets it;
    a lock whose process is gone is taken over. It is removed when the block ends, however.

    Raises:
        RunInUse: a live run holds the folder.
    """
    out_dir = Path(out_dir)
    path = out_dir / LOCK
    for _ in range(2):  # the second try: after removing a dead run's lock
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            holder = _holder(out_dir)
            if holder is not None:
                raise _in_use(out_dir, holder) from None
            path.unlink(missing_ok=True)
    else:
        raise _in_use(out_dir, "another run, starting at the same moment")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"{os.getpid()} {socket.gethostname()}\n")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


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
    for path, what in ((ckpt, "the checkpoint"), (out_dir / "metrics.jsonl", "the metrics")):
        if path.exists() and not path.is_file():  # a folder: found now, not at the first step
            raise FileExistsError(f"{path} is not a file: {what} could not be written there.")
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

    Raises:
        RunInUse: a live run is training into ``out_dir``.
    """
    given = Path(out_dir)
    out_dir = given.resolve()
    holder = _holder(out_dir)
    if holder is not None:  # its files are being written: moving them would lose its steps
        raise _in_use(given, holder)
    files = [out_dir / name for name in ("ckpt.pt", "metrics.jsonl") if (out_dir / name).is_file()]
    if not files:
        return None
    kept = _stamped(out_dir, max(f.stat().st_mtime for f in files))
    kept.mkdir()
    for path in files:
        os.replace(path, kept / path.name)  # a rename: same file system, nothing copied
    return kept if given.name in ("", "..") else given.parent / kept.name


def keep_aside(path: str | os.PathLike) -> Path | None:
    """Rename the file ``path`` after the time of its last write, so a new one takes its place
    and the old one is kept: ``metrics.jsonl`` becomes ``metrics-20261129-101500.jsonl``.

    Used for an older run's ``metrics.jsonl`` left without its checkpoint, and by ``lmcourse
    run`` for an executed notebook it would write again. Returns the new path, or None when
    there is no such file.
    """
    path = Path(path)
    if not path.is_file():
        return None
    kept = _stamped(path, path.stat().st_mtime)
    os.replace(path, kept)
    return kept


def _stamped(path: Path, mtime: float) -> Path:
    """A free name next to ``path``, with the time ``mtime`` before its suffix (-2, -3, ... when
    two things were written in one second): ``runs/x-20261129-101500``, ``m-20261129-101500.json``.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(mtime))
    kept, n = path.with_name(f"{path.stem}-{stamp}{path.suffix}"), 1
    while kept.exists():
        n += 1
        kept = path.with_name(f"{path.stem}-{stamp}-{n}{path.suffix}")
    return kept
