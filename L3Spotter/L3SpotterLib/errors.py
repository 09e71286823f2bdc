"""Errors that L3Spotter reports to a user as a one-line message naming the problem (never a traceback)."""


class L3SpotterError(Exception):
    """Base class: the message is shown to the user as it is."""


class InputError(L3SpotterError):
    """The input cannot be used: missing, unreadable, not a 3-D CT volume, or with unusable geometry."""


class ModelError(L3SpotterError):
    """The model file or its model card is missing, corrupt, or does not match."""
