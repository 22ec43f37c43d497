"""A trigger change that lands while a status request is in flight (found by ``make bench``).

The status answer describes the camera as it was when the request went out, so the check must
compare it with what was wanted *then*. Comparing it with a wanted state that changed meanwhile
made a flapping trigger count as shutters the camera ignored: after three quick on/off flips the
camera was put in ``fault`` and the trigger waited out a 2 s back-off. Deterministic: the fake
driver changes the trigger from inside ``status()``; no threads, no timing.
"""

from __future__ import annotations

from camrig.cameras.gopro_legacy.driver import CameraStatus
from camrig.config import CameraConfig
from camrig.worker import CameraWorker, State


class FakeDriver:
    """A camera that records exactly when told; ``during_status`` runs inside the status request."""

    def __init__(self):
        self.recording = False
        self.shutters: list[bool] = []
        self.during_status = None

    def status(self):
        if self.during_status:
            hook, self.during_status = self.during_status, None
            hook()
        return CameraStatus(encoding_active=self.recording, system_ready=True, sd_status=0)

    def shutter(self, on):
        self.shutters.append(on)
        self.recording = on

    def set_date_time(self, when):
        pass

    def reset(self):
        pass


def _idle_worker():
    cam = CameraConfig(name="front", iface=None, ssid=None, wifi_mac=None, bt_mac=None)
    driver = FakeDriver()
    worker = CameraWorker(cam, driver, waker=None, keep_awake=None, set_clock=False)
    worker.state = State.IDLE
    worker.commanded = False
    return worker, driver


def test_trigger_on_during_a_check_after_quick_flips_records_at_once():
    worker, driver = _idle_worker()
    for _ in range(3):                      # on/off flips quicker than the confirmation read
        worker.set_wanted(True)
        worker._reconcile(True, True, False)
        worker.set_wanted(False)
        worker._reconcile(False, True, False)
    assert driver.shutters == [True, False] * 3
    # The confirmation read of the last "off" is in flight when the trigger comes on again.
    driver.during_status = lambda: worker.set_wanted(True)
    worker._check()
    assert worker.state != State.FAULT, worker.last_error
    # The worker loop then sees the change and sends the shutter at once.
    worker._reconcile(worker.wanted, True, False)
    assert driver.shutters[-1] is True and driver.recording
    assert worker.state == State.RECORDING
