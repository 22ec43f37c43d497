"""Stand-ins for the controller's collaborators, shared by the controller, command and publisher
tests: a trigger the test flips, and a worker that records as soon as recording is wanted."""

from __future__ import annotations


class FlipTrigger:
    """A trigger the test sets; tells the controller at once, like inotify or a GPIO edge."""

    def __init__(self):
        self.value = False
        self._on_change = None

    def start(self, on_change):
        self._on_change = on_change

    def set(self, value):
        self.value = value
        self._on_change()

    def close(self):
        pass


class FollowingWorker:
    """A worker as the controller sees it: records as soon as recording is wanted."""

    def __init__(self, name):
        self.name = name
        self.alive = True
        self.wanted = False

    def set_wanted(self, wanted):
        self.wanted = wanted

    def request_check(self):
        pass

    def snapshot(self):
        return {"name": self.name, "state": "recording" if self.wanted else "idle", "wanted": self.wanted,
                "recording": self.wanted}

    def stop(self, timeout=0):
        self.alive = False


class MockCar:
    """A running car for the in-car tests: a real Controller on its own thread, one started
    CameraWorker per :class:`camrig.cameras.mock.MockDriver` (``wakers``: their wakers, default a
    MockWaker each), a FlipTrigger, and issue 13's inputs installed (:func:`camrig.inputs.install`
    with ``install_kwargs``: ``pin_factory``, ``shutdown``). ``worker_kwargs`` go to each worker
    after the tests' usual ``keep_awake=None, confirm_delay=0.02``. :meth:`close` stops it all."""

    def __init__(self, cfg, drivers, *, wakers=None, worker_kwargs=None, **install_kwargs):
        import threading

        from camrig.cameras.mock import MockWaker
        from camrig.controller import Controller
        from camrig.inputs import install
        from camrig.systemd import Notifier
        from camrig.worker import CameraWorker

        self.drivers = list(drivers)
        wakers = wakers or [MockWaker(d) for d in self.drivers]
        self.workers = [CameraWorker(cfg.camera(d.name), d, w, keep_awake=None, confirm_delay=0.02,
                                     **(worker_kwargs or {}))
                        for d, w in zip(self.drivers, wakers, strict=True)]
        self.trigger = FlipTrigger()
        self.ctl = Controller(cfg, self.workers, self.trigger, Notifier(environ={}), status_path="")
        self.inputs = install(self.ctl, cfg, **install_kwargs)
        for w in self.workers:
            w.start()
        self.thread = threading.Thread(target=self.ctl.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.inputs.close()
        self.ctl.request_stop()
        self.thread.join(5)
        self.ctl.shutdown(stop_recordings=False, timeout=0.5)
