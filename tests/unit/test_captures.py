"""The captures shipped in the package are the real captures, byte for byte, and nothing reads
outside the repository to find them."""

import hashlib
import re
from pathlib import Path

import pytest

from camrig.emulator import captures

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name,digest", sorted(captures.checksums().items()))
def test_shipped_capture_is_unedited(name, digest):
    # SHA256SUMS was made from the shared originals when they were copied in.
    assert hashlib.sha256(captures.path(name).read_bytes()).hexdigest() == digest


def test_every_shipped_capture_has_a_checksum():
    shipped = {p.name for p in captures.DIR.iterdir() if p.suffix in (".json", ".xml")}
    assert shipped == set(captures.checksums())


def test_unknown_capture_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="not shipped"):
        captures.path("HERO99_nothing.json")
    with pytest.raises(FileNotFoundError):
        captures.path("../__init__.py")


def test_no_code_builds_a_path_into_shared():
    # A user's clone has nothing beside it: no code path may read ../shared.
    pattern = re.compile(r"""parents\[\d\]\s*/\s*["']shared["']|["']\.\./shared""")
    offenders = []
    for top in ("camrig", "tests", "bench"):
        for f in (REPO / top).rglob("*.py"):
            for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{f.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
