"""The error a user can fix, and how a command reports it: one line, exit code 1."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PipelineError(Exception):
    """Bad input a user can fix: the message names the input and what to do."""


def run_main(main: Callable[[], None]) -> None:
    """Run a stage's or a tool's `main` with logging set up; a PipelineError is one line."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        main()
    except PipelineError as err:
        logging.getLogger(main.__module__).error("%s", err)
        sys.exit(1)
