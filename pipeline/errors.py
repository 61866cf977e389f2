"""The error type stages report as a one-line message instead of a traceback."""


class PipelineError(Exception):
    """Bad input a user can fix: the message names the input and what to do."""
