"""The installed names (`lebm`, `lebm.core`, `lebm.<app>`) and the source tree's folder names are one set of
modules: an exception raised under one name is caught under the other."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_folder_names_are_the_installed_modules():
    import apps.molecule.cli
    import apps.semisup
    import lebm.core
    import lebm.core.errors
    import lebm.molecule.cli
    import lebm.semisup
    import shared.errors

    assert shared is lebm.core and shared.errors is lebm.core.errors
    assert shared.errors.DataError is lebm.core.errors.DataError
    assert apps.molecule.cli is lebm.molecule.cli and apps.semisup.SymbolVectorClassifier is \
        lebm.semisup.SymbolVectorClassifier
    assert lebm.core.errors.__spec__.name == "lebm.core.errors"
    assert callable(lebm.core.langevin) and shared.langevin is lebm.core.langevin  # the function, not its module


def test_both_module_names_run_the_command_line():
    for name in ("lebm", "shared"):
        run = subprocess.run([sys.executable, "-m", name, "semisup", "--help"], cwd=ROOT, capture_output=True,
                             text=True)
        assert run.returncode == 0 and "evaluate" in run.stdout, (name, run.stderr[-2000:])
