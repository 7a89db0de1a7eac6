"""Oracle scoring on a Dask cluster (dask.distributed, the optional extra `lebm[cluster]`).

    scheduler = "tcp://HOST:8786"   the molecules go to that cluster's workers (start it with `dask scheduler`,
                                    its workers with `dask worker tcp://HOST:8786 --nthreads 1` on each machine)
    jobs = N, no scheduler          a LocalCluster of N single-threaded worker processes on this machine

Molecules travel in batches (at most BATCH molecules, fewer so that every worker gets several), the values come
back in input order whatever order the batches finish in. Faults never stop a run or make it hang: a batch whose
worker is lost is run again on another worker by the scheduler; a batch that raises, that the cluster gives up on,
or that sees no batch finish for `timeout` seconds scores NaN for its molecules (counted as failures by the
Oracle that asked). The oracle-call accounting stays with the caller: a batch function runs on a worker, the
bookkeeping never does.
"""

from __future__ import annotations

import logging
import math
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lebm.core.errors import ConfigError

BATCH = 64  # molecules per task at most: amortises the per-task overhead (milliseconds) for cheap oracles
MISSING = "oracle scoring on a Dask cluster needs dask.distributed: pip install 'lebm[cluster]'"


@contextmanager
def interrupts_ignored() -> Iterator[None]:
    """Processes started inside ignore SIGINT (an ignored signal stays ignored across fork and exec): a Ctrl-C
    reaches the whole process group, and workers that raised KeyboardInterrupt too would print their tracebacks
    while this process closes them."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _score_batch(fn: Callable[[list[str]], list[float]], smiles: list[str]) -> list[float]:
    """fn on one batch, on a worker: n floats whatever fn answers (a failure is NaN, not a lost batch)."""
    from .scoring import _floats

    try:
        return _floats(fn(list(smiles)), len(smiles))
    except Exception:  # a scorer failing on a worker is a counted failure, as in-process
        return [math.nan] * len(smiles)


class Cluster:
    """A connection to a scheduler, or a LocalCluster of `jobs` workers; `map(fn, smiles)` scores on it.
    A context manager: closing it closes the client and a LocalCluster it started."""

    def __init__(self, scheduler: str = "", jobs: int = 1, timeout: float = 600.0, connect_timeout: float = 10.0):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(MISSING) from None
        if jobs < 1:
            raise ConfigError(f"jobs must be >= 1, got {jobs}")
        self.timeout, self.local = timeout, None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout=f"{connect_timeout}s")
            except (OSError, TimeoutError, ValueError) as e:
                raise ConfigError(
                    f"the Dask scheduler {scheduler} did not answer within {connect_timeout:g} s ({type(e).__name__})"
                ) from None
        else:
            with interrupts_ignored():  # the workers leave a Ctrl-C to this process, which closes them
                self.local = LocalCluster(
                    n_workers=jobs,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )
            self.client = Client(self.local)
        self.address = self.client.scheduler.address

    def workers(self) -> int:
        return len(self.client.scheduler_info()["workers"])

    def map(
        self, fn: Callable[[list[str]], list[float]], smiles: list[str], done: Callable[[int], None] | None = None
    ) -> list[float]:
        """fn over the molecules in batches on the workers; `done(n)` after each batch of n molecules finishes."""
        from distributed import wait

        if not smiles:
            return []
        size = max(1, min(BATCH, math.ceil(len(smiles) / (4 * max(1, self.workers())))))
        starts = range(0, len(smiles), size)
        futures = {self.client.submit(_score_batch, fn, smiles[a : a + size], pure=False, retries=1): a for a in starts}
        values: list[float] = [math.nan] * len(smiles)
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, timeout=self.timeout, return_when="FIRST_COMPLETED")
                if not finished:
                    break  # no batch finished within the timeout: the rest score NaN
                for future in finished:
                    a = futures[future]
                    if future.status == "finished":
                        values[a : a + size] = future.result()
                    if done is not None:
                        done(len(smiles[a : a + size]))
        except TimeoutError:
            pass
        finally:
            for future in pending:
                future.cancel()
        return values

    def close(self) -> None:
        self.client.close()
        if self.local is not None:
            self.local.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
