"""``lmcourse run NN``: execute a numbered notebook with papermill, its parameters checked.

The notebook's ``parameters`` cell declares its knobs (``papermill --help-notebook``); ``-p KEY
VALUE``, ``--preset`` and ``--device`` are checked against them (an unknown name, a value of the
wrong type, a preset the notebook does not know) before a kernel starts. A relative path given
to ``corpus``, ``checkpoint`` or ``out_dir`` (``-p corpus my.txt``, ``-p out_dir runs/mine``)
means one from where the command runs: it becomes absolute, since the kernel runs in
``notebooks/``. The executed notebook, and the checkpoint of a training notebook (its
``out_dir``), go to ``runs/NN-PRESET-TIME/``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import tempfile
from pathlib import Path

from lmcourse.cli import _fail
from lmcourse.run_dir import keep_aside

__all__ = ["run_notebook"]


def _notebooks_dir() -> Path:
    import lmcourse

    return Path(lmcourse.__file__).resolve().parents[1] / "notebooks"


def _find_notebook(number: str) -> Path:
    """The notebook ``NN_*.ipynb`` whose number is ``number`` ("3" or "03")."""
    folder = _notebooks_dir()
    found = sorted(folder.glob(f"{int(number):02d}_*.ipynb")) if number.isdigit() else []
    if not found:
        names = ", ".join(p.stem for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))) or "none"
        _fail("run", f"no notebook numbered {number!r} in {folder}; the notebooks: {names}.")
    return found[0]


def _parse_value(name: str, raw: str, declared: dict):
    """``raw`` read as YAML, like papermill's ``-p``, and checked against the declared type."""
    import yaml

    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    kind = declared.get("inferred_type_name") or ""
    optional = kind.startswith("Optional[") and kind.endswith("]")  # `int | None` in the cell
    if optional:
        kind = kind[len("Optional[") : -1]
        if value is None:  # `-p max_iters null`: back to the notebook's default behaviour
            return None
    if kind == "str":
        return value if isinstance(value, str) else raw  # `-p corpus 2024` means the text
    if kind == "list":
        return _checked_list(name, value, raw, declared)
    types = {"int": int, "float": int | float, "bool": bool}.get(kind)
    if types is None:  # no annotation, or a type we do not check (dict...)
        return value
    if not isinstance(value, types) or (kind != "bool" and isinstance(value, bool)):
        article = "an" if kind == "int" else "a"
        none = " or None" if optional else ""
        raise ValueError(f"parameter {name} is {article} {kind}{none} (default "
                         f"{declared.get('default')}), got {raw!r}.")  # fmt: skip
    return float(value) if kind == "float" else value


def _checked_list(name: str, value, raw: str, declared: dict) -> list:
    """``value`` if it is a list of what the default list holds (``[512, 1024]``: integers)."""
    import yaml

    default = yaml.safe_load(str(declared.get("default")))
    kinds = {type(item) for item in default} if isinstance(default, list) else set()
    if float in kinds:
        kinds.add(int)  # 2 is a float too (True is not: type(True) is bool)
    if not isinstance(value, list) or (kinds and not all(type(item) in kinds for item in value)):
        raise ValueError(f"parameter {name} is a list like its default {declared.get('default')}, "
                         f"got {raw!r}.")  # fmt: skip
    return value


def _choices(declared: dict) -> list[str]:
    """The quoted names in a parameter's help, ``"ci" (...), "cpu" (...) or "gpu"``."""
    import re

    return re.findall(r'"([^"\s]+)"', declared.get("help") or "")


#: Parameters that name a file or a folder to read (a corpus or a shipped model's name works too).
_PATH_PARAMETERS = ("corpus", "checkpoint")
#: Parameters that name a folder to write into: it need not exist yet.
_OUTPUT_PARAMETERS = ("out_dir",)


def _looks_like_a_path(path: Path) -> bool:
    """``runs/x/ckpt.pt`` or ``my.txt``, not a name such as ``tiny-shakespeare``."""
    return len(path.parts) > 1 or path.suffix != ""


def _from_here(name: str, value, raw: str):
    """``value``, a relative path made absolute from here: the kernel runs in notebooks/."""
    if name not in _PATH_PARAMETERS + _OUTPUT_PARAMETERS or not isinstance(value, str):
        return value  # (a prompt that happens to name a file stays text)
    path = Path(value).expanduser()  # ~/runs: the shell would have expanded it, unquoted
    if path.is_absolute() or not value:
        return str(path) if value else value
    if name in _OUTPUT_PARAMETERS or path.exists():
        return str(path.resolve())
    if _looks_like_a_path(path) and not (_notebooks_dir() / path).exists():
        _fail("run", f"-p {name} {raw}: no such file or folder, neither here "
                     f"({Path.cwd()}) nor in {_notebooks_dir()}.")  # fmt: skip
    return value  # a name, or a path that exists from notebooks/: the notebook's to judge


