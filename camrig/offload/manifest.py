"""What has been copied from one camera: a SQLite file (stdlib ``sqlite3``) per camera.

``OFFLOAD_DIR/<camera>/.offload.sqlite3``, one row per file on the camera's card (and per GPMF
telemetry fetched beside a chapter), keyed by the camera's folder, name, size and creation time
(a card formatted and filled again reuses names: a new file is a new row). Columns: ``dest`` (the
path on the Pi), ``state`` (``partial`` while a ``.part`` exists, ``done`` once verified, fsynced
and renamed, ``failed`` with ``error``, ``missing`` when the camera answered 404, ``deleted``
after ``--delete-after``), ``sha256`` (hex, computed while writing), ``bytes`` (size on the Pi),
``mtime`` (the camera's ``mod``), ``attempts``, ``updated`` (Unix seconds). A ``meta`` table
holds the camera's name and serial.

Written with ``synchronous=FULL`` in WAL mode, so a row marked ``done`` survives a power cut
(the file it names was fsynced before). One connection per offload run, in the job's thread.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass

from ..media import MediaFile

FILE_NAME = ".offload.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS files (
    ident TEXT PRIMARY KEY,
    folder TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, created REAL, mtime REAL,
    dest TEXT NOT NULL, state TEXT NOT NULL, sha256 TEXT, bytes INTEGER, error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_dest ON files (dest);
"""


def ident(f: MediaFile, name: str | None = None) -> str:
    """The row key of ``f`` (``name`` overrides its name: a telemetry file beside a chapter)."""
    created = "" if f.created is None else f"{f.created:.0f}"
    return f"{f.folder}/{name or f.name}|{f.size}|{created}"


@dataclass(frozen=True)
class Row:
    """One manifest row (see the module docstring for the fields)."""

    ident: str
    dest: str
    state: str
    sha256: str | None
    bytes: int | None
    error: str | None
    attempts: int


class Manifest:
    """The manifest of one camera at ``directory/.offload.sqlite3`` (created with the directory).

    :raises sqlite3.Error / OSError: the file cannot be opened or written.
    """

    def __init__(self, directory: str | os.PathLike[str], *, camera: str, serial: str | None = None):
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, FILE_NAME)
        self.db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('camera', ?)", (camera,))
            if serial:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('serial', ?)", (serial,))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, key: str) -> Row | None:
        """The row of ``key`` (:func:`ident`), or None."""
        r = self.db.execute("SELECT ident, dest, state, sha256, bytes, error, attempts FROM files WHERE ident=?",
                            (key,)).fetchone()
        return Row(*r) if r else None

    def owner_of(self, dest: str) -> str | None:
        """The ident of the row whose ``dest`` is ``dest`` (None: no file claims that path)."""
        r = self.db.execute("SELECT ident FROM files WHERE dest=?", (dest,)).fetchone()
        return r[0] if r else None

    def _upsert(self, key: str, f: MediaFile, name: str, dest: str, state: str, **cols) -> None:
        now = time.time()  # wall time, for people: when the row changed
        with self.db:
            self.db.execute(
                "INSERT INTO files (ident, folder, name, size, created, mtime, dest, state, updated) "
                "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(ident) DO UPDATE SET dest=excluded.dest, "
                "state=excluded.state, updated=excluded.updated",
                (key, f.folder, name, f.size, f.created, f.modified, dest, state, now))
            for col, value in cols.items():
                self.db.execute(f"UPDATE files SET {col}=? WHERE ident=?", (value, key))  # noqa: S608 - fixed names

    def started(self, key: str, f: MediaFile, name: str, dest: str) -> None:
        """A transfer into ``dest + '.part'`` begins (or resumes); counts an attempt."""
        self._upsert(key, f, name, dest, "partial", error=None)
        with self.db:
            self.db.execute("UPDATE files SET attempts=attempts+1 WHERE ident=?", (key,))

    def done(self, key: str, f: MediaFile, name: str, dest: str, *, sha256: str, size: int) -> None:
        """``dest`` is verified, fsynced and has its final name."""
        self._upsert(key, f, name, dest, "done", sha256=sha256, bytes=size, error=None)

    def failed(self, key: str, f: MediaFile, name: str, dest: str, error: str, *, missing: bool = False) -> None:
        """The file could not be copied (``missing``: the camera answered 404)."""
        self._upsert(key, f, name, dest, "missing" if missing else "failed", error=error)

    def deleted(self, key: str) -> None:
        """The camera's copy was deleted (``--delete-after``)."""
        with self.db:
            self.db.execute("UPDATE files SET state='deleted', updated=? WHERE ident=? AND state='done'",
                            (time.time(), key))  # wall time, for people

    def counts(self) -> dict[str, int]:
        """``{state: rows}``."""
        return dict(self.db.execute("SELECT state, COUNT(*) FROM files GROUP BY state").fetchall())
