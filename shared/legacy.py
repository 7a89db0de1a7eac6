"""The source tree's folder names as aliases of the installed import names.

The distribution installs one top-level package, `lebm`: the folder apps/ is `lebm`, shared/ is `lebm.core`,
apps/molecule/ is `lebm.molecule`, and so on, so that it never collides with another project's `apps` or
`shared`. Inside the repository the folders also import by their own names (`import shared`,
`from apps.molecule.cli import ...`); `alias` makes each such name the very module of its installed name,
so a class or an exception is one object whichever name imported it.
"""

import importlib
import importlib.abc
import importlib.util
import sys


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, old: str, new: str):
        self.old, self.new = old, new

    def _target(self, name: str) -> str:
        return self.new + name[len(self.old):]

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(self.old + "."):
            return None
        if fullname.endswith(".__main__"):  # `python -m shared` runs the file itself, under the old name
            real = importlib.util.find_spec(self._target(fullname))
            return importlib.util.spec_from_file_location(fullname, real.origin) if real else None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module(self._target(spec.name))
        spec.loader_state = module.__spec__  # the import system overwrites __spec__; exec_module puts it back
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state


def alias(old: str, new: str) -> None:
    """Make `old` and every `old.x` the modules `new` and `new.x` (call from the package's __init__)."""
    if not any(isinstance(f, _Alias) and f.old == old for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias(old, new))
    sys.modules[old] = importlib.import_module(new)
    # submodules already loaded are entered under the old names too: importing one through the finder would
    # set it as an attribute of the package, over a same-named function (lebm.core.langevin is one)
    for name, module in list(sys.modules.items()):
        if name.startswith(new + "."):
            sys.modules.setdefault(old + name[len(new):], module)
