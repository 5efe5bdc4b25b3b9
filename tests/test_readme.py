"""The README's first code block holds the two commands a new user runs; CI runs the second."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_readme_opens_with_the_main_job_and_the_test_command():
    main, tests = _commands()
    assert "pip install -r requirements.txt" in main and "python -m focusmim run" in main
    assert "pip install -r requirements.txt" in tests and "pytest tests focusmim notebooks --nbval-lax" in tests


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "sed -n 2p" in ci and 'eval "$cmd"' in ci
    # the browser test builds the book and may not skip in CI
    assert "FOCUSMIM_REQUIRE_BROWSER=1" in ci and "apt-get install" in ci and "chromium" in ci


def test_zoo_note_matches_chapter_1s_table():
    """The README says the periphery's zoo model (first seed) is the best of its three seeds and that its
    three-seed mean is below the foveal filter's: both read off the committed 96 px table."""
    import json

    text = (ROOT / "README.md").read_text()
    assert "the masked periphery's is\nthe best of its three seeds" in text
    rows = {r["condition"]: r for r in json.loads((ROOT / "results/imagenette/01_masking_strategy.json")
                                                  .read_text())["rows"]}
    seeds = rows["masked periphery"]["seed_accuracies"]
    assert seeds[0] == max(seeds) and rows["masked periphery"]["pretrain_seeds"][0] == 0
    assert rows["masked periphery"]["accuracy_mean"] < rows["foveal filter"]["accuracy_mean"]
