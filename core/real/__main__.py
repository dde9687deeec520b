"""``python -m core.real [--dataset ...]``: the real-image experiment without the main CLI."""

import sys

from ..cli.real import main

sys.exit(main())
