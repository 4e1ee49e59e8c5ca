"""The project's error type: one readable line, naming the file or key and what to do."""


class MaacError(Exception):
    """An expected failure caused by input, data or environment; printed without a traceback."""
