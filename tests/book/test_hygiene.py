"""focusmim.book: what the rendered notebooks keep."""
import json

import nbformat
import pytest

from focusmim.book.hygiene import clean, clean_file, is_progress, main


def _notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"a": {}}}}
    nb.cells = [nbformat.v4.new_code_cell("preset = 'gpu'", metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("train()")]
    nb.cells[1].outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="mim/covert_attention:   0%|          | 0/156 [00:00<?]"),
        nbformat.v4.new_output("stream", name="stderr", text="UserWarning: something a reader should see\n"),
        nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "m"},
                                                     "text/plain": "HBox(children=(FloatProgress(value=0.0),))"}),
        nbformat.v4.new_output("display_data", data={"text/html": "<table></table>", "text/plain": "t"}),
        nbformat.v4.new_output("stream", name="stdout", text="accuracy 41.8 %\n"),
    ]
    return nb


def test_clean_keeps_what_a_reader_should_see():
    nb = clean(_notebook())
    assert len(nb.cells) == 1 and "widgets" not in nb.metadata
    kept = [o.get("text") or o["data"]["text/plain"] for o in nb.cells[0].outputs]
    assert kept == ["UserWarning: something a reader should see\n", "t", "accuracy 41.8 %\n"]


def test_is_progress():
    assert is_progress({"output_type": "stream", "name": "stderr", "text": ["rembg u2netp:  38%|###8  | 768/2000"]})
    assert is_progress({"output_type": "stream", "name": "stderr", "text": "epoch 1\r"})
    assert not is_progress({"output_type": "stream", "name": "stdout", "text": "38%| 768/2000 as text on stdout"})
    assert not is_progress({"output_type": "execute_result", "data": {"text/plain": "1"}})


def test_clean_file_in_place_and_cli(tmp_path, capsys):
    path = tmp_path / "ch.ipynb"
    nbformat.write(_notebook(), path)
    assert main(["clean", str(path)]) == 0
    nb = json.loads(path.read_text())
    assert len(nb["cells"]) == 1 and "widgets" not in nb["metadata"]
    mtime = path.stat().st_mtime_ns
    clean_file(path)  # nothing left to clean: not rewritten
    assert path.stat().st_mtime_ns == mtime
    assert main(["nope"]) == 2 and "usage" in capsys.readouterr().err
    with pytest.raises(ValueError, match="path="):
        clean_file(tmp_path / "missing.ipynb")
    with pytest.raises(ValueError, match="nb is not a notebook"):
        clean({"metadata": {}})
