"""Where a job's images and events go, decided in the validate stage.

The configured bucket (or ``OUTPUT_DIR``) and ``WEBHOOK_URL`` are built once at cold start; a job may name
its own ``s3Config`` and ``webhook_url``.

A job's own webhook URL must pass the URL rules and have an allowed host (``WEBHOOK_ALLOWED_HOSTS``); it is
checked with no network use. A job's S3 endpoint passes the same rules and every address it resolves to
is checked (``worker.delivery.storage``).
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from typing import Any

from standardwebhooks import Webhook

from worker.delivery.storage import S3Target, Storage, storage_for
from worker.delivery.webhooks import JobWebhook
from worker.errors import invalid_input
from worker.outbound.urls import OutboundURL, URLRejected, parse_outbound
from worker.progress import JobProgress
from worker.runtime.config import Settings
from worker.schema import JobInput

MIN_SECRET_BYTES = 16


@dataclass(frozen=True)
class DeliveryRoutes:
    """The configured destinations, built at cold start; ``storage_for`` and ``webhook_for`` pick a job's."""

    settings: Settings
    storage: Storage
    s3_target: S3Target | None = None
    signer: Webhook | None = None
    default_webhook: OutboundURL | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryRoutes:
        """A malformed secret, webhook URL or bucket setting raises here, which makes the worker unfit."""
        signer, default_webhook = webhook_signer(settings), default_webhook_target(settings)
        s3_target = S3Target.from_settings(settings)
        if s3_target is None and os.environ.get("RUNPOD_ENDPOINT_ID"):
            raise ValueError(
                "no bucket is configured (S3_BUCKET, or BUCKET_ENDPOINT_URL with the bucket in it): on RunPod, "
                "images written inside the container as file:// URLs could never reach the app"
            )
        return cls(settings, storage_for(s3_target, settings), s3_target, signer, default_webhook)

    @classmethod
    def unconfigured(cls, settings: Settings) -> DeliveryRoutes:
        """What a worker whose cold start failed keeps: files under ``OUTPUT_DIR``, no webhook."""
        return cls(settings, storage_for(None, settings))

    def storage_for(self, job: dict[str, Any]) -> Storage:
        """The configured storage, or the bucket of RunPod's per-job ``s3Config`` (its endpoint checked)."""
        if not job.get("s3Config"):
            return self.storage
        return storage_for(S3Target.from_job(job["s3Config"], self.s3_target, self.settings), self.settings)

    def webhook_for(
        self, job: dict[str, Any], request: JobInput | None, progress: JobProgress | None = None
    ) -> JobWebhook | None:
        """The job's own ``webhook_url`` (a refused one is ``invalid_input``), else ``WEBHOOK_URL``; None when
        there is neither. A job that did not validate (``request`` None) reports to ``WEBHOOK_URL`` only.

        With ``WEBHOOK_PROGRESS=1`` the webhook also follows ``progress`` (``design.progress`` events).
        """
        own_url = request.webhook_url if request is not None else None
        target = job_target(own_url, self.settings) if own_url else self.default_webhook
        if target is None:
            return None
        identity = {"design_id": request.design_id if request is not None else None, "job_id": job.get("id")}
        webhook = JobWebhook(target, self.signer, self.settings, identity)
        if progress is not None and self.settings.webhook_progress:
            progress.add_sink(webhook.progress)
        return webhook


def webhook_signer(settings: Settings) -> Webhook | None:
    """The signer for ``WEBHOOK_SECRET``, made at cold start so a malformed secret stops the worker there."""
    if settings.webhook_secret is None:
        return None
    secret = settings.webhook_secret.get_secret_value().removeprefix("whsec_")
    try:
        key = base64.b64decode(secret + "=" * (-len(secret) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"WEBHOOK_SECRET is not a Standard Webhooks secret: 'whsec_' and the base64 of {MIN_SECRET_BYTES}+ bytes"
        )
    return Webhook(key)


def default_webhook_target(settings: Settings) -> OutboundURL | None:
    """``WEBHOOK_URL``, checked by the URL rules at cold start."""
    if settings.webhook_url is None:
        return None
    try:
        return parse_outbound(settings.webhook_url, "WEBHOOK_URL", settings.allow_http_urls)
    except URLRejected as exc:
        raise ValueError(str(exc)) from None


def job_target(url: str, settings: Settings) -> OutboundURL:
    """A job's own ``webhook_url``: the URL rules and an allowed host (``WEBHOOK_ALLOWED_HOSTS``), no DNS."""
    try:
        target = parse_outbound(url, "webhook_url", settings.allow_http_urls)
    except URLRejected as exc:
        raise invalid_input(str(exc), "webhook_url") from None
    allowed = settings.allowed_webhook_hosts
    host = target.host
    if host not in allowed and not any(a.startswith("*.") and host.endswith(a[1:]) for a in allowed):
        raise invalid_input("webhook_url's host is not in WEBHOOK_ALLOWED_HOSTS", "webhook_url")
    return target
