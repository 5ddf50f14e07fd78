"""`python -m fabric_jobs` runs the command line."""

import sys

from fabric_jobs.cli import main

sys.exit(main())
