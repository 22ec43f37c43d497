"""Camera families: one package per family (:mod:`.gopro_legacy`, :mod:`.open_gopro`), each with
its driver, waker and BLE parts and one registry entry (:mod:`.registry`); :mod:`.base` holds what
they share (CameraStatus, the Driver and Waker interfaces, CameraParts) and :mod:`.mock` an
in-memory camera for tests (MockDriver, MockWaker)."""
