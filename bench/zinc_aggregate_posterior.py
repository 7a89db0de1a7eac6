"""Is the prior or the decoder what limits a ZINC250k latent model's samples? Decode, at temperature 1, latents
drawn from the aggregate posterior itself (one q(z | x) draw for each of 5,000 encoded validation molecules)
and as many N(0, I) draws; score both against 6,000 other validation molecules (Valid, FCD and the property
distances of the MOSES metric code). If the aggregate posterior's samples are no more valid, a better prior
sampler cannot lift validity.

    python bench/zinc_aggregate_posterior.py MODEL_DIR [JSON]
"""

import json
import sys

import numpy as np
import torch
from molecule_zinc import fits

from lebm.molecule.data import zinc250k_smiles
from lebm.molecule.latent import encode_ids
from lebm.molecule.metrics import ReferenceStats, moses_metrics
from lebm.molecule.model import MoleculeModel

torch.set_num_threads(1)
torch.manual_seed(0)
model = MoleculeModel.from_pretrained(sys.argv[1]).eval()
valid = fits(model, zinc250k_smiles("valid"))
order = np.random.default_rng(5).permutation(len(valid))
reference = ReferenceStats.compute([valid[i] for i in order[:6000]], quiet=True)
encoded = [valid[i] for i in order[6000:11000]]
train = set(zinc250k_smiles("train"))

with torch.no_grad():
    draws = []
    for start in range(0, len(encoded), 500):
        mean, logvar = model.encoder(encode_ids(model, encoded[start : start + 500]))
        draws.append(mean + (0.5 * logvar).exp() * torch.randn_like(mean))
    posterior = torch.cat(draws)
    result = {}
    for name, z in (("aggregate posterior", posterior), ("N(0, I)", torch.randn_like(posterior))):
        smiles = [s for start in range(0, len(z), 500) for s in model.decode_smiles(z[start : start + 500], 1.0)]
        row = moses_metrics(smiles, reference, train, ks=(1000,), quiet=True)
        result[name] = {k: row[k] for k in ("Valid", "FCD/Test", "logP", "SA", "QED", "weight")}
        print(name, {k: round(v, 3) for k, v in result[name].items()}, flush=True)
if len(sys.argv) > 2:
    with open(sys.argv[2], "w") as f:
        json.dump({"model": sys.argv[1], "rows": result}, f, indent=1)
