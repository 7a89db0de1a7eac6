"""Run by test_distributed under torchrun: train the toy, then every rank writes its weights."""

import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from lebm.core import TrainConfig, Trainer
from lebm.core.toy import ToyModel, make_data, toy_config

out = Path(sys.argv[1])
rank = int(os.environ["RANK"])
torch.manual_seed(100 + rank)  # ranks start from different weights: DDP must sync them
model = ToyModel(toy_config("ebm", posterior_init="persistent"))
x, _ = make_data(512, seed=0)
Trainer(
    model, {"x": x}, TrainConfig(steps=12, batch_size=32, quiet=True, device="cpu", checkpoint_every=6), out_dir=out
).fit()
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / f"rank{rank}.safetensors"))
torch.distributed.barrier()  # both ranks are done with the group before either tears it down
torch.distributed.destroy_process_group()
