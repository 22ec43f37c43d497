"""camrig: drive a car full of cameras from one trigger (the gopro-manager daemon)."""

__version__ = "0.1.0"
