"""Write the shipped MOSES reference statistics (apps/molecule/data/moses/<split>/) from the official
molsets 0.3.1 statistics files, once, by the developer.

The official files are NumPy pickles (reading them runs pickle); this script reads them once here and
writes what the metrics need in formats that load without pickle: fcd.npz (mu, sigma), counts.json.gz
(BRICS-fragment and scaffold counts) and, for the test split, props.npz (logP, SA, QED, weight of every
molecule, for the property distances). Fingerprints are not shipped (22 MB a split): the metrics derive
them from the split's SMILES at first use (about a minute) and cache them. tests/molecule/test_metrics.py
checks that our own code reproduces these statistics on a sample of each split.

    python bench/make_moses_reference.py
"""

import gzip
import json

import numpy as np

from lebm.molecule.data import moses_file
from lebm.molecule.metrics import PROPERTY_NAMES, SHIPPED_REFERENCE


def main() -> None:
    for split in ("test", "test_scaffolds"):
        stats = np.load(moses_file(f"dataset/data/{split}_stats.npz"), allow_pickle=True)["stats"].item()
        out = SHIPPED_REFERENCE / split
        out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out / "fcd.npz", mu=stats["FCD"]["mu"], sigma=stats["FCD"]["sigma"])
        counts = {"frag": dict(stats["Frag"]["frag"]), "scaf": dict(stats["Scaf"]["scaf"])}
        with gzip.open(out / "counts.json.gz", "wt", encoding="utf-8") as fh:
            json.dump(counts, fh, sort_keys=True)
        if split == "test":  # MOSES measures the property distances against the test split only
            np.savez_compressed(out / "props.npz", **{name: np.asarray(stats[name]["values"], dtype=np.float32)
                                                      for name in PROPERTY_NAMES})
        print(f"wrote {out}: " + ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in sorted(out.iterdir())))


if __name__ == "__main__":
    main()
