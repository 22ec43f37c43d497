"""One exception root for the whole daemon, one subclass per kind of failure.

Every message names the camera it is about (or the config key), so that a log
line read alone in ``journalctl`` says what broke and where.
"""

from __future__ import annotations


class CamRigError(Exception):
    """Root of every error gopro-manager raises on purpose.

    ``camera`` is the camera's configured name, or ``None`` for errors that are
    not about one camera.
    """

    def __init__(self, message: str, *, camera: str | None = None):
        self.camera = camera
        self.detail = message  # the message without the camera's name, for logs that name it already
        super().__init__(f"{camera}: {message}" if camera else message)


class ConfigError(CamRigError):
    """The configuration is wrong: names the key, the camera and the bad value.

    The daemon exits with status 78 (``EX_CONFIG``, which systemd shows as
    ``status=78/CONFIG``) and prints no traceback.
    """

    EXIT_STATUS = 78

    def __init__(self, key: str, message: str, *, camera: str | None = None,
                 value: object = ..., path: str | None = None):
        self.key = key
        self.value = value
        self.path = path
        where = f"{path}: " if path else ""
        who = f" (camera {camera!r})" if camera else ""
        shown = "" if value is ... else f": got {value!r}"
        Exception.__init__(self, f"{where}{key}{who}: {message}{shown}")
        self.camera = camera
        self.detail = str(self)


class LinkError(CamRigError):
    """Packets cannot be sent the way the Link promises (interface missing, bind refused).

    ``permanent`` is True when retrying cannot help without a change on the
    machine (a missing capability), False when the condition may pass (a USB
    adapter not plugged in yet).
    """

    def __init__(self, message: str, *, camera: str | None = None, permanent: bool = False):
        self.permanent = permanent
        super().__init__(message, camera=camera)


class AdapterMismatch(LinkError):
    """The camera's Wi-Fi adapter is associated with another AP than the camera's own.

    ``iface`` is the adapter, ``expected`` the camera's ``wifi_mac`` (its AP's BSSID), ``found``
    the BSSID ``iw dev IFACE link`` reports (lower case), ``other`` the configured camera whose
    AP that is (None when no camera has that BSSID), ``swapped_with`` that camera's adapter when
    it is associated with *this* camera's AP (two adapters named the other way round).
    Permanent: no retry helps until the adapters (or the config) are put right; nothing is sent
    across it (no Wake-on-LAN, no BLE, no HTTP).
    """

    def __init__(self, message: str, *, camera: str | None = None, iface: str = "", expected: str = "",
                 found: str = "", other: str | None = None, swapped_with: str | None = None):
        self.iface = iface
        self.expected = expected
        self.found = found
        self.other = other
        self.swapped_with = swapped_with
        super().__init__(message, camera=camera, permanent=True)


class CameraUnreachable(CamRigError):
    """No HTTP answer: connection refused or timed out, interface down, camera asleep."""


class CameraRejected(CamRigError):
    """The camera answered, but not with what was asked: HTTP error status or unreadable body.
    ``retry_later``: the refusal is for now only (the caller may ask again at its next chance)."""

    def __init__(self, message: str, *, camera: str | None = None, http_status: int | None = None,
                 retry_later: bool = False):
        self.http_status = http_status
        self.retry_later = retry_later
        super().__init__(message, camera=camera)


class WakeFailed(CamRigError):
    """A wake step (BLE Wi-Fi-on, association, Wake-on-LAN, probe) did not succeed in time."""


class BleError(WakeFailed):
    """gatttool (or bleak) could not deliver a BLE command; ``reason`` is the short BlueZ cause."""

    def __init__(self, message: str, *, camera: str | None = None, reason: str = "unknown"):
        self.reason = reason
        super().__init__(message, camera=camera)


class TriggerError(CamRigError):
    """A trigger source cannot be opened: names the GPIO pin or the trigger file and the cause."""


class StatusUnavailable(CamRigError):
    """The status file cannot be read: missing, unreadable, not JSON, or stale.

    ``path`` is the status file, ``reason`` a short human cause
    (``"missing (is gopro-manager running?)"``).
    """

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"status file {path}: {reason}")
