"""One camera's offload: list its card, fetch what is not on the Pi yet, verify, keep.

An :class:`OffloadJob` is a job for the camera's worker (``worker.submit(job)``, camrig/jobs.py):
it runs on the worker's job thread over the job's own HTTP connection, only while the camera is
idle and recording is not wanted, and is pre-empted the moment recording becomes wanted (the
download in flight is aborted and its connection closed; the shutter does not wait). It is
``resumable``: the worker queues it again and it starts over once the trigger is off — the list
is read again, files already in the manifest are skipped and the file that was cut resumes from
its ``.part`` with ``Range``. The same job runs without a worker (``gopro-manager offload`` with no
daemon: camrig/offload/cli.py) with a :class:`camrig.jobs.JobContext` of its own.

Per file (``OFFLOAD_DIR/<camera>/<YYYY-MM-DD>/<name as on the camera>``, :func:`destination`):

1. skipped when the manifest says ``done``/``deleted`` (nothing is fetched twice);
2. refused when the disk would keep less than ``OFFLOAD_MIN_FREE`` bytes free (the job stops and
   says so), and checked again every :data:`SPACE_CHECK_BYTES` while writing;
3. fetched into ``<name>.part`` (resumed from its size with ``Range: bytes=N-``; a camera that
   answers 200 instead gets the file restarted from byte 0, logged once per camera), SHA-256
   computed while writing, capped at the size the list gives (more bytes are refused);
4. verified: size equal to the list's, an MP4/LRV walked to its ``moov`` (camrig/offload/verify.py);
5. fsynced, renamed to its final name, the directory fsynced, its times set to the camera's
   ``mod`` (``os.utime``), and only then marked ``done`` in the manifest.

Nothing outside ``OFFLOAD_DIR/<camera>/`` is ever written (each path resolved and checked), no
unverified file ever carries a final name, and with ``delete_after`` a file is deleted on the
camera only when its whole recording is ``done`` here (verified and fsynced).
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import inspect
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cameras.gopro_legacy.media import MAX_THUMBNAIL_BYTES, size_known
from ..errors import CameraRejected, CameraUnreachable, CamRigError
from ..jobs import JobContext, JobPreempted
from ..media import MediaFile, safe_component
from .manifest import Manifest, ident
from .recordings import Recording, group, kind
from .verify import VerifyError, verify_file

log = logging.getLogger(__name__)

#: default OFFLOAD_DIR: the unit's StateDirectory=gopro-manager, subfolder media
DEFAULT_DIR = "/var/lib/gopro-manager/media"
#: default OFFLOAD_MIN_FREE, bytes (2 GB)
DEFAULT_MIN_FREE = 2_000_000_000
#: free space is looked at again after this many bytes written (one statvfs per 8 MB)
SPACE_CHECK_BYTES = 8 * 1024 * 1024
#: cap of a GPMF telemetry answer (bytes): ~1 MB per 4 GB chapter in practice; 256 MB is absurd
MAX_TELEMETRY_BYTES = 256 * 1024 * 1024
#: a transfer cut by the camera (dropped, stalled) is resumed this many times before the job fails
RETRIES = 2
#: seconds between such retries
RETRY_PAUSE = 1.0
#: a file that failed this many times is not tried again (until its manifest row is removed)
MAX_ATTEMPTS = 3
#: ``OFFLOAD_WHAT`` values: proxies (LRV, THM) and telemetry first, then the full files; or the
#: camera's order
WHAT_CHOICES = ("proxies-first", "in-order")


class DiskLow(OSError):
    """The disk under ``OFFLOAD_DIR`` would keep less than ``OFFLOAD_MIN_FREE``: the offload stops."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class OutsideOffloadDir(CamRigError):
    """A path that would leave ``OFFLOAD_DIR/<camera>/`` (never written)."""


@dataclass(frozen=True)
class Options:
    """What to offload: ``proxies_only`` (LRV, THM, telemetry only), ``delete_after`` (delete a
    recording on the camera once all of it is verified here), ``what`` (:data:`WHAT_CHOICES`),
    ``telemetry`` (fetch GPMF where the family offers it)."""

    proxies_only: bool = False
    delete_after: bool = False
    what: str = "proxies-first"
    telemetry: bool = True


