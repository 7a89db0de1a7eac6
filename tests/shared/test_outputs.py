"""What every command writes: refused into a run directory it would spoil, the umask's file modes, progress
as whole lines on a pipe."""

import json
import os
import stat

import pytest

from lebm.core.cli import main
from lebm.core.io import write_atomic, write_dir_atomic
from lebm.core.progress import progress

TOY = ["toy", "train", "--batch-size", "16", "--n-train", "64", "--quiet", "--device", "cpu", "--log-every", "1"]


def toy(out, *extra):
    return main([*TOY, "--out", str(out), *extra])


def files(directory):
    return {p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def train_steps(out):
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return [r["step"] for r in records if set(r) - {"step", "seconds", "eval", "snapshot", "best"}]


def test_training_into_a_run_directory_is_refused_and_changes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert toy(out, "--steps", "4") == 0
    before = files(out)
    capsys.readouterr()
    assert toy(out, "--steps", "4") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "--resume" in err[0] and "--overwrite" in err[0], err
    assert files(out) == before


def test_overwrite_starts_afresh_and_resume_names_its_step(tmp_path, capsys):
    out = tmp_path / "run"
    assert toy(out, "--steps", "4") == 0
    (out / "snapshot-1min").mkdir()
    (out / "notes.txt").write_text("the user's own file")
    assert toy(out, "--steps", "3", "--overwrite") == 0
    assert train_steps(out) == [1, 2, 3]  # one run in the log, not two
    assert not (out / "snapshot-1min").exists() and (out / "notes.txt").read_text() == "the user's own file"
    capsys.readouterr()
    assert toy(out, "--steps", "5", "--resume") == 0
    assert "resuming from step 3" in capsys.readouterr().err
    assert train_steps(out) == [1, 2, 3, 4, 5]
    assert toy(out, "--steps", "6", "--resume", "--overwrite") == 2
    assert "contradict" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["molecule", "train", "--data", "molecules.csv"],
        ["text", "train", "--data", "sentences.txt"],
        ["semisup", "fit", "--data", "table.csv", "--label-column", "y"],
        ["molecule", "design", "--config", "design.toml"],
    ],
)
def test_every_writing_command_refuses_a_non_empty_out(tmp_path, capsys, argv):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"weights of last week")
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--resume" in err[0] and "--overwrite" in err[0], err
    assert files(out) == {out.joinpath("model.safetensors").relative_to(out): b"weights of last week"}


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_writes_get_the_mode_the_umask_gives(tmp_path, mask):
    old = os.umask(mask)
    try:
        written = write_atomic(tmp_path / "a.json", lambda p: p.write_text("{}"))
        folder = write_dir_atomic(tmp_path / "model", lambda p: (p / "weights").write_bytes(b"0"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask


def test_progress_on_a_pipe_is_whole_lines(capsys):
    for _ in progress(range(5), desc="work", mininterval=0):
        pass
    err = capsys.readouterr().err
    assert "\r" not in err and err.count("\n") >= 2 and "work" in err and "5/5" in err.splitlines()[-1]
    for _ in progress(range(5), desc="work", quiet=True):
        pass
    assert capsys.readouterr().err == ""


def test_max_minutes_is_a_budget_across_resumed_processes(tmp_path):
    out = tmp_path / "run"
    assert toy(out, "--steps", "100000", "--max-minutes", "0.15") == 0  # 9 s, setup and evaluations included
    done = train_steps(out)[-1]
    assert 0 < done < 100000
    assert toy(out, "--steps", "100000", "--max-minutes", "0.15", "--resume") == 0  # the budget is spent
    assert train_steps(out)[-1] == done
