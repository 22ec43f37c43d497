"""Real captures of real cameras, shipped with the package: the one place that finds them.

Byte-for-byte copies of the project's shared fixtures (README.md beside this file says which
camera, firmware and source each came from); ``SHA256SUMS`` holds their checksums, so a test
proves them unedited without reaching outside the repository.
"""

from __future__ import annotations

from pathlib import Path

#: The folder holding the captures.
DIR = Path(__file__).resolve().parent

HERO5_STATUS_IDLE = "HERO5Black_HD5.02.02.00.00_status_idle.json"
HERO7_CAPABILITIES = "HERO7Black_gpControl.json"
OPEN_GOPRO_STATE = "OpenGoPro_state_2022-01-04.json"
OPEN_GOPRO_OPENAPI = "OpenGoPro_openapi_http_2.0.json"


def path(name: str) -> Path:
    """The path of capture ``name`` (a file name in this folder).

    Raises FileNotFoundError naming the capture when it is not shipped: a missing capture is a
    broken installation, never something to fall back from.
    """
    p = DIR / name
    if "/" in name or name.startswith(".") or not p.is_file():
        raise FileNotFoundError(f"capture {name!r} is not shipped in {DIR}")
    return p


def checksums() -> dict[str, str]:
    """File name → SHA-256 hex digest, as recorded in ``SHA256SUMS`` when the copies were made."""
    out = {}
    for line in (DIR / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.partition("  ")
        if digest and name:
            out[name] = digest
    return out
