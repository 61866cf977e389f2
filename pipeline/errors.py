"""The error a user can fix, and how a command reports it: one line, exit code 1 (130 when
interrupted)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
INTERRUPTED_EXIT = 130  # the shell's code for a command stopped by Ctrl-C


class PipelineError(Exception):
    """Bad input a user can fix: the message names the input and what to do."""


class Interrupted(PipelineError):
    """Ctrl-C during work that keeps something (a checkpoint): the message says what."""


def run_main(main: Callable[[], None]) -> None:
    """Run a stage's or a tool's `main` with logging set up; an error or Ctrl-C is one line."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    log = logging.getLogger(main.__module__)
    try:
        main()
    except Interrupted as err:
        log.error("interrupted: %s", err)
        sys.exit(INTERRUPTED_EXIT)
    except KeyboardInterrupt:
        log.error("interrupted: outputs are replaced only whole, so the previous ones are intact")
        sys.exit(INTERRUPTED_EXIT)
    except PipelineError as err:
        log.error("%s", err)
        sys.exit(1)
