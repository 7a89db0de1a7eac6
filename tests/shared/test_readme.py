"""The README's Python examples run as written (with fewer training steps, so that they are quick)."""

from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[2] / "README.md"


def example(section: str) -> str:
    """The first ```python block after the heading `## <section>`."""
    text = README.read_text().split(f"## {section}\n", 1)[1]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def shortened(code: str, old: str, new: str) -> str:
    assert old in code, f"the README example no longer contains {old!r}"
    return code.replace(old, new)


def test_core_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = shortened(example("The core in a few lines of Python"), "steps=600", "steps=5")
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "runs/toy/model/config.json").is_file()


def test_semisup_example_runs(tmp_path, monkeypatch):
    from sklearn.datasets import make_moons

    monkeypatch.chdir(tmp_path)
    X, y = make_moons(200, noise=0.1, random_state=0)
    y = np.where(np.arange(200) < 20, y, -1)
    code = shortened(example("Semi-supervised classification"), "random_state=0)", "random_state=0, steps=5)")
    scope = {"X": X, "y": y, "X_new": X[:7]}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["clf"].predict(X[:7]).shape == (7,)
    assert (tmp_path / "svc").is_dir()

