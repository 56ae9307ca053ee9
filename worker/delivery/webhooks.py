"""Signed webhooks to the app (Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).

Events: ``design.completed`` (the job's output), ``design.failed`` (error and error_code) and, with
``WEBHOOK_PROGRESS=1``, ``design.progress`` (stage and percent, at most one a second). Each body is
``{"type", "timestamp", "data"}``, with ``design_id`` and the RunPod ``job_id`` in ``data``.

A job's target is chosen at validation with no network use (a job's own ``webhook_url`` must have an
allowed host); it is resolved at delivery, once per attempt, and the attempt goes to the address that was
checked (``worker.outbound.urls``). Redirects are never followed: a 3xx is a failed attempt. Replies are read to
at most 4 KB and never decompressed. Delivery retries connection errors, timeouts, unresolvable names,
5xx and 429 (honouring ``Retry-After``) with exponential backoff and jitter, bounded in attempts and by
a deadline; other statuses are final, and 410 means the endpoint is gone. One event keeps one
``webhook-id`` across its retries, so the app can de-duplicate. A webhook that cannot be delivered never
fails the job: the job's result says so.
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
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from standardwebhooks import Webhook

from worker.outbound.urls import Deadline, OutboundURL, TransferFailed, URLRejected, exchange, resolve
from worker.runtime.config import Settings

if TYPE_CHECKING:
    from worker.progress import JobProgress

log = logging.getLogger(__name__)

RETRY_STATUSES = {429} | set(range(500, 600))
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 15.0
REPLY_READ_LIMIT = 4096
PROGRESS_TIMEOUT_S = 2.0  # a progress event gets one short attempt: it is advisory
REPORT_GRACE_S = 10.0  # how long past JOB_TIMEOUT_S the final event may still take: a failure must be told


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


def is_signed_url(url: str) -> bool:
    query = parse_qs(urlsplit(url).query)
    return any(name in query for name in ("X-Amz-Signature", "Signature", "X-Amz-Credential"))


def without_signed_urls(result: dict[str, Any]) -> dict[str, Any]:
    """The result for a webhook body or a log: presigned URLs are dropped (each entry keeps its ``key``).

    A signature belongs only in the job's own result; the app can presign a key itself.
    """

    def clean(entry: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in entry.items() if not (k == "url" and is_signed_url(v))}

    return {  # every list of stored images (designs, mockups, print_files, and any added later)
        key: [clean(entry) if isinstance(entry, dict) else entry for entry in value]
        if isinstance(value, list)
        else value
        for key, value in result.items()
    }


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


class JobWebhook:
    """One job's webhook: its target, its signer, its progress events and the delivery of its final event.

    Without a signer (no ``WEBHOOK_SECRET``) nothing is sent, and the final event's report says why.

    Progress events go out from a background thread, at most one a second, one short attempt each: they
    are advisory, so a slow receiver never holds up the GPU; when the final event is due, pending ones are
    dropped and the one in flight is waited for, so the final event is always the last.
    """

    def __init__(
        self,
        target: OutboundURL,
        signer: Webhook | None,
        settings: Settings,
        identity: dict[str, Any],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.target = target
        self._signer = signer
        self._settings = settings
        self._identity = identity
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last_progress = float("-inf")
        self._progress_pool: ThreadPoolExecutor | None = None
        self._final_due = False

    # --- progress ---

    def progress(self, update: dict[str, Any]) -> None:
        """A ``ProgressSink``: sends ``design.progress`` unless throttled or the final event is due."""
        if self._signer is None:
            return
        with self._lock:
            now = time.monotonic()
            if self._final_due or now - self._last_progress < 1.0:
                return
            self._last_progress = now
            if self._progress_pool is None:
                self._progress_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="progress-webhook")
            deadline = Deadline(min(self._settings.webhook_timeout_s, PROGRESS_TIMEOUT_S))
            self._progress_pool.submit(self.send, "design.progress", {**self._identity, **update}, deadline, 1)

    def _stop_progress(self) -> None:
        with self._lock:
            self._final_due = True
            pool, self._progress_pool = self._progress_pool, None
        if pool is not None:  # the one in flight finishes (within PROGRESS_TIMEOUT_S): the final event comes last
            pool.shutdown(wait=True, cancel_futures=True)

    # --- the final event ---

    def completed(self, result: dict[str, Any], progress: JobProgress) -> dict[str, Any]:
        """``design.completed``: the job's result with its timings so far, presigned URLs left out."""
        event = without_signed_urls({**result, "timings_ms": progress.timings()})
        return self._final("design.completed", event, progress)

    def failed(self, response: dict[str, Any], progress: JobProgress) -> dict[str, Any]:
        """``design.failed``: the error, its code, and what was stored before it (presigned URLs left out)."""
        event = {"error": response["error"], "error_code": response["error_code"]}
        if "partial_output" in response:
            event["partial_output"] = without_signed_urls(response["partial_output"])
        return self._final("design.failed", event, progress)

    def _final(self, event_type: str, data: dict[str, Any], progress: JobProgress) -> dict[str, Any]:
        """The final event, within the job's deadline plus ``REPORT_GRACE_S``; the delivery report."""
        if self._signer is None:
            return DeliveryReport(False, 0, None, "WEBHOOK_SECRET is not set").as_dict()
        deadline = Deadline(min(self._settings.webhook_max_seconds, progress.remaining_s() + REPORT_GRACE_S))
        return self.deliver(event_type, data, deadline).as_dict()

    def deliver(self, event_type: str, data: dict[str, Any], deadline: Deadline) -> DeliveryReport:
        """The job's last event (``design.completed`` or ``design.failed``), retried within ``deadline``."""
        self._stop_progress()
        return self.send(event_type, {**self._identity, **data}, deadline)

    def _attempt(self, message_id: str, payload: str, deadline: Deadline) -> tuple[int, float | None]:
        """One signed POST to the checked address: its status and ``Retry-After`` (or ``TransferFailed``)."""
        attempt_deadline = deadline.sooner(self._settings.webhook_timeout_s)
        address = resolve(self.target, "webhook", self._settings.allow_private_urls, attempt_deadline)
        sent_at = datetime.now(UTC)  # timezone-aware: a naive datetime would sign the wrong timestamp
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": self._signer.sign(message_id, sent_at, payload),
        }
        reply = exchange(self.target, address, attempt_deadline, "POST", headers, payload.encode(), REPLY_READ_LIMIT)
        return reply.status, retry_after_seconds(reply.headers)

    def send(
        self, event_type: str, data: dict[str, Any], deadline: Deadline, max_attempts: int | None = None
    ) -> DeliveryReport:
        message_id = f"msg_{uuid.uuid4().hex}"
        payload = json.dumps({"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data})
        attempts_allowed = max_attempts or self._settings.webhook_max_attempts
        status: int | None = None
        host = self.target.host
        for attempt in range(1, attempts_allowed + 1):
            retry_after = None
            try:
                status, retry_after = self._attempt(message_id, payload, deadline)
                if 200 <= status < 300:
                    return DeliveryReport(True, attempt, status)
                if 300 <= status < 400:
                    log.warning("webhook %s to %s answered a redirect (%d), not followed", event_type, host, status)
                    return DeliveryReport(False, attempt, status, f"redirect (HTTP {status}) not followed")
                if status not in RETRY_STATUSES:
                    reason = "endpoint gone (410)" if status == 410 else f"rejected with HTTP {status}"
                    log.warning("webhook %s to %s %s", event_type, host, reason)
                    return DeliveryReport(False, attempt, status, reason)
            except URLRejected as exc:
                log.warning("webhook %s not sent: %s", event_type, exc)
                return DeliveryReport(False, attempt - 1, status, str(exc))
            except TransferFailed as exc:
                log.info("webhook %s attempt %d failed: %s", event_type, attempt, exc.reason)
            if attempt == attempts_allowed:
                break
            backoff = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            wait = backoff if retry_after is None else max(retry_after, backoff)
            if wait >= deadline.remaining():
                return DeliveryReport(False, attempt, status, "gave up: the delivery deadline would pass")
            self._sleep(wait)
        return DeliveryReport(False, attempts_allowed, status, "attempts exhausted")
