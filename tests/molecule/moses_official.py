"""Import the official MOSES metrics (molsets 0.3.1) on current rdkit / pandas / numpy.

Three compatibility fixes, applied only here (the suite's own metrics never import molsets code):
rdkit.six is gone (SA_Score imports iteritems from it), pandas.DataFrame.append is gone (the
filters table is built with it), and numpy 2 dropped the np.NaN alias.
"""

import sys
import types

import numpy as np
import pandas as pd


def get_all_metrics():
    if "rdkit.six" not in sys.modules:
        six = types.ModuleType("rdkit.six")
        six.iteritems = lambda d: iter(d.items())
        six.PY3 = True
        sys.modules["rdkit.six"] = six
    if not hasattr(pd.DataFrame, "append"):
        pd.DataFrame.append = lambda self, other, sort=False: pd.concat([self, other], sort=sort)
    if not hasattr(np, "NaN"):
        np.NaN = np.nan
    from moses.metrics import get_all_metrics as official

    return official
