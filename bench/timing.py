"""Seconds per learning step of several learners taking turns on the same batches in one process, so load
on the machine hits all of them alike (used by the molecule and text cost benchmarks)."""

from __future__ import annotations

import statistics
import time

import torch


def alternating_step_seconds(learners: dict, batch: int, rounds: int) -> dict[str, float]:
    """Median seconds of a step for each name -> (Learner, data tensors); round 0 warms up and is not timed."""
    times: dict[str, list[float]] = {name: [] for name in learners}
    for i in range(rounds + 1):
        idx = torch.arange(i * batch, (i + 1) * batch)
        for name, (learner, data) in learners.items():
            start = time.perf_counter()
            learner.step({k: v[idx] for k, v in data.items()} | {"index": idx}, step=i)
            if i:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
