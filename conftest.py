"""Test-suite settings shared by every test, doctest and notebook kernel nbval starts.

Training notebooks read ``LMCOURSE_PRESET`` and, when it is set, use that preset instead of
their committed default: the suite runs them with ``ci`` (seconds), while their committed
outputs come from the ``cpu`` preset. Kernels and subprocesses inherit this process's
environment.

One thread per process: the suite runs two workers (``-n 2``) on a 2-core machine, and each
starts kernels and subprocesses. PyTorch's default of one OpenMP thread per core would put
four or more busy threads on two cores, and OpenMP threads that wait for a descheduled partner
make a small training step up to 100 times slower (measured here: 5 ms alone, 500 ms
oversubscribed). Set ``OMP_NUM_THREADS`` yourself to override this.
"""

import atexit
import os
import shutil
import signal
import tempfile

os.environ.setdefault("LMCOURSE_PRESET", "ci")
# Notebook 08 writes its run under this folder instead of notebooks/runs/ (lmcourse.utils.
# resolve_out_dir): the tests never touch, nor move aside, a run a learner made there.
if "LMCOURSE_RUNS_DIR" not in os.environ:  # (xdist's workers inherit the controller's)
    os.environ["LMCOURSE_RUNS_DIR"] = tempfile.mkdtemp(prefix="lmcourse-test-runs-")
    atexit.register(shutil.rmtree, os.environ["LMCOURSE_RUNS_DIR"], ignore_errors=True)
os.environ.setdefault("OMP_NUM_THREADS", "1")
# A shell starts a background job (`./.ci/run &`) with Ctrl-C's SIGINT ignored, and every process
# started from it inherits that; the tests of Ctrl-C need SIGINT as a terminal delivers it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import torch  # noqa: E402  (after OMP_NUM_THREADS, which torch reads when it loads)

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
