"""Emulated GoPro HERO5–8: the camera body with the gpControl, legacy BLE and media front-ends.

One ``LegacyGoPro`` is one camera: an HTTP server on ``port`` (gpControl, and
``/gp/gpMediaList`` too), a second one on ``media_port`` (media list and files), a UDP
Wake-on-LAN listener on ``wol_port``, a UDP listener for the live-preview keep-alive on
``stream_port`` and an AF_UNIX control socket (one JSON object per line in, one per line out)
through which tests and the stand-in ``gatttool`` inject faults and BLE commands. The contract is
"Emulated legacy GoPro" in ``docs/contracts.md``; the parts are :mod:`.body` (power, Wi-Fi,
recording, storage, clock, HiLights, servers), :mod:`.gpcontrol`, :mod:`.legacy_ble` and
:mod:`.media`, each citing its sources.

Run it: ``python -m camrig.emulator.legacy_gopro --name front --control /run/gopro-emu/front.sock``.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from .body import (  # noqa: F401 - the names tests and tools import from here
    BLE_ERRORS,
    DEFAULT_EMU_DIR,
    DEFAULT_FIXTURE,
    EVENTS_KEPT,
    FIXTURES_DIR,
    HOLD_ASLEEP_S,
    IDLE_POLICIES,
    S_APP_COUNT,
    S_BATTERY_PERCENT,
    S_CURRENT_TIME_MSEC,
    S_DATE_TIME,
    S_ENCODING,
    S_LAST_HILIGHT_MSEC,
    S_LOCATE,
    S_MODE,
    S_NEXT_POLL,
    S_NUM_HILIGHTS,
    S_PROGRESS,
    S_REMAINING_SPACE,
    S_REMAINING_VIDEO,
    S_SD,
    S_SUB_MODE,
    S_SYSTEM_BUSY,
    S_SYSTEM_READY,
    SD_ERROR,
    SD_NO_CARD,
    SD_OK,
    SWITCHES,
    TOGGLE_FAULTS,
    CameraBody,
    ble_socket_path,
    body_kwargs,
    common_parser,
    encode_date_time,
    normalize_mac,
    parse_magic_packet,
    run_until_signalled,
    seed_from_args,
)
from .gpcontrol import (  # noqa: F401
    CAPTURE_KIND,
    DEFAULT_CAPABILITIES,
    DEFAULT_SUB_MODES,
    STREAM_KEEP_ALIVE,
    GpControlFront,
    decode_date_time,
    error_record,
)
from .legacy_ble import LegacyBleFront
from .media import MediaFront

log = logging.getLogger("camrig.emulator.legacy_gopro")


class LegacyGoPro(GpControlFront, LegacyBleFront, MediaFront, CameraBody):
    """One emulated GoPro HERO5–8 (gpControl over HTTP, Wake-on-LAN, BLE through the control socket).

    Arguments: those of :class:`~.body.CameraBody` (name, control_path, listen, port, media_port,
    wol_port, wol_listen, stream_port, wifi_mac, bt_mac, fixture, delay_ms, netdev,
    association_delay, boot_delay, start, idle_wifi_off, idle_wifi_off_policy), plus
    ``capabilities``: the real ``/gp/gpControl`` capability JSON to serve (default: the HERO7 Black
    capture), or None → 404 and a HERO5 named by the status capture's file name. Its ``info``
    block is ``/gp/gpControl/info``; its modes, sub-modes and settings are the ones the camera
    accepts.

    ``start()`` binds everything and returns; ``close()`` stops it promptly; ``port``,
    ``media_port`` and ``wol_port`` are the bound ports after ``start()``.
    """

    def __init__(self, name: str = "camera", *,
                 capabilities: str | os.PathLike | None = DEFAULT_CAPABILITIES, **kwargs: Any):
        CameraBody.__init__(self, name, **kwargs)
        self._init_gpcontrol(None if capabilities is None else os.fspath(capabilities))

    def start(self) -> LegacyGoPro:
        CameraBody.start(self)
        return self

    def __enter__(self) -> LegacyGoPro:
        return self.start()


def build_parser() -> argparse.ArgumentParser:
    """``python -m camrig.emulator.legacy_gopro`` options: the body's and gpControl's."""
    p = common_parser("python -m camrig.emulator.legacy_gopro",
                      "Emulated GoPro HERO5-8 (gpControl) for the test rig.")
    p.add_argument("--model", choices=("hero5", "hero6", "hero7", "hero8"), default="hero7",
                   help="names of new files on the card (HERO5: GOPRnnnn/GPccnnnn; later GHccnnnn)")
    p.add_argument("--stream-port", type=int, default=8554, help="UDP live-preview keep-alive port")
    p.add_argument("--capabilities", default=str(DEFAULT_CAPABILITIES),
                   help="/gp/gpControl capability JSON (default: the HERO7 Black capture); 'none': 404 "
                        "and a HERO5 named by the status capture")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; runs until SIGTERM/SIGINT. Returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cam = LegacyGoPro(args.name, stream_port=args.stream_port,
                      capabilities=None if args.capabilities == "none" else args.capabilities,
                      **body_kwargs(args))
    seed_from_args(cam, args)
    return run_until_signalled(cam)


if __name__ == "__main__":
    raise SystemExit(main())