def _run_parameters(args: argparse.Namespace, label: str, declared: dict) -> dict:
    """The parameters to inject: ``-p`` values, then ``--preset`` and ``--device``, checked."""
    params = {}
    for name, raw in args.parameters or []:
        if name not in declared:
            _fail("run", f"{label} has no parameter {name!r}; its parameters: "
                         f"{', '.join(declared) or 'none'}.")  # fmt: skip
        try:
            params[name] = _from_here(name, _parse_value(name, raw, declared[name]), raw)
        except ValueError as error:
            _fail("run", f"{label}: {error}")
    for name in ("preset", "device"):
        value = getattr(args, name)
        if value is None:
            continue
        if name not in declared:
            print(f"lmcourse run: note: {label} has no {name} parameter; --{name} ignored.",
                  file=sys.stderr)  # fmt: skip
        elif params.setdefault(name, value) != value:
            _fail("run", f"--{name} {value} and -p {name} {params[name]} disagree.")
    choices = _choices(declared["preset"]) if "preset" in declared else []
    if choices and "preset" in params and params["preset"] not in choices:
        _fail("run", f"{label} knows the presets {', '.join(choices)}; "
                     f"got {params['preset']!r}.")  # fmt: skip
    _check_device(label, params.get("device"))
    return params


def _check_device(label: str, device) -> None:
    """Fail now, before a kernel starts, for a device this machine lacks (``--device cuda``)."""
    if not isinstance(device, str):  # None: the notebook picks the best available
        return
    from lmcourse.utils import get_device

    try:
        get_device(device)
    except ValueError as error:
        _fail("run", f"{label}: {error}")


def _run_folder(args: argparse.Namespace, notebook: Path, preset: str | None) -> Path:
    """``--out-dir``, or ``runs/NN-<preset>-<YYYYmmdd-HHMMSS>`` (no preset part without one)."""
    import re
    from datetime import datetime

    if args.out_dir is not None and not args.out_dir.strip():  # --out-dir "$OUT", OUT unset
        _fail("run", "--out-dir is empty: give a folder (without it: runs/NN-PRESET-TIME).")
    if args.out_dir:
        return Path(args.out_dir)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    parts = [notebook.name[:2], re.sub(r"[^\w.]", "_", preset) if preset else None, stamp]
    return Path("runs") / "-".join(part for part in parts if part)


def _default_preset(declared: dict) -> str | None:
    import ast

    try:
        value = ast.literal_eval(declared["preset"]["default"])
    except (KeyError, ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


class _InterruptKernel:
    """While active, Ctrl-C interrupts the kernel, as a notebook's stop button does.

    The kernel runs in a process group of its own, so a terminal's Ctrl-C reaches only this
    process; passing it on lets the cell in progress stop its own way (a training loop saves
    the step it is in). A second Ctrl-C stops this process at once.
    """

    def __init__(self, kernel_manager) -> None:
        self.kernel_manager, self.previous, self.interrupted = kernel_manager, None, False

    def __enter__(self) -> _InterruptKernel:
        import signal
        import threading

        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, number, frame) -> None:
        import signal

        signal.signal(signal.SIGINT, self.previous)  # a second Ctrl-C: KeyboardInterrupt here
        self.interrupted = True
        process = getattr(getattr(self.kernel_manager, "provisioner", None), "process", None)
        print("\nlmcourse run: interrupting the notebook (Ctrl-C again stops at once)",
              file=sys.stderr)  # fmt: skip
        if process is not None:
            os.kill(process.pid, signal.SIGINT)

    def __exit__(self, *exc_info) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


@contextlib.contextmanager
def _kernel():
    """A kernel manager for papermill, whose kernel is shut down when the block ends.

    Else the kernel lingers until this process ends, then says so on stderr. Where there are
    Unix sockets, the kernel listens on them, in a folder of its own: over TCP, ipykernel
    warns at every start that the traffic (code, outputs) is not encrypted.
    """
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    with tempfile.TemporaryDirectory(prefix="lmcourse-kernel-") as sockets:
        unix = os.name == "posix"  # (Windows: TCP) sockets at ipc://SOCKETS/kernel-1, -2...
        where = dict(transport="ipc", ip=os.path.join(sockets, "kernel")) if unix else {}
        kernel_manager = AsyncKernelManager(kernel_name="python3", **where)
        try:
            yield kernel_manager
        finally:
            if run_sync(kernel_manager.is_alive)():  # (nbclient leaves a kernel it was given)
                _ask_to_stop(kernel_manager)
                run_sync(kernel_manager.shutdown_kernel)(now=True)  # tidy up (kill a stuck one)


