import json
import pickle

import pytest
import torch

from lebm.core import ModelLoadError
from lebm.core.io import load_state
from lebm.core.toy import ToyModel

from .conftest import small_toy


def weights_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_round_trip_gives_identical_weights_and_samples(tmp_path):
    model = small_toy()
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    loaded = ToyModel.from_pretrained(tmp_path / "m")
    assert weights_equal(model, loaded) and loaded.config == model.config
    torch.manual_seed(3)
    a = model.generate(10)
    torch.manual_seed(3)
    assert torch.equal(a, loaded.generate(10))


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        ToyModel.from_pretrained(tmp_path / "nowhere")
    small_toy().save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="model.safetensors is corrupt or truncated"):
        ToyModel.from_pretrained(tmp_path / "m")
    weights.unlink()
    with pytest.raises(ModelLoadError, match="model.safetensors is missing"):
        ToyModel.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="config.json is corrupt"):
        ToyModel.from_pretrained(tmp_path / "m")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda h: h.update({"class": "SmilesModel"}), "holds a SmilesModel model, not a ToyModel"),
        (lambda h: h.update({"format_version": 99}), "format version 99"),
        (lambda h: h.update({"format": "something"}), "not an lebm model config"),
        (lambda h: h["config"].update({"hidden": [17]}), "weight 'generator.net.0.weight' has shape"),
        (lambda h: h["config"].update({"colour": "red"}), "incompatible: unknown option 'colour'"),
        (lambda h: h["config"]["ebm"]["prior"].update({"kind": "gaussian"}), "has unexpected weight 'prior.net"),
    ],
)
def test_incompatible_configs_are_named(tmp_path, edit, message):
    small_toy().save_pretrained(tmp_path / "m")
    path = tmp_path / "m" / "config.json"
    header = json.loads(path.read_text())
    edit(header)
    path.write_text(json.dumps(header))
    with pytest.raises(ModelLoadError, match=message):
        ToyModel.from_pretrained(tmp_path / "m")


class Payload:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_training_state_never_unpickles_arbitrary_objects(tmp_path, capsys):
    path = tmp_path / "trainer_state.pt"
    torch.save({"step": 1, "evil": Payload()}, path)
    with pytest.raises(ModelLoadError, match="trainer_state.pt is corrupt or not a training state"):
        load_state(path)
    path.write_bytes(pickle.dumps(Payload(), protocol=2))  # the protocol torch.save writes
    with pytest.raises(ModelLoadError):
        load_state(path)
    assert "arbitrary code ran" not in capsys.readouterr().out


def test_failed_save_leaves_the_old_directory_intact(tmp_path):
    model = small_toy()
    model.save_pretrained(tmp_path / "m")
    before = (tmp_path / "m" / "model.safetensors").read_bytes()

    def broken(directory):
        raise OSError("disk full")

    model.save_extra = broken
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
