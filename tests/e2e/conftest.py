"""Fixtures for the end-to-end tests: rigs of emulated cameras, with and without namespaces.

Namespace tests need root and ``ip netns``; without them they are skipped
with the reason (``pytest -ra`` prints it, and the report header says it up
front). Every rig gets a prefix of its own (``gmt<pid>-<n>``), so two test
runs, or two tests, never touch each other's namespaces.
"""

from __future__ import annotations

import itertools
import os
import re

import pytest

from tests.rig import (
    LoopbackRig,
    NamespaceRig,
    existing_namespaces,
    namespaces_available,
    remove_rig_namespaces,
)

#: Prefix of every namespace these tests make: ``gmt<pid of the pytest run>-<n>``.
PREFIX_RE = re.compile(r"^(gmt([0-9]+)-[0-9]+)-(car|cam[0-9]+)$")

_serial = itertools.count(1)
_ns_status: tuple[bool, str] | None = None


def _namespaces() -> tuple[bool, str]:
    global _ns_status
    if _ns_status is None:
        _ns_status = namespaces_available()
    return _ns_status


def pytest_report_header(config):
    ok, reason = _namespaces()
    return "e2e network namespaces: " + ("available" if ok else f"UNAVAILABLE, tests skipped: {reason}")


def unique_prefix() -> str:
    """Namespace prefix no other rig of this or another test run uses: ``gmt<pid>-<n>``."""
    return f"gmt{os.getpid()}-{next(_serial)}"


@pytest.fixture(scope="session", autouse=True)
def _sweep_before_the_first_test():
    if _namespaces()[0]:
        remove_namespaces_of_dead_runs()


def remove_namespaces_of_dead_runs() -> None:
    """Delete the namespaces of earlier test runs whose process is gone (killed before its rigs
    could clean up), each by its exact name. A live run's are left alone."""
    for prefix in {m.group(1) for ns in existing_namespaces() if (m := PREFIX_RE.match(ns))
                   and not _pid_alive(int(m.group(2)))}:
        remove_rig_namespaces(prefix)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture
def needs_netns():
    """Skip (with the reason) unless network namespaces can be made here."""
    ok, reason = _namespaces()
    if not ok:
        pytest.skip(f"needs root and `ip netns`: {reason}")


@pytest.fixture
def make_ns_rig(needs_netns, request):
    """Factory: ``make_ns_rig(3, mode="route", **kw)`` → a built NamespaceRig, closed after the test.

    On failure the rig's daemon log and emulator states are printed into the
    test report (the workdir is kept and its path printed).
    """
    yield from _rig_factory(request, lambda n, **kw: NamespaceRig(n, prefix=unique_prefix(), **kw))


@pytest.fixture
def make_loopback_rig(request):
    """Factory: ``make_loopback_rig(3, **kw)`` → a built LoopbackRig (no root), closed after the test."""
    yield from _rig_factory(request, lambda n, **kw: LoopbackRig(n, prefix="gmtlo", **kw))


def _rig_factory(request, new_rig):
    rigs = []

    def make(n_cameras=3, **kwargs):
        rig = new_rig(n_cameras, **kwargs)
        rigs.append(rig)
        rig.__enter__()
        return rig

    yield make
    report = getattr(request.node, "rep_call", None)
    failed = report is not None and report.failed
    for rig in rigs:
        if failed:
            print(f"\n{rig!r}\n{rig.describe()}")
        rig.close(failed=failed)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report on the item, so fixtures know whether the test failed."""
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep

