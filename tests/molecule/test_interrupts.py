"""Worker processes leave a Ctrl-C to their parent: no worker tracebacks, no queued work waited for (the
process pools of data preparation and oracle scoring, the Dask cluster of design runs)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

POOL = """
import time
from concurrent.futures import ProcessPoolExecutor

def slow(i):
    time.sleep(0.5)
    return i

try:
    with ProcessPoolExecutor(2) as pool:
        print("started", flush=True)
        results = list(pool.map(slow, range(400)))
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""

CLUSTER = """
import time
from lebm.molecule.cluster import Cluster

def slow(smiles):
    time.sleep(0.5)
    return [1.0] * len(smiles)

if __name__ == "__main__":  # the workers are spawned: they import this file
    try:
        with Cluster(jobs=2) as cluster:
            print("started", flush=True)
            cluster.map(slow, ["C"] * 400)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""


def interrupted(script: str, tmp_path) -> tuple[str, str, float]:
    """Run `script` in its own process group, send SIGINT to the whole group (as a terminal's Ctrl-C does) once
    it started its workers; (stdout, stderr, seconds from the interrupt to its exit)."""
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    proc = subprocess.Popen(
        [sys.executable, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    interrupted_at = time.monotonic()
    out, err = proc.communicate(timeout=120)
    return out, err, time.monotonic() - interrupted_at


def test_an_interrupted_pool_exits_at_once_without_worker_tracebacks(tmp_path):
    out, err, seconds = interrupted(POOL, tmp_path)
    assert out.strip() == "interrupted"
    assert "Traceback" not in err and "leaked" not in err, err
    assert seconds < 30  # 400 tasks of 0.5 s on two workers would take 100 s


def test_an_interrupted_local_cluster_closes_without_worker_tracebacks(tmp_path):
    pytest.importorskip("distributed")
    out, err, _ = interrupted(CLUSTER, tmp_path)
    assert out.strip() == "interrupted"
    assert "Traceback" not in err and "leaked" not in err and "KeyboardInterrupt" not in err, err
