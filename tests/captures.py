"""The real captures the tests read (byte copies of shared/fixtures, shipped in the package)."""

from __future__ import annotations

import json
from pathlib import Path

CAPTURES = Path(__file__).resolve().parents[1] / "camrig" / "emulator" / "captures"
HERO7_CAPABILITIES = CAPTURES / "HERO7Black_gpControl.json"


def status_names() -> dict[str, str]:
    """Status id string → name, from the HERO7's own capability description (the camera's names)."""
    doc = json.loads(HERO7_CAPABILITIES.read_text())
    return {str(f["id"]): f["name"] for g in doc["status"]["groups"] for f in g["fields"]}
