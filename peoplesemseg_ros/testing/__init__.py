"""Shipped test harness (the CLI uses it): live-node driver, fault frames, soak, shm cleanup."""

__all__: list[str] = []
