"""Fixtures for the end-to-end tests: rigs of emulated cameras, with and without namespaces.

Namespace tests need root and ``ip netns``; without them they are skipped
with the reason (``pytest -ra`` prints it, and the report header says it up
front). Every rig gets a prefix of its own (``gmt<pid>-<n>``), so two test
runs, or two tests, never touch each other's namespaces.
"""

from __future__ import annotations

import itertools
import os

import pytest

from camrig.emulator.rig import LoopbackRig, NamespaceRig, namespaces_available

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


@pytest.fixture
def needs_netns():
    """Skip (with the reason) unless network namespaces can be made here."""
    ok, reason = _namespaces()
    if not ok:
        pytest.skip(f"needs root and `ip netns`: {reason}")


@pytest.fixture
def make_ns_rig(needs_netns, request):
    """Factory: ``make_ns_rig(3, mode="route", **kw)`` → a built NamespaceRig, closed after the test.

    On failure the rig's daemon log and emulator states are attached to the
    test report (the workdir is kept and its path printed).
    """
    rigs = []

    def make(n_cameras=3, **kwargs):
        rig = NamespaceRig(n_cameras, prefix=unique_prefix(), **kwargs)
        rigs.append(rig)
        rig.__enter__()
        return rig

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for rig in rigs:
        if failed:
            print(f"\n{rig!r}\n{rig.describe()}")
        rig.close(failed=failed)


@pytest.fixture
def make_loopback_rig(request):
    """Factory for LoopbackRig (no root), closed after the test."""
    rigs = []

    def make(n_cameras=3, **kwargs):
        rig = LoopbackRig(n_cameras, prefix="gmtlo", **kwargs)
        rigs.append(rig)
        rig.__enter__()
        return rig

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
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

