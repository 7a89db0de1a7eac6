from pathlib import Path

from lebm.core.cli import main


def train_tiny(
    tmp: Path,
    prop: str,
    steps: int,
    molecules: int,
    prior_steps: int,
    posterior_steps: int,
    posterior_init: str = "reference",
) -> Path:
    """Train a tiny MOSES model (fast preset) with one property head through the CLI; returns its model directory."""
    (tmp / "cfg.toml").write_text(
        f"[model]\nmax_len = 60\n[model.ebm]\nposterior_init = '{posterior_init}'\n[model.encoder]\nhidden = 32\n"
        f"[model.ebm.prior]\nlatent_dim = 8\nhidden = [32]\n[model.ebm.prior_chain]\nsteps = {prior_steps}\n"
        f"[model.ebm.posterior_chain]\nsteps = {posterior_steps}\n[model.decoder]\nhidden = 96\nembed = 32\n"
        "[model.head]\nhidden = [32]\n"
    )
    assert (
        main(
            [
                "molecule",
                "train",
                "--data",
                "moses",
                "--preset",
                "fast",
                "--max-molecules",
                str(molecules),
                "--config",
                str(tmp / "cfg.toml"),
                "--out",
                str(tmp / "run"),
                "--steps",
                str(steps),
                "--batch-size",
                "64",
                "--lr-generator",
                "3e-3",
                "--quiet",
                "--probe",
                "10",
                "--properties",
                prop,
                "--threads",
                "1",
            ]
        )
        == 0
    )
    return tmp / "run" / "model"
