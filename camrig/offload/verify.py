"""Is a fetched file whole? Size against the camera's list, and an MP4 walked to its ``moov``.

An ISO base media file (MP4, LRV: ISO/IEC 14496-12 §4.2 "Object structure") is a sequence of
boxes, each ``size`` (32-bit big-endian, bytes, header included) then a 4-character ``type``;
``size == 1`` means a 64-bit ``largesize`` follows the type, ``size == 0`` means "to the end of
the file". A GoPro MP4 has ``ftyp``, ``mdat`` and ``moov`` at the top (the OpenAPI "Chapters"
section: MP4 and LRV are "stored in the ISO Base Media file format"). A file cut short loses
its last box, and a recording the camera never closed has no ``moov``: either way it is not a
file to give the final name. Only the top level is walked here (a few reads per file), with
the telemetry issue's box walker (camrig/telemetry/mp4.py).
"""

from __future__ import annotations

import os

#: extensions walked as ISO base media files
ISO_BMFF_EXTENSIONS = frozenset({"MP4", "LRV", "360", "36P", "MOV"})


class VerifyError(Exception):
    """A fetched file that is not whole; the message says what is wrong and where."""


def top_level_boxes(path: str | os.PathLike[str]) -> list[tuple[str, int, int]]:
    """``[(type, offset, size), …]`` of the top-level boxes of ``path`` (bytes), walked by the
    telemetry's box walker (:func:`camrig.telemetry.mp4.iter_boxes`, ``top=True``).

    :raises VerifyError: anything the walker warns about at the top level — a header cut short, a
        size smaller than its header, a box running past the end of the file (cut short).
    """
    from ..telemetry.gpmf import GpmfWarning
    from ..telemetry.mp4 import iter_boxes

    warnings: list[GpmfWarning] = []
    with open(path, "rb") as fh:
        end = os.fstat(fh.fileno()).st_size

        def read_at(offset: int, n: int) -> bytes:
            fh.seek(offset)
            return fh.read(n)
        boxes = [(b.type.decode("latin-1"), b.offset, b.size)
                 for b in iter_boxes(read_at, 0, end, source=os.fspath(path), warnings=warnings, top=True)]
    if warnings:
        raise VerifyError("; ".join(str(w) for w in warnings[:3]) + " (cut short or damaged)")
    return boxes


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
