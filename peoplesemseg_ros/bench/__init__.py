"""Benchmarks behind ``peoplesemseg bench``: model, pipeline, node (DDS), baseline.

Every result is a JSON-able dict carrying :func:`machine.machine_info` (CPU
model, core count, load average, library versions) so a figure never travels
without the machine it was measured on.
"""

__all__: list[str] = []
