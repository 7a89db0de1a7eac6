"""One import name per module: `lebm`, `lebm.core`, `lebm.<app>`; the source tree's folder names are not import
names (a second name would make a second copy of every module, with its own exception classes)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_folder_names_do_not_import():
    for name, wanted in (
        ("shared", "import lebm.core, not shared"),
        ("apps", "import lebm, not apps"),
        ("apps.molecule", "import lebm, not apps"),
    ):
        run = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True)
        assert run.returncode != 0 and wanted in run.stderr, (name, run.stderr[-2000:])


def test_the_installed_names_import_and_run_the_command_line():
    import lebm.core.errors
    import lebm.molecule.cli

    assert lebm.core.errors.__spec__.name == "lebm.core.errors" and callable(lebm.core.langevin)
    import lebm.molecule.commands

    assert lebm.molecule.commands.DataError is lebm.core.errors.DataError  # one copy of each module
    run = subprocess.run([sys.executable, "-m", "lebm", "semisup", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0 and "evaluate" in run.stdout, run.stderr[-2000:]
