"""Signed webhooks to the app (Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).

Events: ``design.completed`` (the job's output), ``design.failed`` (error and error_code) and, with
``WEBHOOK_PROGRESS=1``, ``design.progress`` (stage and percent, at most one a second). Each body is
``{"type", "timestamp", "data"}``, with ``design_id`` and the RunPod ``job_id`` in ``data``.

Delivery retries connection errors, timeouts, 5xx and 429 (honouring ``Retry-After``) with exponential
backoff and jitter, bounded in attempts and seconds; other 4xx are final, and 410 means the endpoint is
gone. One event keeps one ``webhook-id`` across its retries, so the app can de-duplicate. A webhook that
cannot be delivered never fails the job: the job's result says so.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from standardwebhooks import Webhook

from worker.config import Settings
from worker.errors import invalid_input
from worker.inputs import check_url

log = logging.getLogger(__name__)

RETRY_STATUSES = {429} | set(range(500, 600))
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 15.0


@dataclass
class DeliveryReport:
    delivered: bool
    attempts: int
    last_status: int | None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key != "reason" or value is not None}


def verify(body: bytes | str, headers: Mapping[str, str], secret: str) -> dict[str, Any]:
    """For Python apps receiving our webhooks: the event if its signature and timestamp hold, else raises.

    ``standardwebhooks.WebhookVerificationError`` is raised for a bad signature or a stale timestamp.
    """
    return Webhook(secret).verify(body, dict(headers))


def check_webhook_url(url: str, settings: Settings) -> str:
    """A job's own webhook URL: an allowed host (``WEBHOOK_ALLOWED_HOSTS``) and the image URLs' address rules."""
    host, _, _ = check_url(url, settings, "webhook_url")
    allowed = settings.allowed_webhook_hosts
    host = host.lower()
    if host not in allowed and not any(a.startswith("*.") and host.endswith(a[1:]) for a in allowed):
        raise invalid_input(f"webhook_url host {host!r} is not in WEBHOOK_ALLOWED_HOSTS", "webhook_url")
    return url


def is_signed_url(url: str) -> bool:
    query = parse_qs(urlsplit(url).query)
    return any(name in query for name in ("X-Amz-Signature", "Signature", "X-Amz-Credential"))


def without_signed_urls(result: dict[str, Any]) -> dict[str, Any]:
    """The result for a webhook body: presigned URLs are dropped (each entry keeps its ``key``).

    A signature belongs only in the job's own result; the app can presign a key itself.
    """

    def clean(entry: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in entry.items() if not (k == "url" and is_signed_url(v))}

    return {
        **result,
        "designs": [clean(d) for d in result["designs"]],
        "mockups": [clean(m) for m in result["mockups"]],
    }


def retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


class WebhookSender:
    """Sends one job's events to one URL, signed with the configured secret."""

    def __init__(
        self,
        url: str,
        secret: str,
        settings: Settings,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self._signer = Webhook(secret)
        self._settings = settings
        self._session = session or requests.Session()
        self._sleep = sleep

    def _attempt(self, message_id: str, payload: str) -> requests.Response:
        sent_at = datetime.now(UTC)  # timezone-aware: a naive datetime would sign the wrong timestamp
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": self._signer.sign(message_id, sent_at, payload),
        }
        timeout = self._settings.webhook_timeout_s
        return self._session.post(self.url, data=payload.encode(), headers=headers, timeout=(timeout, timeout))

    def send(self, event_type: str, data: dict[str, Any], max_attempts: int | None = None) -> DeliveryReport:
        message_id = f"msg_{uuid.uuid4().hex}"
        payload = json.dumps({"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data})
        attempts_allowed = max_attempts or self._settings.webhook_max_attempts
        deadline = time.monotonic() + self._settings.webhook_max_seconds
        status: int | None = None
        for attempt in range(1, attempts_allowed + 1):
            wait: float | None = None
            try:
                response = self._attempt(message_id, payload)
                status = response.status_code
                if 200 <= status < 300:
                    return DeliveryReport(True, attempt, status)
                if status not in RETRY_STATUSES:
                    reason = "endpoint gone (410)" if status == 410 else f"rejected with HTTP {status}"
                    log.warning("webhook %s to %s %s", event_type, urlsplit(self.url).hostname, reason)
                    return DeliveryReport(False, attempt, status, reason)
                wait = retry_after_seconds(response)
            except requests.RequestException as exc:
                log.info("webhook %s attempt %d failed: %s", event_type, attempt, type(exc).__name__)
            if attempt == attempts_allowed:
                break
            backoff = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            wait = backoff if wait is None else max(wait, backoff)
            if time.monotonic() + wait > deadline:
                return DeliveryReport(False, attempt, status, f"gave up after {self._settings.webhook_max_seconds:g} s")
            self._sleep(wait)
        return DeliveryReport(False, attempts_allowed, status, "attempts exhausted")


class ProgressWebhooks:
    """``design.progress`` events in a background thread, at most one a second, one attempt each.

    Progress is advisory: a slow receiver never holds up the GPU, and pending updates are dropped once
    the job's final event is due.
    """

    def __init__(self, sender: WebhookSender, identity: dict[str, Any], interval_s: float = 1.0) -> None:
        self._sender = sender
        self._identity = identity
        self._interval_s = interval_s
        self._last = float("-inf")
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="progress-webhook")

    def __call__(self, update: dict[str, Any]) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self._interval_s:
                return
            self._last = now
        self._pool.submit(self._sender.send, "design.progress", {**self._identity, **update}, 1)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
