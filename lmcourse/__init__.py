"""lmcourse: language models from counting to GPT, built and tested piece by piece.

One module per concept; the notebooks in ``notebooks/`` import from them::

    from lmcourse.data import load_text, train_val_split, get_batch
    from lmcourse.tokenizers import CharTokenizer, WordTokenizer
    from lmcourse.utils import seed_everything, get_device, show_source, count_params
    from lmcourse.exercises import check
    from lmcourse import load_pretrained        # the shipped GPT: model, tokenizer, info
"""

import importlib.metadata

try:
    __version__ = importlib.metadata.version("lmcourse")
except importlib.metadata.PackageNotFoundError:  # running from a source tree, not installed
    __version__ = "0.0.0+unknown"


def __getattr__(name: str):
    """``lmcourse.load_pretrained``, imported on first use (it imports torch)."""
    if name == "load_pretrained":
        from lmcourse.pretrained import load_pretrained

        return load_pretrained
    raise AttributeError(f"module 'lmcourse' has no attribute {name!r}")
