"""One torch thread per test process: `make test` runs two processes at a time (pytest-xdist), and on a busy
machine several intra-op threads per process stall each other (a 5 s test took 11 minutes)."""

import torch

torch.set_num_threads(1)
