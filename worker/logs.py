"""Logging for the worker process: our logger at ``LOG_LEVEL``, the libraries' chatter kept down."""

from __future__ import annotations

import logging

import diffusers
import transformers


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("worker").setLevel(level.upper())
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
