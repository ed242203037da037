"""`python -m parallel_runs`."""

from __future__ import annotations

import sys

from parallel_runs.cli import main

sys.exit(main())
