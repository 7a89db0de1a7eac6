"""The distribution installs one top-level package, `lebm`, so it lives beside another project's `apps`."""

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_installs_beside_another_projects_apps_package(tmp_path):
    source = tmp_path / "source"  # built from a copy: the build's own folders never land in the checkout
    for name in ("apps", "shared", "models"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = subprocess.run(
        [sys.executable, "-c", "from setuptools import build_meta as b; b.build_wheel('dist')"],
        cwd=source,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    output = build.stdout + build.stderr
    assert not [line for line in output.splitlines() if "license" in line.lower() and "deprecat" in line.lower()]
    assert not [line for line in output.splitlines() if "DeprecationWarning" in line or "BackendWarning" in line]
    assert "would be ignored" not in output  # every data folder is a listed package: no setuptools warning
    wheel = next((source / "dist").glob("lebm-*.whl"))
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"lebm"}
    names = zipfile.ZipFile(wheel).namelist()
    assert "lebm/molecule/presets/latent.toml" in names
    assert {
        f"lebm/molecule/data/{split}/{f}"
        for split in ("moses/test", "moses/test_scaffolds", "zinc250k/test")
        for f in ("fcd.npz", "counts.json.gz")
    } | {"lebm/molecule/data/moses/test/props.npz", "lebm/molecule/data/zinc250k/test/props.npz"} <= set(names)

    env = tmp_path / "env"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "apps").mkdir()
    (site / "apps" / "__init__.py").write_text("WHO = 'another project'\n")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # torch, rdkit & co. come from this test's environment (added after the install, so pip never sees them)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run = tmp_path / "elsewhere"  # not the checkout, whose folders would shadow the installed package
    run.mkdir()
    help_ = subprocess.run([env / "bin" / "lebm", "--help"], cwd=run, capture_output=True, text=True)
    assert help_.returncode == 0, help_.stderr[-3000:]
    assert all(group in help_.stdout for group in ("molecule", "semisup", "text", "toy"))
    probe = subprocess.run(
        [python, "-c", "import apps, lebm.core, lebm.molecule.cli; print(apps.WHO); print(lebm.core.__file__)"],
        cwd=run,
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    who, core = probe.stdout.splitlines()
    assert who == "another project" and Path(core).is_relative_to(site)

    # the wheel carries the bundled models: the commands and the API work with no repository on the path
    assert {"lebm/models/zinc-lebm/model.safetensors", "lebm/models/bbc-text/tokenizer/tokenizer.json"} <= set(names)
    assert wheel.stat().st_size < 40e6  # 27 MB: the text model 15 MB, the molecule model 4 MB, reference data
    for argv in (
        ["lebm", "molecule", "generate", "-n", "20", "-o", "g.csv", "--quiet"],
        ["lebm", "text", "sample", "-n", "2"],
    ):
        done = subprocess.run([env / "bin" / argv[0], *argv[1:]], cwd=run, capture_output=True, text=True)
        assert done.returncode == 0, (argv, done.stderr[-3000:])
    assert len((run / "g.csv").read_text().splitlines()) == 21
    api = subprocess.run(
        [
            python,
            "-c",
            "import lebm.molecule as m; from lebm.molecule.cli import BUNDLED; "
            "print(len(m.load_model().generate(5)), BUNDLED)",
        ],
        cwd=run,
        capture_output=True,
        text=True,
    )
    assert api.returncode == 0, api.stderr[-3000:]
    rows, bundled = api.stdout.split()
    assert rows == "5" and Path(bundled).is_relative_to(site)


def test_make_setup_is_the_all_extra_plus_the_no_deps_packages():
    """`pip install 'lebm[all]'` and the Makefile's --no-deps line give what `make setup` gives, each installed here
    at its pin; pyproject.toml says why each --no-deps package cannot be an extra."""
    import re
    import tomllib
    from importlib.metadata import version

    pyproject = (ROOT / "pyproject.toml").read_text()
    extras = tomllib.loads(pyproject)["project"]["optional-dependencies"]
    assert extras["all"] == [f"lebm[{','.join(sorted(set(extras) - {'all', 'test'}))}]"]
    no_deps = re.search(r"^NO_DEPS := (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    pinned = [r for name in set(extras) - {"all", "test"} for r in extras[name] if "==" in r] + no_deps
    for requirement in pinned:
        name, pin = requirement.split("==")
        assert version(name) == pin, requirement
    for requirement in no_deps:
        assert requirement.split("==")[0] + " " + requirement.split("==")[1] in pyproject.replace("\n# ", " ")
