"""Writing files safely: a reader (or a crash) never sees half a file.

Everything the course writes for a user (cached corpora, tokenizers, later checkpoints) goes
through here: write a temporary file in the same folder, then rename it over the target.
A rename within one file system is atomic, so the target is either the old file or the new one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_text_atomically"]


def _default_mode() -> int:
    """The permissions ``open()`` would give a new file: 0o666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8 via a temporary file and a rename.

    The parent folder is created if needed. If anything fails, the temporary file is removed
    and ``path`` is left as it was.
    """
    path = Path(path)
    if path.is_dir():  # os.replace would fail later, naming the temporary file
        raise IsADirectoryError(f"'{path}' is a folder; give the path of a file to write.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        os.chmod(tmp, _default_mode())  # mkstemp makes it private (0600); a file is usually not
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
