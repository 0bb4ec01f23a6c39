"""python -m examples.noise2noise ..."""

import sys

from .cli import main

sys.exit(main())
