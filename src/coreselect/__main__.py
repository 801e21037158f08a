"""``python -m coreselect`` is the ``coreselect`` command."""

import sys

from coreselect.cli.main import main

sys.exit(main())
