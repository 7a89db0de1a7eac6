import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

from lebm.core.io import load_state

ROOT = Path(__file__).resolve().parents[2]


def torchrun(*args, cwd=ROOT):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_two_process_run_ends_with_identical_weights(tmp_path):
    run = torchrun(str(ROOT / "tests" / "shared" / "ddp_toy.py"), str(tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    a, b = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    state = load_state(tmp_path / "checkpoint" / "trainer_state.pt")
    assert state["world"] == 2 and state["step"] == 12 and len(state["rng"]) == 2
    # persistent chains are kept for every example, updated from both shards
    assert state["learner"]["posterior_init"]["chains"].shape == (512, 2)
    assert (tmp_path / "model" / "model.safetensors").exists()


def test_the_training_command_runs_under_torchrun(tmp_path):
    run = torchrun(
        "-m",
        "lebm",
        "toy",
        "train",
        "--out",
        str(tmp_path),
        "--steps",
        "6",
        "--batch-size",
        "16",
        "--n-train",
        "200",
        "--quiet",
        "--device",
        "cpu",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert '"step": 6' in run.stdout and run.stdout.count('"step"') == 1  # rank 0 alone reports
    assert (tmp_path / "model" / "config.json").exists()
