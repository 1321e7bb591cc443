"""Test-suite settings shared by every test file and by the notebook kernels nbval starts.

Training notebooks read ``LMCOURSE_PRESET`` and, when it is set, use that preset instead of
their committed default: the suite runs them with ``ci`` (seconds), while their committed
outputs come from the ``cpu`` preset. Kernels inherit this process's environment.
"""

import os

os.environ.setdefault("LMCOURSE_PRESET", "ci")
