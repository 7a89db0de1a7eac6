"""The Python examples of the README and docs/ run as written (with fewer training steps, so that they are quick)."""

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
README, DOCS = ROOT / "README.md", ROOT / "docs"


def example(section: str, page: Path = README) -> str:
    """The first ```python block after the heading `<#...> <section>` of a page."""
    text = page.read_text()
    heading = next(line for line in text.splitlines() if line.lstrip("#").strip() == section and line.startswith("#"))
    text = text.split(heading + "\n", 1)[1]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def python_blocks(page: Path) -> list[str]:
    return [part.split("```", 1)[0] for part in page.read_text().split("```python\n")[1:]]


def test_every_python_block_is_run_by_a_test():
    """Each block of README.md and docs/ is one of those the tests below run (a new block needs its own test)."""
    run = {
        example("Quick start: molecules"),
        example("Semi-supervised classification in three lines"),
        example("Text in three lines"),
        example("The core in a few lines of Python", DOCS / "core.md"),
        example("Semi-supervised classification", DOCS / "semisup.md"),
        example("The Python API", DOCS / "molecule.md"),
        example("The Python API", DOCS / "text.md"),
    }
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        for block in python_blocks(page):
            assert block in run or block.lstrip().startswith("# score_activity.py"), (page.name, block[:80])


def test_readme_quick_start_runs():
    scope: dict = {}
    exec(compile(example("Quick start: molecules"), "README.md", "exec"), scope)
    assert len(scope["molecules"]) == 100 and len(scope["on_target"]) == 10 and 0 < scope["figures"]["Valid"] <= 1


@pytest.mark.parametrize(
    "section,page",
    [("The Python API", DOCS / "molecule.md"), ("The Python API", DOCS / "text.md"), ("Text in three lines", README)],
)
def test_api_examples_run(section, page):
    exec(compile(example(section, page), page.name, "exec"), {})


def test_readme_semisup_lines_run():
    from sklearn.datasets import make_moons

    X, y = make_moons(200, noise=0.1, random_state=0)
    y = np.where(np.arange(200) < 20, y, -1)
    code = example("Semi-supervised classification in three lines").replace(
        "random_state=0)", "random_state=0, steps=5)"
    )
    scope = {"X": X, "y": y, "X_new": X[:7]}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["proba"].shape == (7, 2)


def shortened(code: str, old: str, new: str) -> str:
    assert old in code, f"the README example no longer contains {old!r}"
    return code.replace(old, new)


def test_core_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = shortened(example("The core in a few lines of Python", DOCS / "core.md"), "steps=600", "steps=5")
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "runs/toy/model/config.json").is_file()


def test_semisup_example_runs(tmp_path, monkeypatch):
    from sklearn.datasets import make_moons

    monkeypatch.chdir(tmp_path)
    X, y = make_moons(200, noise=0.1, random_state=0)
    y = np.where(np.arange(200) < 20, y, -1)
    code = shortened(
        example("Semi-supervised classification", DOCS / "semisup.md"), "random_state=0)", "random_state=0, steps=5)"
    )
    scope = {"X": X, "y": y, "X_new": X[:7]}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["clf"].predict(X[:7]).shape == (7,)
    assert (tmp_path / "svc").is_dir()