def _ask_to_stop(kernel_manager, seconds: float = 5.0) -> None:
    """Send the kernel a shutdown request and wait for it to exit.

    ``shutdown_kernel`` interrupts the kernel first, and a kernel interrupted between cells
    may say "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel" on the user's terminal.
    """
    import time

    from jupyter_core.utils import run_sync

    client = kernel_manager.client()
    client.start_channels()
    try:
        client.shutdown()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and run_sync(kernel_manager.is_alive)():
            time.sleep(0.05)
    finally:
        client.stop_channels()


def _execute(notebook: Path, output: Path, params: dict, args: argparse.Namespace,
             resumable: bool = False) -> int:  # fmt: skip
    """Run ``notebook`` into ``output`` with papermill; 1 with a short message if it fails.

    Ctrl-C interrupts the notebook's kernel (a training run saves its step) and returns 130.
    """
    import papermill
    from nbclient.exceptions import DeadKernelError

    saved = os.environ.pop("LMCOURSE_PRESET", None)  # the kernel must not override --preset
    status = 1
    try:
        with _kernel() as kernel_manager, _InterruptKernel(kernel_manager) as ctrl_c:
            papermill.execute_notebook(str(notebook), str(output), parameters=params,
                                       kernel_name="python3", cwd=str(notebook.parent),
                                       progress_bar=not args.no_progress, km=kernel_manager,
                                       execution_timeout=args.timeout)  # fmt: skip
    except papermill.PapermillExecutionError as error:
        problem = f"failed in cell In [{error.exec_count}]: {error.ename}: {error.evalue}"
        if ctrl_c.interrupted:
            problem, status = f"was interrupted: {error.evalue}", 130
            if error.ename == "TrainingInterrupted" and resumable:  # a `resume` parameter
                again = shlex.join(args.argv) + ("" if params.get("resume") else " -p resume true")
                problem += f" Continue with: lmcourse {again}"
    except KeyboardInterrupt:
        problem, status = "was stopped (Ctrl-C)", 130
    except TimeoutError:
        problem = f"a cell ran longer than --timeout {args.timeout:g} seconds"
    except DeadKernelError:
        problem = "the kernel died (out of memory?)"
    else:
        return 0
    finally:
        if saved is not None:
            os.environ["LMCOURSE_PRESET"] = saved
    print(f"lmcourse run: {notebook.name} {problem.rstrip('.')}; the executed notebook, up to "
          f"there, is {output}", file=sys.stderr)  # fmt: skip
    return status


def run_notebook(args: argparse.Namespace) -> int:
    """``lmcourse run NN``: execute notebook NN with papermill into ``runs/NAME/``."""
    if not args.timeout > 0:
        _fail("run", f"--timeout must be > 0 seconds, got {args.timeout:g}.")
    notebook = _find_notebook(args.notebook)
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    params = _run_parameters(args, notebook.name, declared)
    folder = _run_folder(args, notebook, params.get("preset") or _default_preset(declared))
    if "out_dir" in declared and "out_dir" not in params:
        params["out_dir"] = str(folder.resolve())  # the checkpoint next to the notebook
    checkpoint = Path(params["out_dir"]) / "ckpt.pt" if "out_dir" in params else None
    if checkpoint and checkpoint.exists() and not params.get("resume"):  # set_aside_run's move
        print(f"lmcourse run: note: {checkpoint.parent} holds an earlier run; the notebook moves "
              f"it to a folder next to it named after its time.", file=sys.stderr)  # fmt: skip
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a file of that name, a read-only disk...
        _fail("run", f"cannot make the folder {str(folder)!r} for the executed notebook "
                     f"({error.strerror or error}); choose another --out-dir.")  # fmt: skip
    output = folder.resolve() / notebook.name
    if output == notebook.resolve():
        _fail("run", f"--out-dir {str(folder)!r} is the course's notebooks folder: the executed "
                     f"copy would replace {notebook.name}. Choose another --out-dir.")  # fmt: skip
    kept = keep_aside(output)  # an earlier executed copy (or yours, of that name) is renamed
    if kept:
        print(f"lmcourse run: note: the earlier {output.name} there is kept as {kept.name}.",
              file=sys.stderr)  # fmt: skip
    status = _execute(notebook, output, params, args, resumable="resume" in declared)
    if status == 0:
        print(f"executed notebook: {output}")
        if checkpoint and checkpoint.exists():
            print(f"checkpoint:        {checkpoint}  (lmcourse run 09 -p checkpoint "
                  f"{shlex.quote(str(checkpoint.parent))})")  # fmt: skip
        for each in sorted(checkpoint.parent.glob("*/ckpt.pt")) if checkpoint else ():
            print(
                f"checkpoint:        {each}  (lmcourse run 16 -p checkpoint "
                f"{shlex.quote(str(each.parent))})"
            )  # notebook 11's: a model per folder
    return status
