"""Waking an Olympus: it cannot be done over Wi-Fi, so the waker waits for the camera's AP.

An Olympus / OM System body is an access point only while a person has turned its Wi-Fi on (the
seed's README, joergmlpts/olympus-wifi README "Connect Camera to Wifi": enter Wi-Fi mode on the
camera, then connect); no source gives a Wake-on-LAN, BLE or HTTP way to turn it on, and the OPC
spec's only power command is ``exec_pwoff`` (OPC 1.0a p. 53). So a "wake" here is: see whether
the adapter is associated (where it can tell) and probe until the camera answers, within
``timeout``; otherwise WakeFailed saying "turn on the camera's Wi-Fi". The worker retries wakes
with back-off while recording is wanted, so the camera is taken back as soon as its AP returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ...errors import AdapterMismatch, CameraRejected, CameraUnreachable, CamRigError, LinkError, WakeFailed
from ...link import Link
from ...wake import PROBE_INTERVAL_S

log = logging.getLogger("camrig.wake")

#: What people are told (``check``, the status file's last_error, the docs).
WAKE_HINT = "an Olympus cannot be woken over Wi-Fi: turn on the camera's Wi-Fi"


class OlympusWaker:
    """"Wake" one Olympus: wait for its AP and probe (see the module docstring).

    ``probe(timeout=…)`` raises CameraUnreachable/CameraRejected until the camera answers (the
    driver's ``get_connectmode`` probe); ``associated`` → bool (may raise AdapterMismatch), None
    where there is no adapter of its own to ask; ``timeout`` seconds bound one wake; ``probe_timeout``
    seconds for each probe.
    """

    wake_hint = WAKE_HINT

    def __init__(self, camera, link: Link, probe: Callable[..., None], *,
                 associated: Callable[[], bool] | None = None, timeout: float = 30.0,
                 probe_timeout: float = 1.0, clock=time.monotonic):
        self.camera = camera
        self.link = link
        self.probe = probe
        self.associated = associated
        self.timeout = timeout
        self.probe_timeout = probe_timeout
        self.clock = clock

    def __repr__(self) -> str:
        return f"<OlympusWaker camera={self.camera.name}>"

    def check_adapter(self) -> None:
        """Raise AdapterMismatch when the camera's adapter is on another camera's AP (nothing when
        the link has no AdapterGuard)."""
        guard = getattr(self.link, "guard", None)
        if guard is not None:
            guard.verify(need_carrier=False)

    def wake(self, stop: threading.Event, on_step: Callable[[str], None] = lambda s: None) -> None:
        """Return once the camera answers a probe; WakeFailed naming the camera and saying to turn
        its Wi-Fi on when it does not within ``timeout`` s (or ``stop`` is set); AdapterMismatch
        when the adapter is on another camera's AP."""
        deadline = self.clock() + self.timeout
        on_step("waiting for the camera's Wi-Fi")
        last: CamRigError | None = None
        associated_seen = False
        while not stop.is_set():
            started = self.clock()
            try:
                if self.associated is None or self.associated():
                    associated_seen = True
                    self.probe(timeout=self.probe_timeout)
                    return
            except AdapterMismatch:
                raise
            except (CameraUnreachable, CameraRejected, LinkError) as exc:
                last = exc
            if self.clock() >= deadline:
                break
            stop.wait(max(0.0, PROBE_INTERVAL_S - (self.clock() - started)))
        if stop.is_set():
            raise WakeFailed("stopping", camera=self.camera.name)
        where = "no answer" if associated_seen else f"{self.link.iface or 'the adapter'} not associated"
        detail = f" (last: {last.detail})" if last is not None else ""
        log.debug("%s: %s within %.0f s%s", self.camera.name, where, self.timeout, detail)
        raise WakeFailed(f"{where} within {self.timeout:.0f} s: {WAKE_HINT}", camera=self.camera.name)
