"""Oracle scoring on a Dask LocalCluster against scoring in this process.

1. A cheap oracle (QED) on `--cheap` ZINC250k test molecules: seconds in this process and on LocalClusters of 1
   and 2 single-threaded workers (cluster started beforehand, not timed), and the overhead per molecule.
2. A docking batch (AutoDock Vina against dockstring's ESR1, `--exhaustiveness`) of `--docking` molecules on 1
   and 2 workers: seconds and the throughput ratio (2 workers / 1 worker).

    python bench/cluster.py [--cheap 2000] [--docking 8] [--exhaustiveness 1] [--json bench/results/cluster.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from lebm.molecule.cluster import Cluster
from lebm.molecule.data import zinc250k_smiles
from lebm.molecule.oracles import DockingSpec, Oracle, docking_error


def timed(fn) -> tuple[float, list[float]]:
    start = time.perf_counter()
    values = fn()
    return time.perf_counter() - start, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cheap", type=int, default=2000, help="molecules scored by QED")
    parser.add_argument("--docking", type=int, default=8, help="molecules docked (0: skip)")
    parser.add_argument("--exhaustiveness", type=int, default=1, help="Vina search exhaustiveness of the docking")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "cluster.json")
    args = parser.parse_args()
    smiles = zinc250k_smiles("test")
    result = {
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "cheap": {},
        "docking": {},
    }
    qed = Oracle("qed")
    cheap = smiles[: args.cheap]
    result["cheap"]["in_process_s"], reference = timed(lambda: qed(cheap))
    for workers in (1, 2):
        with Cluster(jobs=workers) as cluster:
            cluster.map(Oracle("qed").__call__, cheap[:8])  # warm the workers up (imports)
            seconds, values = timed(lambda: qed(cheap, cluster=cluster))
        assert values == reference
        result["cheap"][f"workers_{workers}_s"] = seconds
    result["cheap"]["overhead_ms_per_molecule_1_worker"] = (
        1000 * (result["cheap"]["workers_1_s"] - result["cheap"]["in_process_s"]) / len(cheap)
    )
    print(json.dumps(result["cheap"], indent=1), flush=True)
    if args.docking and not docking_error():
        dock = Oracle("docking", docking=DockingSpec(receptor="dockstring:ESR1", exhaustiveness=args.exhaustiveness))
        batch = smiles[1000 : 1000 + args.docking]
        for workers in (1, 2):
            with Cluster(jobs=workers, timeout=3600) as cluster:
                result["docking"][f"workers_{workers}_s"], values = timed(lambda: dock(batch, cluster=cluster))
            result["docking"][f"workers_{workers}_scores"] = values
        result["docking"]["throughput_ratio_2_to_1"] = (
            result["docking"]["workers_1_s"] / result["docking"]["workers_2_s"]
        )
        result["docking"] |= {"molecules": len(batch), "exhaustiveness": args.exhaustiveness}
        print(json.dumps({k: v for k, v in result["docking"].items() if "scores" not in k}, indent=1))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
