"""``python -m compmech`` runs the command line."""

import sys

from compmech.cli import main

sys.exit(main())
