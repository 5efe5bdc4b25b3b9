"""A notebook's parameters fail in its first cell: invalid config values and undeclared names."""
from __future__ import annotations

import nbformat
import pytest

from focusmim.config import ConfigError
from focusmim.book.notebook import check_injected_parameters, setup

from tests.config.test_core import INVALID

PARAMS = "# Parameters (papermill: -p NAME VALUE)\npreset = None\nepochs = None\nseeds = None\n"


@pytest.mark.parametrize("override, words", INVALID, ids=[",".join(o) for o, _ in INVALID])
def test_setup_rejects_every_invalid_config(override, words):
    with pytest.raises(ConfigError) as e:
        setup("demo", preset="smoke", **override)
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize("injected, bad", [
    ("# Parameters\nepoch = 3\n", "'epoch'"),
    ("# Parameters\nepochs = 3\nratio = 0.5\n", "'ratio'"),
    ("# Parameters\nseed = 1\nprobe_seed = 2\n", "'seed', 'probe_seed'"),
])
def test_undeclared_papermill_parameter_names_it_and_the_declared_ones(injected, bad):
    with pytest.raises(ConfigError) as e:
        check_injected_parameters(["", PARAMS, injected, "import focusmim"])
    assert bad in str(e.value) and "allowed: preset, epochs, seeds" in str(e.value)


def test_declared_parameters_and_plain_runs_pass():
    check_injected_parameters(["", PARAMS, "# Parameters\nepochs = 3\nseeds = [0, 1]\n"])
    check_injected_parameters(["", PARAMS, "x = 1"])  # not under papermill: nothing injected
    check_injected_parameters()  # outside IPython


def test_papermill_run_fails_in_the_setup_cell(tmp_path):
    """A real papermill execution of a two-cell notebook with an undeclared parameter."""
    import papermill

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    params = nbformat.v4.new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        'import focusmim.book.notebook\nnb = focusmim.book.notebook.setup("demo", preset="smoke", seeds=seeds, epochs=epochs)')]
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    with pytest.raises(papermill.PapermillExecutionError) as e:
        papermill.execute_notebook(str(src), str(out), parameters={"epoch": 3}, kernel_name="python3",
                                   progress_bar=False)
    assert e.value.ename == "ConfigError"
    assert "'epoch' is not declared by this notebook; allowed: preset, epochs, seeds" in e.value.evalue
    # the declared one runs
    papermill.execute_notebook(str(src), str(out), parameters={"epochs": 1}, kernel_name="python3",
                               progress_bar=False)
