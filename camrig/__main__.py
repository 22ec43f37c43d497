"""``python -m camrig``: the same as ``gopro-manager`` and ``python gopro_manager.py``."""

import sys

from camrig.cli import main

if __name__ == "__main__":
    sys.exit(main())
