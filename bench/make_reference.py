"""Write the shipped reference statistics (apps/molecule/data/<set>/<split>/), once, by the developer.

MOSES: from the official molsets 0.3.1 statistics files. They are NumPy pickles (reading them runs
pickle); this script reads them once here and writes what the metrics need in formats that load without
pickle: fcd.npz (mu, sigma), counts.json.gz (BRICS-fragment and scaffold counts) and, for the test split,
props.npz (logP, SA, QED, weight of every molecule, for the property distances).
ZINC250k: the same three files computed by our metric code (ReferenceStats.compute, the code that
tests/molecule/test_metrics.py checks against the official implementation) on the test split.
Fingerprints are not shipped: the metrics derive them from the split's SMILES at first use and cache them.

    python bench/make_reference.py [--sets moses zinc250k]
"""

import argparse
import gzip
import json

import numpy as np

from lebm.molecule.data import moses_file, zinc250k_smiles
from lebm.molecule.metrics import PROPERTY_NAMES, SHIPPED, ReferenceStats


def write(out, mu, sigma, frag, scaf, props=None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "fcd.npz", mu=mu, sigma=sigma)
    with gzip.open(out / "counts.json.gz", "wt", encoding="utf-8") as fh:
        json.dump({"frag": dict(frag), "scaf": dict(scaf)}, fh, sort_keys=True)
    if props is not None:
        np.savez_compressed(
            out / "props.npz", **{name: np.asarray(props[name], dtype=np.float32) for name in PROPERTY_NAMES}
        )
    print(f"wrote {out}: " + ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in sorted(out.iterdir())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=["moses", "zinc250k"], default=["moses", "zinc250k"])
    args = parser.parse_args()
    if "moses" in args.sets:
        for split in ("test", "test_scaffolds"):
            stats = np.load(moses_file(f"dataset/data/{split}_stats.npz"), allow_pickle=True)["stats"].item()
            props = {name: stats[name]["values"] for name in PROPERTY_NAMES} if split == "test" else None
            write(
                SHIPPED / "moses" / split,
                stats["FCD"]["mu"],
                stats["FCD"]["sigma"],
                stats["Frag"]["frag"],
                stats["Scaf"]["scaf"],
                props,
            )  # MOSES measures the property distances against the test split only
    if "zinc250k" in args.sets:
        ref = ReferenceStats.compute(zinc250k_smiles("test"))
        write(SHIPPED / "zinc250k" / "test", ref.mu, ref.sigma, ref.frag, ref.scaf, ref.props)


if __name__ == "__main__":
    main()
