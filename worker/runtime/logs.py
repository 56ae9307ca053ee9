"""Structured logs: one JSON line per event, with the job id, at ``LOG_LEVEL``, and no secrets.

Every record passes through a redactor that replaces known secret values (S3 keys, ``WEBHOOK_SECRET``,
``HF_TOKEN``, a job's ``s3Config`` secret) and anything shaped like a request signature. RunPod's own
logger (its own format) is kept at INFO or above, where it does not print job inputs and outputs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

import diffusers
import transformers

from worker.runtime.config import Settings

JOB_ID: ContextVar[str | None] = ContextVar("job_id", default=None)
REDACTED = "[redacted]"
SIGNATURE_PATTERNS = [
    re.compile(r"(X-Amz-Signature=|X-Amz-Credential=|X-Amz-Security-Token=|Signature=)[^&\s'\"]+", re.IGNORECASE),
    re.compile(r"whsec_[A-Za-z0-9+/=]+"),
    re.compile(r"\bhf_[A-Za-z0-9]{20,}\b"),
]
SECRET_ENVIRONMENT = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
    "BUCKET_SECRET_ACCESS_KEY",
    "BUCKET_ACCESS_KEY_ID",
    "WEBHOOK_SECRET",
    "RUNPOD_API_KEY",
)
_secrets: set[str] = set()
_job_secrets: Counter[str] = Counter()  # a job's own credentials, for as long as the job runs


SHORT_SECRET = 8  # a secret shorter than this is redacted only where it stands alone, not inside a word


def redact_secret(value: str | None) -> None:
    """Never log ``value`` from now on."""
    if value:
        _secrets.add(value)


@contextmanager
def job_secrets(*values: object) -> Iterator[None]:
    """Redact ``values`` (a job's ``s3Config`` credentials) while the job runs, then forget them."""
    held = [value for value in values if isinstance(value, str) and value]
    _job_secrets.update(held)
    try:
        yield
    finally:
        _job_secrets.subtract(held)
        for value in held:
            if _job_secrets[value] <= 0:
                del _job_secrets[value]


def redact(text: str) -> str:
    """``text`` with every known secret and request signature replaced. Run it on text before it is escaped
    (JSON turns a quote, backslash, newline or non-ASCII character of a secret into another spelling)."""
    for secret in sorted(_secrets | set(_job_secrets), key=len, reverse=True):
        if len(secret) >= SHORT_SECRET:
            text = text.replace(secret, REDACTED)
        else:  # a short secret may be an ordinary word's letters: only where it stands alone
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", REDACTED, text)
    for pattern in SIGNATURE_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


@contextmanager
def bind_job(job_id: str | None) -> Iterator[None]:
    token = JOB_ID.set(job_id)
    try:
        yield
    finally:
        JOB_ID.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "job_id": JOB_ID.get(),
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            event["exception"] = redact(self.formatException(record.exc_info))
        return redact(json.dumps(event, default=str))  # and the escaped line, for signatures in other fields


def configure_logging(settings: Settings, local_test: bool = False) -> None:
    """JSON logs for the worker; ``local_test`` (``python handler.py``) also quiets RunPod's own INFO lines,
    which print the whole job result (presigned URLs included): the worker prints a summary instead."""
    for name in SECRET_ENVIRONMENT:
        redact_secret(os.environ.get(name))
    for secret in (settings.webhook_secret, settings.bucket_access_key_id, settings.bucket_secret_access_key):
        redact_secret(secret.get_secret_value() if secret else None)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    level = settings.log_level.upper()
    logging.getLogger("worker").setLevel(level)
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    from runpod.serverless.modules.rp_logger import RunPodLogger

    runpod_level = "INFO" if level == "DEBUG" else {"WARNING": "WARN"}.get(level, level)
    RunPodLogger().set_level("WARN" if local_test and runpod_level in ("DEBUG", "INFO") else runpod_level)
