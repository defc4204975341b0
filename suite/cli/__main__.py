"""``python -m bcebench.suite.cli``: the ``bcebench`` command."""

import sys

from bcebench.suite.cli import main

sys.exit(main())
