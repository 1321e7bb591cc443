"""``python -m lmcourse ...``: the ``lmcourse`` command, where its script is not installed.

For a source tree put on ``PYTHONPATH`` rather than installed with pip (a GPU machine without
internet, say): ``python -m lmcourse run 08 --preset gpu --device cuda``.
"""

import sys

from lmcourse.cli import main

if __name__ == "__main__":
    sys.exit(main())
