import tomllib
from dataclasses import dataclass

import pytest

from lebm.core import ConfigError, from_dict
from lebm.core.config import option, to_toml


@dataclass
class Part:
    name: str = option("a", "the part's name")
    low: float | None = option(None, "lowest value")


@dataclass
class Whole:
    size: int = option(3, "how many")
    stats: dict[str, list[float]] = option({}, "per-name statistics")
    parts: list[Part] = option([Part()], "the parts")
    inner: Part = option(Part(name="b", low=1.5), "one part")


def test_to_toml_round_trips_with_documentation():
    cfg = Whole(size=5, stats={"qed": [0.5, 0.1], "odd key": [1.0, 2.0]}, parts=[Part("x"), Part("y", -2.0)])
    text = to_toml(cfg)
    assert "# how many\nsize = 5" in text and "# low = (unset)" in text
    assert from_dict(Whole, tomllib.loads(text)) == cfg


def test_from_dict_names_the_bad_option():
    with pytest.raises(ConfigError, match="unknown option 'parts.colour'"):
        from_dict(Whole, {"parts": [{"colour": "red"}]}, where="")
    with pytest.raises(ConfigError, match="size: expected int"):
        from_dict(Whole, {"size": 2.5})
