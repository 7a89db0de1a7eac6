"""`python -m lebm ...` (e.g. under torchrun) is the `lebm` command."""

import sys

from lebm.core.cli import main

sys.exit(main())
