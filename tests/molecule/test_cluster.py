"""Oracle scoring on a Dask LocalCluster over loopback: the same values as in-process, faults that never lose a
molecule or hang the run, and a scheduler that does not answer refused in one line."""

import math
import os
import signal
import sys
import threading
import time

import pytest

from lebm.core.cli import main
from lebm.core.errors import ConfigError
from lebm.molecule.oracles import Oracle
from lebm.molecule.scoring import ScorerConfig, build_scorer

pytest.importorskip("distributed")
from lebm.molecule.cluster import Cluster

MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "not a molecule", "CN1CCC[C@H]1c1cccnc1", "O=C(O)c1ccccc1"] * 7


def heavy_atoms(smiles: list[str]) -> list[float]:
    """A user's scorer, importable by the workers (module:function)."""
    from rdkit import Chem

    return [float(m.GetNumHeavyAtoms()) if (m := Chem.MolFromSmiles(s)) is not None else math.nan for s in smiles]


def slow_length(smiles: list[str]) -> list[float]:
    time.sleep(0.15 * len(smiles))
    return [float(len(s)) for s in smiles]


def hang_on_benzene(smiles: list[str]) -> list[float]:
    if "c1ccccc1O" in smiles:
        time.sleep(3600)
    return [1.0] * len(smiles)


@pytest.fixture(scope="module")
def cluster():
    with Cluster(jobs=2, timeout=60) as c:
        yield c


def same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b))


def test_built_in_oracles_and_scorers_score_as_in_process(cluster):
    assert cluster.workers() == 2
    for oracle in (Oracle("qed"), Oracle("plogp"), Oracle("similarity", reference="c1ccccc1O")):
        assert same(oracle(MOLECULES, cluster=cluster), oracle(MOLECULES)), oracle.name
    assert oracle.calls == 2 * len(MOLECULES) and oracle.failures == 2 * MOLECULES.count("not a molecule")
    command = build_scorer(
        ScorerConfig(
            name="length", command=f'{sys.executable} -c "import sys; [print(len(l.strip())) for l in sys.stdin]"'
        )
    )
    user = build_scorer(ScorerConfig(name="atoms", callable="tests.molecule.test_cluster:heavy_atoms"))
    for scorer in (command, user):
        wrapped = Oracle("user", scorer=scorer)
        assert same(wrapped(MOLECULES, cluster=cluster), scorer(MOLECULES))


def test_progress_counts_molecules_as_batches_finish(cluster):
    seen = []
    values = Oracle("qed")(MOLECULES, cluster=cluster, done=seen.append)
    assert sum(seen) == len(MOLECULES) == len(values) and len(seen) > 1


def test_a_worker_lost_mid_run_loses_no_molecule(cluster):
    """One of the two workers dies while its batches run: the scheduler runs them again elsewhere, every molecule
    gets its value, in order."""
    smiles = [f"C{'C' * (i % 7)}O" for i in range(24)]
    victim = sorted(cluster.client.scheduler_info()["workers"])[0]
    pid = cluster.client.run(os.getpid, workers=[victim])[victim]

    def kill() -> None:
        time.sleep(0.6)
        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    values = cluster.map(slow_length, smiles)
    killer.join()
    assert values == [float(len(s)) for s in smiles]
    assert pid not in cluster.client.run(os.getpid).values()  # the worker did die
    cluster.client.wait_for_workers(2, timeout=60)  # the nanny restarts the worker for the tests that follow


def test_a_batch_that_hangs_scores_nan_and_the_run_goes_on():
    """One batch never finishes: after `timeout` seconds without any batch finishing its molecules score NaN and
    the call returns; the other batches' values are kept."""
    with Cluster(jobs=2, timeout=10) as c:
        c.client.wait_for_workers(2, timeout=60)
        assert c.map(heavy_atoms, ["CCO"] * 4) == [3.0] * 4  # workers warmed up: imports do not eat the timeout
        start = time.perf_counter()
        values = c.map(hang_on_benzene, MOLECULES[:6])
        assert time.perf_counter() - start < 60
    # a batch queued behind the hanging one on its worker may share its fate; the others keep their values
    assert math.isnan(values[1]) and sum(v == 1.0 for v in values) >= 3, values


def test_a_scheduler_that_does_not_answer_is_refused_in_one_line(capsys, tmp_path):
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="did not answer within 2 s"):
        Cluster("tcp://127.0.0.1:9", connect_timeout=2)
    assert time.perf_counter() - start < 15
    assert (
        main(
            [
                "molecule",
                "sample",
                "--condition",
                "qed=0.8",
                "-n",
                "5",
                "--scheduler",
                "tcp://127.0.0.1:9",
                "-o",
                str(tmp_path / "s.csv"),
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: the Dask scheduler tcp://127.0.0.1:9 did not answer") and err.count("\n") == 1
    assert not (tmp_path / "s.csv").exists()


def test_a_design_run_on_a_local_cluster_matches_the_run_in_process(tmp_path):
    """jobs = 2 scores a design run's proposals on a LocalCluster: the scored rows, their oracle calls and the
    kept population equal those of the run in this process (qed and a command scorer)."""
    import pandas as pd

    from lebm.molecule.cli import BUNDLED
    from lebm.molecule.sgds import Constraint, DesignConfig, DesignRun, Objective

    command = ScorerConfig(
        name="length", command=f'{sys.executable} -c "import sys; [print(len(l.strip())) for l in sys.stdin]"'
    )
    frames = {}
    for jobs in (1, 2):
        cfg = DesignConfig(
            model=str(BUNDLED),
            objectives=[Objective(property="qed", shift=0.02)],
            scorers=[command],
            constraints=[Constraint(property="length", max=60)],
            population=40,
            top_k=20,
            iterations=1,
            finetune_epochs=0,
            train_smiles="none",
            seed=2,
            device="cpu",
            jobs=jobs,
        )
        run = DesignRun(cfg, tmp_path / f"jobs{jobs}", quiet=True)
        run.run()
        assert run.scoring._cluster is None  # closed with the run
        frames[jobs] = pd.concat([pd.read_csv(tmp_path / f"jobs{jobs}" / f"scored_{i:03d}.csv") for i in range(2)])
    columns = ["smiles", "valid", "qed", "length", "oracle_calls"]
    pd.testing.assert_frame_equal(frames[1][columns].reset_index(drop=True), frames[2][columns].reset_index(drop=True))
