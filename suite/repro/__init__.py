"""Reproducers: from a failing check or a known deviation, the inputs that show it and a
standalone script and issue text for each (``bcebench repro``)."""
