"""Is a fetched file whole? Size against the camera's list, and an MP4 walked to its ``moov``.

An ISO base media file (MP4, LRV: ISO/IEC 14496-12 §4.2 "Object structure") is a sequence of
boxes, each ``size`` (32-bit big-endian, bytes, header included) then a 4-character ``type``;
``size == 1`` means a 64-bit ``largesize`` follows the type, ``size == 0`` means "to the end of
the file". A GoPro MP4 has ``ftyp``, ``mdat`` and ``moov`` at the top (the OpenAPI "Chapters"
section: MP4 and LRV are "stored in the ISO Base Media file format"). A file cut short loses
its last box, and a recording the camera never closed has no ``moov``: either way it is not a
file to give the final name. Only the top level is walked here (a few reads per file);
camrig/telemetry/mp4.py (the telemetry issue) walks deeper.
"""

from __future__ import annotations

import os
import struct

#: extensions walked as ISO base media files
ISO_BMFF_EXTENSIONS = frozenset({"MP4", "LRV", "360", "36P"})


class VerifyError(Exception):
    """A fetched file that is not whole; the message says what is wrong and where."""


def top_level_boxes(path: str | os.PathLike[str]) -> list[tuple[str, int, int]]:
    """``[(type, offset, size), …]`` of the top-level boxes of ``path`` (bytes).

    :raises VerifyError: a box header cut short, a size smaller than its header, or a box that
        runs past the end of the file (the file is cut short).
    """
    out = []
    with open(path, "rb") as fh:
        end = os.fstat(fh.fileno()).st_size
        pos = 0
        while pos < end:
            fh.seek(pos)
            head = fh.read(8)
            if len(head) < 8:
                raise VerifyError(f"{os.fspath(path)}: box header cut short at byte {pos} of {end}")
            size, kind = struct.unpack(">I4s", head)
            header = 8
            if size == 1:
                large = fh.read(8)
                if len(large) < 8:
                    raise VerifyError(f"{os.fspath(path)}: 64-bit box size cut short at byte {pos}")
                size = struct.unpack(">Q", large)[0]
                header = 16
            elif size == 0:
                size = end - pos
            name = kind.decode("latin-1")
            if size < header:
                raise VerifyError(f"{os.fspath(path)}: box {name!r} at byte {pos} claims {size} bytes, "
                                  f"less than its {header}-byte header")
            if pos + size > end:
                raise VerifyError(f"{os.fspath(path)}: box {name!r} at byte {pos} needs {size} bytes, "
                                  f"the file ends {end - pos} bytes later (cut short)")
            out.append((name, pos, size))
            pos += size
    return out


def verify_file(path: str | os.PathLike[str], *, expected_size: int | None, extension: str) -> None:
    """Check a fetched file before it gets its final name: its size is ``expected_size`` (bytes;
    None: not checked) and, for an ISO base media file (:data:`ISO_BMFF_EXTENSIONS`), its top-level
    boxes fill the file exactly and include ``moov``.

    :raises VerifyError: naming the file and what is wrong.
    """
    size = os.stat(path).st_size
    if expected_size is not None and size != expected_size:
        raise VerifyError(f"{os.fspath(path)}: {size} bytes, the camera's list says {expected_size}")
    if extension.upper() in ISO_BMFF_EXTENSIONS:
        kinds = [k for k, _, _ in top_level_boxes(path)]
        if "moov" not in kinds:
            raise VerifyError(f"{os.fspath(path)}: no 'moov' box (top level: {', '.join(kinds) or 'nothing'}): "
                              "the recording was not closed, or this is not an MP4")
