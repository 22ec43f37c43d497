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
