"""``python -m mdfnet`` (also what ``torchrun -m mdfnet train ...`` runs)."""

import sys

from mdfnet.cli import main

sys.exit(main())
