"""Errors that reach the user as one clear line (the CLI prints them without a traceback)."""


class InputError(ValueError):
    """Bad input: the message names the file, row or field and what was expected."""
