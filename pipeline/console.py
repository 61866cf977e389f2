"""How a stage starts: logging set up, and user errors reported as one line with exit code 1."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pipeline.errors import PipelineError

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run_stage(main: Callable[[], None]) -> None:
    logging.basicConfig(level=logging.INFO, format=FORMAT)
    try:
        main()
    except PipelineError as err:
        logging.getLogger(main.__module__).error("%s", err)
        sys.exit(1)