@dataclass(frozen=True)
class Item:
    """One thing to fetch: ``source`` the camera's file; ``name`` the name on the Pi (the camera's,
    or ``<stem>.gpmf.bin`` for telemetry); ``telemetry`` True for a GPMF fetch; ``recording`` its key."""

    source: MediaFile
    name: str
    recording: str
    telemetry: bool = False

    @property
    def key(self) -> str:
        return ident(self.source, self.name)

    @property
    def size(self) -> int | None:
        """Bytes expected (None: unknown: a THM, telemetry)."""
        if self.telemetry or not size_known(self.source):
            return None
        return self.source.size


def camera_dir(root: str | os.PathLike[str], camera: str) -> Path:
    """``root/<camera>``, resolved; raises OutsideOffloadDir for a camera name that is not one
    safe path component."""
    try:
        safe_component(camera, what="camera name")
    except CamRigError as exc:
        raise OutsideOffloadDir(str(exc)) from None
    return Path(root).resolve() / camera


def day_of(f: MediaFile) -> str:
    """``YYYY-MM-DD`` of the recording (its ``cre``, else ``mod``: the camera's wall time, read as
    UTC so the day is the camera's day), or ``undated``."""
    when = f.created if f.created is not None else f.modified
    if when is None:
        return "undated"
    try:
        return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return "undated"


def inside(base: Path, path: Path) -> Path:
    """``path`` resolved, when it lies inside ``base`` (resolved); else OutsideOffloadDir."""
    base = base.resolve()
    resolved = path.resolve()
    if resolved != base and base not in resolved.parents:
        raise OutsideOffloadDir(f"{path} resolves to {resolved}, outside {base}: not written")
    return resolved


def destination(root: str | os.PathLike[str], camera: str, item: Item, manifest: Manifest) -> Path:
    """Where ``item`` goes: ``root/<camera>/<YYYY-MM-DD>/<name>``; when another file (another
    manifest row, or a file the manifest does not know) already holds that path, the camera's
    folder is added: ``root/<camera>/<YYYY-MM-DD>/<folder>/<name>``. Raises OutsideOffloadDir."""
    base = camera_dir(root, camera)
    day = base / day_of(item.source)
    for candidate in (day / item.name, day / item.source.folder / item.name):
        path = inside(base, candidate)
        owner = manifest.owner_of(str(path))
        if owner == item.key:
            return path
        if owner is None and not path.exists() and not Path(str(path) + ".part").exists():
            return path
    raise OutsideOffloadDir(f"{item.source.path}: both {day / item.name} and "
                            f"{day / item.source.folder / item.name} belong to other files")


