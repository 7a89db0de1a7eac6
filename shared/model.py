"""The latent variable model every app builds on, and its one-directory save/load.

    z ~ p_a(z) (EnergyPrior),  x ~ p_b(x | z) (generator),  y_k ~ p_k(y_k | z) (optional heads)

A generator is any nn.Module with
    log_likelihood(x, z) -> [B]   per-example log p_b(x | z), differentiable in z and parameters
    sample(z) -> x                decode latents into data
A head has log_likelihood(y, z) -> [B] (rows with a missing y contribute 0) and predict(z).
An encoder (optional, for amortised posterior initialisation) maps x to (mean, log-variance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from .config import check_choices, from_dict, option, to_dict
from .errors import ConfigError, DataError, ModelLoadError
from .heads import BagConfig, BagHead
from .io import load_json, load_tensors, save_json, save_tensors, write_dir_atomic
from .kernel import LangevinResult, LogDensity, ascend, langevin, log_density_sum
from .prior import EnergyPrior, PriorConfig

FORMAT = "lebm-model"
FORMAT_VERSION = 1
REFINE_STEP = 0.5  # refinement step size in units of the encoder's sd (chosen on BBC valid, BENCHMARKS.md)


@dataclass
class ChainConfig:
    """Settings of one kind of Langevin chain (prior or posterior)."""

    steps: int = option(20, "number of Langevin steps")
    step_size: float | list[float] = option(0.1, "step size u, or a per-step schedule (last value repeats)")
    noise: float = option(1.0, "noise factor t on the injected noise (1 = exact Langevin)")
    clip_grad: float | None = option(None, "cap on each chain's gradient norm (none if unset)")
    on_nonfinite: Literal["raise", "reset"] = option("raise", "on NaN/inf: raise an error or reset the chain")

    def __post_init__(self) -> None:
        check_choices(self)
        if self.steps < 0:
            raise ConfigError(f"chain steps must be >= 0, got {self.steps}")

    def run(self, z0: torch.Tensor, target: LogDensity, **overrides: Any) -> LangevinResult:
        kw = (
            dict(
                steps=self.steps,
                step_size=self.step_size,
                noise=self.noise,
                clip_grad=self.clip_grad,
                on_nonfinite=self.on_nonfinite,
            )
            | overrides
        )
        return langevin(z0, target, **kw)


@dataclass
class LatentEBMConfig:
    """The app-independent part of a model: prior, chains, posterior initialisation."""

    prior: PriorConfig = option(PriorConfig(), "the latent prior")
    prior_chain: ChainConfig = option(ChainConfig(steps=60, step_size=0.4), "Langevin chain for prior samples")
    posterior_chain: ChainConfig = option(ChainConfig(steps=20, step_size=0.1), "Langevin chain for posterior samples")
    posterior_init: Literal["reference", "persistent", "amortised"] = option(
        "reference", "start posterior chains from the reference, per-example persistent chains, or an encoder"
    )
    bag: BagConfig = option(
        BagConfig(), "auxiliary head p(bag | z) over the observation's parts (training data then needs a 'bag' entry)"
    )

    def __post_init__(self) -> None:
        check_choices(self)


class LatentEBM(nn.Module):
    """Prior + generator (+ heads, + encoder). Subclasses set `config_class` and build from a config.

    `config` is the subclass's whole config dataclass; `ebm` its LatentEBMConfig part.
    """

    config_class: ClassVar[type]

    def __init__(
        self,
        config: Any,
        ebm: LatentEBMConfig,
        generator: nn.Module,
        heads: Mapping[str, nn.Module] | None = None,
        encoder: nn.Module | None = None,
    ):
        super().__init__()
        self.config = config
        self.ebm = ebm
        self.prior = EnergyPrior(ebm.prior)
        self.generator: Any = generator  # the app's decoder p(x | z): log_likelihood(x, z), sample(z, ...)
        heads = dict(heads or {})
        if ebm.bag.size:
            heads["bag"] = BagHead(ebm.prior.latent_dim, ebm.bag)
        self.heads = nn.ModuleDict(heads)
        self.diagnostics: dict[str, float] = {}  # the latent diagnostics of the last training evaluation
        self.encoder: Any = encoder  # the app's q(z | x): x -> (mean, logvar), or None
        if ebm.posterior_init == "amortised" and encoder is None:
            raise ConfigError("posterior_init = 'amortised' needs a model with an encoder")

    # --- targets -------------------------------------------------------------------------------
    def posterior_log_density(
        self,
        x: Any,
        ys: Mapping[str, torch.Tensor] | None = None,
        labels: torch.Tensor | None = None,
        label_weight: float = 1.0,
    ) -> LogDensity:
        """log p_a(z) + log p_b(x | z) + sum_k log p_k(y_k | z) (+ w log p(label | z) for a coupled
        prior; -1 marks unlabeled rows), unnormalised."""
        terms: list[LogDensity] = [self.prior.log_density, lambda z: self.generator.log_likelihood(x, z)]
        terms += self._head_terms(ys or {})
        if labels is not None:
            terms.append(lambda z: label_weight * self.prior.class_log_likelihood(labels, z))
        return log_density_sum(*terms)

    def conditional_log_density(self, targets: Mapping[str, torch.Tensor]) -> LogDensity:
        """log p_a(z) + sum_k log p_k(y_k* | z): the target of conditional sampling z ~ p(z | y*)."""
        return log_density_sum(self.prior.log_density, *self._head_terms(targets))

    def _head_terms(self, ys: Mapping[str, torch.Tensor]) -> list[LogDensity]:
        unknown = set(ys) - set(self.heads)
        if unknown:
            raise ConfigError(f"no property head named {sorted(unknown)[0]!r} (heads: {sorted(self.heads) or 'none'})")
        return [partial(_head_log_likelihood, self.heads[k], y) for k, y in ys.items()]

    @property
    def latent(self) -> bool:
        """False for a generator that ignores z (a plain language model baseline)."""
        return getattr(self.generator, "latent_dim", 1) > 0

    # --- sampling -------------------------------------------------------------------------------
    def device(self) -> torch.device:
        return next(self.parameters(), torch.empty(0)).device

    def sample_prior(self, n: int, **chain: Any) -> LangevinResult:
        """z ~ p_a(z) by a Langevin chain from the reference (settings from `prior_chain`, overridable)."""
        z0 = self.prior.sample_reference(n, self.device())
        return self.ebm.prior_chain.run(z0, self.prior.log_density, **chain)

    def sample_conditional(
        self, n: int, targets: Mapping[str, float | torch.Tensor], oversample: int = 1, **chain: Any
    ) -> LangevinResult:
        """z ~ p(z | y*) ∝ p_a(z) prod_k p_k(y_k* | z) for target values y* (one value, or one per chain). With
        oversample K > 1 the chains start from K n prior samples resampled without replacement in proportion to
        prod_k p_k(y_k* | z) (importance resampling: the starts lie where the prior puts its mass, so a short chain
        stays on the latent manifold the generator knows); K = 1: from reference draws."""
        device = self.device()
        ys = {k: torch.as_tensor(v, dtype=torch.float32, device=device).expand(n).clone() for k, v in targets.items()}
        if oversample > 1:  # each chain draws its start from its own K prior samples (sampling-importance-resampling)
            pool = self.sample_prior(oversample * n).z.view(oversample, n, -1)
            with torch.no_grad():
                log_w = torch.stack([log_density_sum(*self._head_terms(ys))(pool[k]) for k in range(oversample)], 1)
            pick = torch.multinomial(torch.softmax(log_w.double(), 1), 1)[:, 0]
            z0 = pool[pick, torch.arange(n, device=device)]
        else:
            z0 = self.prior.sample_reference(n, device)
        return self.ebm.prior_chain.run(z0, self.conditional_log_density(ys), **chain)

    def initial_posterior(self, x: Any, n: int) -> torch.Tensor:
        """Chain starts for new data: encoder draws if there is an encoder, else reference draws."""
        if self.encoder is not None and self.ebm.posterior_init == "amortised":
            with torch.no_grad():
                mean, logvar = self.encoder(x)
            return mean + (0.5 * logvar).exp() * torch.randn_like(mean)
        return self.prior.sample_reference(n, self.device())

    @property
    def encoder_posterior(self) -> bool:
        """Whether posterior inference is the encoder alone (0 chain steps), which refine_posterior can sharpen."""
        return self.encoder is not None and self.ebm.posterior_chain.steps == 0

    def refine_posterior(
        self, x: Any, mean: torch.Tensor, logvar: torch.Tensor, steps: int, ys: Mapping[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Short-run refinement of an amortised posterior at inference time: `steps` noise-free Langevin steps on
        log p(x | z) + log p_a(z) from the encoder's mean, towards the mode of p(z | x). The steps are taken in the
        encoder's whitened coordinates z = mean + sd * w (so one step size suits sharp and wide posteriors alike),
        and each row keeps the best point it visited (kernel.ascend): its posterior density never drops."""
        mean, sd = mean.detach(), (0.5 * logvar.detach()).exp()
        target = self.posterior_log_density(x, ys)
        return mean + sd * ascend(torch.zeros_like(mean), lambda w: target(mean + sd * w), steps, REFINE_STEP)

    def infer_posterior(
        self, x: Any, ys: Mapping[str, torch.Tensor] | None = None, n: int | None = None, **chain: Any
    ) -> LangevinResult:
        """z ~ p(z | x [, y]) by a posterior chain (n = batch size of x when x is a tensor)."""
        n = n if n is not None else len(x)
        return self.ebm.posterior_chain.run(self.initial_posterior(x, n), self.posterior_log_density(x, ys), **chain)

    def generate(self, n: int, **chain: Any) -> Any:
        """Draw n latents from the prior and decode them."""
        z = self.sample_prior(n, **chain).z
        with torch.no_grad():
            return self.generator.sample(z)

    # --- model directories ----------------------------------------------------------------------
    def save_extra(self, directory: Path) -> None:
        """Subclasses write extra files (vocabulary, tokenizer) into the model directory."""

    def load_extra(self, directory: Path) -> None:
        """Subclasses read back what `save_extra` wrote."""

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write config.json + model.safetensors (+ extras) as one directory, atomically."""
        return write_dir_atomic(directory, self.write_files)

    def write_files(self, directory: Path) -> None:
        """The model's files, written into an existing (temporary) directory."""
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "class": type(self).__name__,
            "config": to_dict(self.config),
        }
        save_json(directory / "config.json", header)
        save_tensors(directory / "model.safetensors", self.state_dict())
        if self.diagnostics:
            save_json(directory / "diagnostics.json", self.diagnostics)
        self.save_extra(directory)

    @classmethod
    def read_config(cls, directory: str | Path) -> Any:
        """The validated config of a model directory (clear errors for foreign or incompatible ones)."""
        path = Path(directory) / "config.json"
        if not Path(directory).is_dir():
            raise ModelLoadError(f"model directory {directory} does not exist")
        header = load_json(path)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ModelLoadError(f"{path} is not an lebm model config")
        if header.get("format_version") != FORMAT_VERSION:
            raise ModelLoadError(
                f"{path} has format version {header.get('format_version')}, this lebm reads version {FORMAT_VERSION}"
            )
        if header.get("class") != cls.__name__:
            raise ModelLoadError(f"{path} holds a {header.get('class')} model, not a {cls.__name__}")
        try:
            return from_dict(cls.config_class, header.get("config", {}))
        except ConfigError as e:
            raise ModelLoadError(f"{path} is incompatible: {e}") from None

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> LatentEBM:
        """Load a directory written by `save_pretrained` (weights via safetensors, never pickle)."""
        directory = Path(directory)
        model = cls(cls.read_config(directory))  # type: ignore[call-arg]  # subclasses are built from their config
        tensors = load_tensors(directory / "model.safetensors")
        model.load_weights(tensors, where=directory / "model.safetensors")
        model.load_extra(directory)
        return model.to(device)

    def warm_start(self, directory: str | Path) -> None:
        """Start the generator from a trained model's (decoder warm-start): e.g. a language model's decoder
        (use_latent = false), which this generator then extends with z's inputs at zero weight."""
        source = type(self).from_pretrained(directory, device=self.device())
        self.check_warm_start(source, directory)
        if not hasattr(self.generator, "warm_start"):
            raise ConfigError(f"a {type(self.generator).__name__} generator cannot be warm-started")
        self.generator.warm_start(source.generator)

    def init_from(self, directory: str | Path) -> None:
        """Start every part (prior, generator, encoder, heads) from a saved model of the same architecture and data
        representation: a clear error names the first weight or token that differs."""
        source = type(self).from_pretrained(directory, device=self.device())
        self.check_warm_start(source, directory)
        self.load_weights(source.state_dict(), where=Path(directory) / "model.safetensors")

    def check_warm_start(self, source: LatentEBM, directory: str | Path) -> None:
        """Subclasses refuse a source that does not fit (another vocabulary, another data representation)."""

    def load_weights(self, tensors: Mapping[str, torch.Tensor], where: Any) -> None:
        """Strict load: every name present with the right shape, or one line saying which is not."""
        own = self.state_dict()
        missing = sorted(set(own) - set(tensors))
        extra = sorted(set(tensors) - set(own))
        if missing or extra:
            what = f"lacks weight '{missing[0]}'" if missing else f"has unexpected weight '{extra[0]}'"
            raise ModelLoadError(f"{where} does not match its config.json: it {what}")
        for k, v in own.items():
            if tensors[k].shape != v.shape:
                raise ModelLoadError(
                    f"{where} does not match its config.json: weight '{k}' has shape "
                    f"{list(tensors[k].shape)}, the config needs {list(v.shape)}"
                )
        self.load_state_dict(dict(tensors))


def check_finite(name: str, value: torch.Tensor) -> None:
    """One-line error when a float tensor holds NaN or infinite values."""
    if value.is_floating_point() and not torch.isfinite(value).all():
        bad = (~torch.isfinite(value)).reshape(len(value), -1).any(1).nonzero()[:, 0]
        raise DataError(f"{name} has NaN or infinite values in {len(bad)} rows (first: row {int(bad[0])})")


def _head_log_likelihood(head: Any, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(y | z) of one property head (a LogDensity once y is bound)."""
    return head.log_likelihood(y, z)
