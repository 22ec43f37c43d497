#!/usr/bin/env python3
"""gopro-manager: every camera in the car records while the trigger says so.

The checkout's entry point, kept for the systemd unit (``ExecStart=… gopro_manager.py run``) and
for habit: ``python gopro_manager.py [--config PATH] run | status [--json] | check | demo``.
Everything is in :mod:`camrig.cli`, which ``python -m camrig`` and the ``gopro-manager`` console
script (``pip install .``) run as well.
"""

import sys

# Checked here, before any camrig import, so that an old Python gets this line and not a
# SyntaxError; camrig.cli.python_too_old says the same.
MIN_PYTHON = (3, 11)

if sys.version_info < MIN_PYTHON:
    sys.exit(f"gopro-manager needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or later (3.11 on Raspberry Pi OS "
             f"Bookworm, 3.13 on Trixie); this is {sys.version.split()[0]} ({sys.executable})")

from camrig.cli import main  # noqa: E402 - after the version check, which must run on any Python 3

if __name__ == "__main__":
    sys.exit(main())
