"""Errors raised by coreselect."""


class InputError(ValueError):
    """Bad input from the user: raised before any heavy work, with a message naming the problem."""


class UnusedInputWarning(UserWarning):
    """An input was given that the chosen method never reads (it is ignored)."""
