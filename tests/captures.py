"""The real captures the tests read (byte copies of shared/fixtures, shipped in the package)."""

from __future__ import annotations

import json

from camrig.emulator import captures

CAPTURES = captures.DIR
HERO7_CAPABILITIES = captures.path(captures.HERO7_CAPABILITIES)


def status_names() -> dict[str, str]:
    """Status id string → name, from the HERO7's own capability description (the camera's names)."""
    doc = json.loads(HERO7_CAPABILITIES.read_text())
    return {str(f["id"]): f["name"] for g in doc["status"]["groups"] for f in g["fields"]}
