# Licensed under a 3-clause BSD style license - see LICENSE
"""``python -m astrolens.cli``: the ``astrolens`` command."""

import sys

from astrolens.cli import main

sys.exit(main())