class HashingWriter:
    """A binary file wrapper for :meth:`camrig.http.HttpClient.download`: SHA-256 of what is
    written (from byte 0; a resume hashes what is already there first), and a free-space check
    every :data:`SPACE_CHECK_BYTES` (raising :class:`DiskLow`)."""

    def __init__(self, fh, *, check_space: Callable[[int], None] | None = None):
        self.fh = fh
        self.sha = hashlib.sha256()
        self.hashed = 0
        self.check_space = check_space
        self._since_check = 0

    def _rehash(self, upto: int) -> None:
        self.fh.flush()
        self.sha = hashlib.sha256()
        self.hashed = 0
        with open(self.fh.name, "rb") as rd:
            while self.hashed < upto:
                block = rd.read(min(1 << 20, upto - self.hashed))
                if not block:
                    break
                self.sha.update(block)
                self.hashed += len(block)

    def seek(self, pos: int, whence: int = 0) -> int:
        out = self.fh.seek(pos, whence)
        if out != self.hashed:
            self._rehash(out)
        return out

    def truncate(self, size: int | None = None) -> int:
        return self.fh.truncate(size)

    def tell(self) -> int:
        return self.fh.tell()

    def write(self, data: bytes) -> int:
        self._since_check += len(data)
        if self.check_space is not None and self._since_check >= SPACE_CHECK_BYTES:
            self._since_check = 0
            self.check_space(0)
        n = self.fh.write(data)
        self.sha.update(data)
        self.hashed += len(data)
        return n

    def flush(self) -> None:
        self.fh.flush()

    def hexdigest(self) -> str:
        return self.sha.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_of(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file on the Pi."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Progress:
    """One camera's offload as ``status`` shows it; thread-safe. :meth:`as_dict` is the snapshot's
    ``offload.<camera>`` row: ``state`` (``queued``, ``listing``, ``running``, ``paused``, ``done``,
    ``failed``, ``stopped``), ``files_left``, ``mb_left``, ``files_done``, ``mb_done`` (files finished),
    ``mb_total`` (this
    run's plan), ``mb_per_s``
    (over the last ~5 s), ``eta_s`` (seconds), ``current`` (file), ``last_error``, ``range``
    (False once the camera ignored Range), ``recordings_done``, ``updated`` (Unix seconds), ``run``
    (this offload's id: the ``start`` reply's ``data.runs`` names it)."""

    WINDOW_S = 5.0
    _runs = itertools.count(1)

    def __init__(self, camera: str, *, clock: Callable[[], float] = time.monotonic):
        self.camera = camera
        #: names this offload (one ``start``): a follower tells its rows from an earlier offload's
        self.run_id = f"{os.getpid()}-{next(self._runs)}"
        self.clock = clock
        self._lock = threading.Lock()
        self.state = "queued"
        self.files_left = 0
        self.bytes_left = 0
        self.files_done = 0
        self.bytes_done = 0
        self.bytes_total = 0
        self.current: str | None = None
        self.last_error: str | None = None
        self.range_ok: bool | None = None
        self.recordings_done = 0
        self.bytes_fetched = 0          # bytes that came over the link in this run (resumes count once)
        self._samples: list[tuple[float, int]] = []
        self._file_base = 0             # bytes_left before the current file's bytes
        self.updated = time.time()

    def set(self, **fields: Any) -> None:
        with self._lock:
            for k, v in fields.items():
                setattr(self, k, v)
            self.updated = time.time()

    def plan(self, files: int, size: int) -> None:
        with self._lock:
            self.files_left, self.bytes_left, self.bytes_total = files, size, size
            self._samples = []

    def fetched(self, n: int) -> None:
        """``n`` bytes arrived (the rate counts them)."""
        with self._lock:
            self.bytes_fetched += n
            self.bytes_left = max(0, self.bytes_left - n)
            now = self.clock()
            self._samples.append((now, self.bytes_fetched))
            while len(self._samples) > 2 and now - self._samples[0][0] > self.WINDOW_S:
                self._samples.pop(0)
            self.updated = time.time()

    def file_done(self, size_left_adjust: int = 0) -> None:
        with self._lock:
            self.files_left = max(0, self.files_left - 1)
            self.files_done += 1
            self.bytes_left = max(0, self.bytes_left - size_left_adjust)
            self.updated = time.time()

    def rate(self) -> float:
        """Bytes per second over the last :attr:`WINDOW_S` seconds (0.0 when idle)."""
        with self._lock:
            if len(self._samples) < 2 or self.clock() - self._samples[-1][0] > self.WINDOW_S:
                return 0.0
            (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
            return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        rate = self.rate()
        with self._lock:
            return {
                "run": self.run_id,
                "state": self.state,
                "files_left": self.files_left,
                "mb_left": round(self.bytes_left / 1e6, 1),
                "files_done": self.files_done,
                "mb_done": round(self.bytes_done / 1e6, 1),
                "mb_total": round(self.bytes_total / 1e6, 1),
                "mb_per_s": round(rate / 1e6, 2),
                "eta_s": round(self.bytes_left / rate) if rate > 0 else None,
                "current": self.current,
                "last_error": self.last_error,
                "range": self.range_ok,
                "recordings_done": self.recordings_done,
                "updated": dt.datetime.fromtimestamp(self.updated, dt.UTC).isoformat(timespec="seconds"),
            }


def plan(recordings: list[Recording], media, options: Options) -> list[Item]:
    """The order of fetching: with ``proxies-first`` every recording's LRV, THM and (where the
    family offers it, ``media.telemetry_path``) GPMF telemetry first, then the chapters and other
    files; ``in-order`` goes recording by recording. ``proxies_only`` drops the full files."""
    proxies: list[Item] = []
    full: list[Item] = []
    in_order: list[Item] = []
    telemetry_of = getattr(media, "telemetry_path", None)
    for rec in recordings:
        p = [Item(f, f.name, rec.key) for f in (*rec.proxies, *rec.thumbnails)]
        if options.telemetry and callable(telemetry_of):
            for ch in rec.chapters:
                if telemetry_of(ch) is not None:
                    # the telemetry issue reads Open GoPro's GPMF as "<stem>.gpmf.bin" (camrig.telemetry)
                    p.append(Item(ch, f"{ch.name.rsplit('.', 1)[0]}.gpmf.bin", rec.key, telemetry=True))
        full_rec = [Item(f, f.name, rec.key) for f in (*rec.chapters, *rec.others)]
        proxies.extend(p)
        full.extend(full_rec)
        in_order.extend(p + full_rec)
    if options.proxies_only:
        return proxies
    return proxies + full if options.what == "proxies-first" else in_order


def driver_media(ctx: JobContext):
    """The camera's :class:`camrig.media.MediaAccess` from its driver's ``media()``: given the job's
    own connection (``media(ctx.http)``) when the family's ``media`` takes one (the GoPro
    families), called bare otherwise (Olympus: its session lives on the driver); None when the
    driver has no ``media`` (a camera reached over BLE only). Checks pre-emption first."""
    ctx.check()
    target = getattr(ctx, "_driver", None)
    media = getattr(target, "media", None)
    if not callable(media):
        return None
    try:
        takes_http = bool(inspect.signature(media).parameters)
    except (TypeError, ValueError):
        takes_http = False
    return media(ctx.http) if takes_http else media()


class OffloadJob:
    """A worker job (camrig/jobs.py) that offloads one camera into ``root/<camera>/``.

    ``media_of(ctx) -> MediaAccess``: how to reach the camera's media from the job (default
    :func:`driver_media`). ``min_free``: bytes to keep free on the disk under ``root``.
    ``statvfs``: os.statvfs (tests give a fake). ``after_recording(recording, paths, log)``: called
    once all of a recording's chapters are here (the ``.gpx`` hook, camrig/offload/hooks.py);
    ``after_telemetry(recording, paths, log)``: once all of its GPMF fetches (``<stem>.gpmf.bin``,
    Open GoPro) are here, before its video (the early ``.gpx``).
    Returns a summary dict; raises DiskLow, CameraUnreachable (after :data:`RETRIES`),
    MediaListError, JobPreempted.
    """

    name = "offload"
    resumable = True
    #: an asleep camera is woken for it (BLE / Wake-on-LAN, like a recording): a person asked for
    #: the footage; an Olympus, which cannot be woken, waits for its Wi-Fi to be turned on
    wakes = True

    def __init__(self, camera: str, root: str | os.PathLike[str], *, options: Options | None = None,
                 progress: Progress | None = None, min_free: int = DEFAULT_MIN_FREE,
                 media_of: Callable[[JobContext], Any] | None = None, serial: str | None = None,
                 statvfs: Callable[[str], Any] = os.statvfs,
                 after_recording: Callable[[Recording, list[Path], Any], None] | None = None,
                 after_telemetry: Callable[[Recording, list[Path], Any], None] | None = None,
                 low_speed_time: int = 10, retry_pause: float = RETRY_PAUSE):
        self.camera = camera
        self.root = Path(root)
        self.options = options or Options()
        self.progress = progress or Progress(camera)
        self.min_free = min_free
        self.media_of = media_of or driver_media
        self.serial = serial
        self.statvfs = statvfs
        self.after_recording = after_recording
        self.after_telemetry = after_telemetry
        self.low_speed_time = low_speed_time
        self.retry_pause = retry_pause
        self._range_logged = False
        self._telemetry_off = False
        self.runs = 0

    def __repr__(self) -> str:
        return f"<OffloadJob {self.camera} → {self.root}>"

    # --- free space --------------------------------------------------------------------------

    def free_bytes(self) -> int:
        st = self.statvfs(str(self.root))
        return st.f_bavail * st.f_frsize

    def ensure_free(self, need: int) -> None:
        """Raise :class:`DiskLow` unless ``need`` more bytes leave ``min_free`` free."""
        free = self.free_bytes()
        if free - need < self.min_free:
            raise DiskLow(f"offload stopped: {free / 1e9:.2f} GB free under {self.root}, "
                          f"{need / 1e6:.1f} MB more would leave less than OFFLOAD_MIN_FREE "
                          f"({self.min_free / 1e9:.2f} GB)")

    # --- the job ------------------------------------------------------------------------------

    def __call__(self, ctx: JobContext) -> dict[str, Any]:
        self.runs += 1
        p = self.progress
        p.set(state="listing", current=None)
        self.root.mkdir(parents=True, exist_ok=True)
        base = camera_dir(self.root, self.camera)
        media = self.media_of(ctx)
        if media is None:
            raise CameraRejected("no media access (a camera reached over BLE only has no HTTP)", camera=self.camera)
        ctx.check()
        files = media.list_media()
        ctx.check()
        recordings = group(files)
        items = plan(recordings, media, self.options)
        summary = {"files": 0, "bytes": 0, "skipped": 0, "failed": 0, "deleted": 0}
        with Manifest(base, camera=self.camera, serial=self.serial) as manifest:
            todo = [it for it in items if not self._done(manifest, it)]
            summary["skipped"] = len(items) - len(todo)
            p.plan(len(todo), sum(it.size or 0 for it in todo))
            p.set(state="running")
            if todo or self.options.delete_after:
                media.begin_offload()
            fetched_in: dict[str, list[Path]] = {}
            try:
                for it in todo:
                    ctx.check()
                    got = self._fetch(ctx, media, manifest, it, base)
                    if got is None:
                        summary["failed"] += 1
                        continue
                    path, size = got
                    summary["files"] += 1
                    summary["bytes"] += size
                    fetched_in.setdefault(it.recording, []).append(path)
                    rec = next(r for r in recordings if r.key == it.recording)
                    if it.telemetry:
                        self._telemetry_fetched(manifest, rec, items)
                    if self._recording_complete(manifest, rec, items) and it.recording in fetched_in:
                        fetched_in.pop(it.recording)
                        paths = [Path(r.dest) for r in (manifest.get(i.key) for i in items
                                                         if i.recording == rec.key)
                                 if r is not None and r.state == "done"]
                        self._recording_done(rec, paths, base)
                if self.options.delete_after:
                    summary["deleted"] = self._delete_after(ctx, media, manifest, recordings, items)
            finally:
                if not ctx.cancelled.is_set():
                    try:
                        media.end_offload()
                    except CamRigError as exc:
                        log.warning("%s: turbo transfer off failed: %s", self.camera, exc.detail)
        p.set(state="done", current=None)
        log.info("%s: offload done: %d file(s), %.1f MB fetched, %d already here, %d failed%s", self.camera,
                 summary["files"], summary["bytes"] / 1e6, summary["skipped"], summary["failed"],
                 f", {summary['deleted']} deleted on the camera" if self.options.delete_after else "")
        return summary

    def _done(self, manifest: Manifest, it: Item) -> bool:
        row = manifest.get(it.key)
        if row is None:
            return False
        if row.state in ("done", "deleted", "missing"):
            return True
        return row.state == "failed" and row.attempts >= MAX_ATTEMPTS

    def _recording_complete(self, manifest: Manifest, rec: Recording, items: list[Item]) -> bool:
        mine = [it for it in items if it.recording == rec.key and not it.telemetry]
        chapters = [it for it in mine if kind(it.source) == "video"]
        if not chapters:
            return False
        for it in chapters:
            row = manifest.get(it.key)
            if row is None or row.state not in ("done", "deleted"):
                return False
        return True

    def _telemetry_fetched(self, manifest: Manifest, rec: Recording, items: list[Item]) -> None:
        """Once every GPMF fetch of ``rec`` is here: the ``after_telemetry`` hook (the early .gpx)."""
        mine = [it for it in items if it.recording == rec.key and it.telemetry]
        rows = [manifest.get(it.key) for it in mine]
        if not mine or any(r is None or r.state != "done" for r in rows) or self.after_telemetry is None:
            return
        try:
            self.after_telemetry(rec, [Path(r.dest) for r in rows if r is not None], log)
        except Exception:          # a telemetry conversion bug must not stop the offload
            log.exception("%s: the after-telemetry hook failed for %s", self.camera, rec.label)

    def _recording_done(self, rec: Recording, paths: list[Path], base: Path) -> None:
        """The journal's one line per recording, and the ``.gpx`` hook."""
        self.progress.set(recordings_done=self.progress.recordings_done + 1)
        size = sum(p.stat().st_size for p in paths if p.exists())
        log.info("%s: recording %s offloaded: %d file(s), %.1f MB → %s", self.camera, rec.label, len(paths),
                 size / 1e6, paths[0].parent if paths else base)
        if self.after_recording is not None:
            try:
                self.after_recording(rec, paths, log)
            except Exception:          # a telemetry conversion bug must not stop the offload
                log.exception("%s: the after-recording hook failed for %s", self.camera, rec.label)

    def _fetch(self, ctx: JobContext, media, manifest: Manifest, it: Item, base: Path) -> tuple[Path, int] | None:
        """Fetch one item; (final path, size) or None when it failed (logged, in the manifest)."""
        p = self.progress
        row = manifest.get(it.key)
        dest = Path(row.dest) if row is not None else destination(self.root, self.camera, it, manifest)
        dest = inside(base, dest)
        part = inside(base, dest.with_name(dest.name + ".part"))
        p.set(current=f"{it.source.folder}/{it.name}")
        expected = it.size
        if it.telemetry:
            where = media.telemetry_path(it.source)
            if self._telemetry_off or where is None:
                p.file_done()
                return None
        else:
            where = media.download_path(it.source)
        port, path = where
        # A crash between the rename and the manifest: the final file is there and whole.
        if dest.exists() and not part.exists() and row is not None and row.state == "partial":
            try:
                verify_file(dest, expected_size=expected, extension=it.source.extension)
                manifest.done(it.key, it.source, it.name, str(dest), sha256=sha256_of(dest), size=dest.stat().st_size)
                p.file_done(expected or 0)
                return dest, dest.stat().st_size
            except VerifyError:
                pass
        offset = part.stat().st_size if part.exists() else 0
        if expected is not None and offset > expected:
            offset = 0
        if offset:
            p.set(bytes_left=max(0, p.bytes_left - offset))
        if expected is not None:
            self.ensure_free(expected - offset)
        else:
            self.ensure_free(0)
        dest.parent.mkdir(parents=True, exist_ok=True)
        inside(base, dest.parent)
        manifest.started(it.key, it.source, it.name, str(dest))
        cap = (MAX_TELEMETRY_BYTES if it.telemetry else MAX_THUMBNAIL_BYTES) if expected is None else max(1, expected)
        attempt = 0
        while True:
            try:
                sha, size = self._download(ctx, it, part, path, port, offset, expected, cap)
                break
            except CameraUnreachable as exc:
                attempt += 1
                offset = part.stat().st_size if part.exists() else 0
                p.set(last_error=exc.detail)
                if attempt > RETRIES:
                    raise
                log.warning("%s: %s: %s; resuming from byte %d (retry %d of %d)", self.camera, it.name, exc.detail,
                            offset, attempt, RETRIES)
                if ctx.cancelled.wait(self.retry_pause):
                    raise JobPreempted(f"{self.camera}: job pre-empted") from None
            except CameraRejected as exc:
                missing = exc.http_status == 404 if hasattr(exc, "http_status") else False
                if it.telemetry and exc.http_status in (400, 404, 501):
                    self._telemetry_off = True
                    log.info("%s: the camera serves no GPMF telemetry (%s); only the MP4s carry it",
                             self.camera, exc.detail)
                elif missing and ("derived", "1") in it.source.extra:
                    # a THM/LRV named after its video that this camera does not have
                    log.info("%s: %s not on the camera (%s)", self.camera, it.source.path, exc.detail)
                else:
                    log.warning("%s: %s not copied: %s", self.camera, it.source.path, exc.detail)
                    p.set(last_error=f"{it.source.path}: {exc.detail}")
                part.unlink(missing_ok=True)
                manifest.failed(it.key, it.source, it.name, str(dest), exc.detail, missing=missing)
                p.file_done(max(0, (expected or 0) - offset))
                return None
        try:
            verify_file(part, expected_size=expected, extension="" if it.telemetry else it.source.extension)
        except VerifyError as exc:
            log.warning("%s: %s not kept: %s", self.camera, it.source.path, exc)
            p.set(last_error=str(exc))
            part.unlink(missing_ok=True)
            manifest.failed(it.key, it.source, it.name, str(dest), str(exc))
            p.file_done()
            return None
        os.replace(part, dest)
        _fsync_dir(dest.parent)
        when = it.source.modified if it.source.modified is not None else it.source.created
        if when is not None:
            os.utime(dest, (when, when))
        manifest.done(it.key, it.source, it.name, str(dest), sha256=sha, size=size)
        p.set(bytes_done=p.bytes_done + size)
        p.file_done()
        return dest, size

    def _download(self, ctx: JobContext, it: Item, part: Path, path: str, port, offset: int,
                  expected: int | None, cap: int) -> tuple[str, int]:
        """GET into ``part`` from ``offset``; fsynced; returns (sha256 hex, size)."""
        p = self.progress
        mode = "r+b" if offset and part.exists() else "wb"
        with open(part, mode) as fh:
            writer = HashingWriter(fh, check_space=self.ensure_free)
            last = [offset]

            def progress(done: int, total: int | None) -> None:
                if done > last[0]:
                    p.fetched(done - last[0])
                last[0] = done

            res = ctx.download(path, writer, offset=offset, max_bytes=cap, expected_size=expected, port=port,
                               progress=progress, low_speed_time=self.low_speed_time)
            if offset and not res.resumed:
                p.set(range_ok=False)
                if not self._range_logged:
                    self._range_logged = True
                    log.warning("%s: the camera ignores Range: an interrupted file is fetched again from "
                                "byte 0 (%s restarted at %d bytes)", self.camera, it.name, offset)
            elif offset and res.resumed:
                p.set(range_ok=True)
            writer.flush()
            os.fsync(fh.fileno())
            size = os.fstat(fh.fileno()).st_size
            if writer.hashed != size:           # never expected; hash from the disk then
                return sha256_of(part), size
            return writer.hexdigest(), size

    def _delete_after(self, ctx: JobContext, media, manifest: Manifest, recordings: list[Recording],
                      items: list[Item]) -> int:
        """Delete on the camera every recording whose files are all ``done`` here (verified,
        fsynced, renamed; a derived LRV/THM the camera does not have counts as done): chapters
        first, then proxies, thumbnails and other files (a photo). Returns files deleted."""
        deleted = 0
        for rec in recordings:
            mine = [it for it in items if it.recording == rec.key and not it.telemetry]
            rows = {it.key: manifest.get(it.key) for it in mine}
            if not mine:
                continue
            ok = all(r is not None and (r.state in ("done", "deleted")
                                        or (r.state == "missing" and ("derived", "1") in it.source.extra))
                     for it, r in ((it, rows[it.key]) for it in mine))
            if not ok or all(getattr(rows[it.key], "state", None) != "done" for it in mine):
                continue
            for it in mine:
                r = rows[it.key]
                if r is None or r.state != "done" or not Path(r.dest).exists():
                    continue
                if it.size is not None and Path(r.dest).stat().st_size != it.size:
                    continue
                ctx.check()
                try:
                    media.delete(it.source)
                except CameraRejected as exc:
                    if ("derived", "1") not in it.source.extra:
                        log.warning("%s: delete %s refused: %s", self.camera, it.source.path, exc.detail)
                        continue
                    # a proxy or thumbnail the camera removed with its video
                manifest.deleted(it.key)
                deleted += 1
            log.info("%s: recording %s deleted on the camera (its copy is verified on the Pi)", self.camera, rec.label)
        return deleted
