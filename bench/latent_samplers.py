"""One generator, different latent samplers: N(0, I) draws, the energy prior by its Langevin chain (30 and
100 steps), and sampling-importance-resampling (one of 20 reference draws per sample, weights exp f).
Decoded at temperature 1; Valid, Unique@10k, Novelty, FCD/Test (shipped moments), IntDiv.

    python bench/latent_samplers.py MODEL_DIR [N] [JSON]
"""

import json
import sys
import time

import torch

from lebm.molecule.data import moses_smiles
from lebm.molecule.metrics import moses_metrics, shipped_fcd_reference
from lebm.molecule.model import MoleculeModel

torch.set_num_threads(1)

model = MoleculeModel.from_pretrained(sys.argv[1]).eval()
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
ref = shipped_fcd_reference()
train = set(moses_smiles("train"))


def decode(z):
    out = []
    for i in range(0, len(z), 500):
        out += model.decode_smiles(z[i : i + 500], 1.0)
    return out


rows = {}
for name in ("reference", "prior-30", "prior-100", "sir-20"):
    torch.manual_seed(0)
    t = time.time()
    if name == "reference":
        z = torch.randn(n, model.prior.latent_dim) * model.prior.config.ref_std
    elif name.startswith("prior"):
        steps = int(name.split("-")[1])
        z = torch.cat([model.sample_prior(500, steps=steps).z.detach() for _ in range(n // 500)])
    else:
        k = int(name.split("-")[1])
        zs = []
        for _ in range(n // 500):
            cand = torch.randn(500, k, model.prior.latent_dim) * model.prior.config.ref_std
            with torch.no_grad():
                f = model.prior(cand.reshape(-1, model.prior.latent_dim)).reshape(500, k)
            pick = torch.multinomial(torch.softmax(f, 1), 1)[:, 0]
            zs.append(cand[torch.arange(500), pick])
        z = torch.cat(zs)
    m = moses_metrics(decode(z), ref, train, ks=(10000,), quiet=True)
    rows[name] = {k: round(v, 4) for k, v in m.items() if k in ("Valid", "Unique@10k", "Novelty", "FCD/Test", "IntDiv")}
    print(name, rows[name], f"{time.time() - t:.0f}s", flush=True)
with open(sys.argv[3] if len(sys.argv) > 3 else "bench/results/latent_samplers.json", "w") as f:
    json.dump(rows, f, indent=1)
