"""`python -m harness.report RESULTS_DIR`: see harness/report/__init__.py."""

import sys

from harness.report import main

sys.exit(main())
