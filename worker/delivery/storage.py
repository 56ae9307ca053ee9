"""Where the images go: a bucket on any S3-compatible service, or files under ``OUTPUT_DIR``.

``put`` stores one object and is safe to call from several threads at once (the job uploads each image
as soon as it is encoded).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from worker.errors import ErrorCode, WorkerError, invalid_input
from worker.outbound.urls import TransferFailed, URLRejected, parse_outbound, resolve
from worker.runtime.config import Settings
from worker.schema import shorten

log = logging.getLogger(__name__)
UPLOAD_THREADS = 16


@dataclass(frozen=True)
class Artifact:
    key: str
    data: bytes
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredArtifact:
    key: str
    url: str


class Storage(Protocol):
    def put(self, artifact: Artifact) -> StoredArtifact:
        """Store one artifact; a failure is a ``storage_unavailable`` WorkerError."""
        ...

    def delete(self, key: str) -> None:
        """Remove a stored artifact by its full key (what ``put`` returned); best effort, never raises."""
        ...


class LocalStorage:
    """Files under ``OUTPUT_DIR`` with ``file://`` URLs: the default when no bucket is configured."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _write(self, artifact: Artifact) -> StoredArtifact:
        path = self.root / artifact.key
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file, and a re-run replaces the old one whole.
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
            tmp.write(artifact.data)
        os.replace(tmp.name, path)
        return StoredArtifact(key=artifact.key, url=path.as_uri())

    def put(self, artifact: Artifact) -> StoredArtifact:
        try:
            return self._write(artifact)
        except OSError as exc:
            raise WorkerError(
                ErrorCode.STORAGE_UNAVAILABLE, f"could not write to OUTPUT_DIR ({exc.strerror})"
            ) from None

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


@dataclass(frozen=True)
class PinnedEndpoint:
    """A job's S3 endpoint as checked: botocore dials ``dial_url`` (the checked address), signs and sends
    ``host_header``, and verifies TLS against ``host``, so a name that resolves elsewhere later changes nothing."""

    dial_url: str
    host_header: str
    host: str


@dataclass(frozen=True)
class S3Target:
    """Where one job's images go; RunPod's per-job ``s3Config`` can replace the configured one."""

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    path_style: bool | None = None  # None: S3_PATH_STYLE decides
    public_base_url: str | None = None  # S3_PUBLIC_BASE_URL: the configured bucket's CDN, never a job's bucket
    pinned: PinnedEndpoint | None = None  # a job's endpoint: the address checked at validation, dialled as is

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Target | None:
        """``S3_BUCKET``, or the bucket inside ``BUCKET_ENDPOINT_URL`` as RunPod's documentation writes it."""
        bucket, endpoint, path_style = settings.s3_bucket, settings.s3_endpoint_url, None
        if not bucket and endpoint:
            found = bucket_in_endpoint(endpoint)
            if found is not None:
                bucket, endpoint, path_style = found
        if not bucket:
            return None
        key, secret = settings.bucket_access_key_id, settings.bucket_secret_access_key
        return cls(
            bucket=bucket,
            endpoint_url=endpoint,
            region=settings.s3_region,
            access_key_id=key.get_secret_value() if key else None,
            secret_access_key=secret.get_secret_value() if secret else None,
            path_style=path_style,
            public_base_url=(settings.s3_public_base_url or "").rstrip("/") or None,
        )

    @classmethod
    def from_job(cls, s3_config: Any, default: S3Target | None, settings: Settings) -> S3Target | None:
        """RunPod's request-level ``s3Config``: bucketName, endpointUrl, accessId, accessSecret.

        Its endpoint follows the rules of every outbound URL (``worker.outbound.urls``), checked before the job runs.
        """
        if not s3_config:
            return default
        if not isinstance(s3_config, dict) or not s3_config.get("bucketName"):
            raise invalid_input("s3Config needs at least a bucketName", "s3Config")
        fields = ("bucketName", "endpointUrl", "accessId", "accessSecret")
        if any(s3_config.get(name) is not None and not isinstance(s3_config[name], str) for name in fields):
            raise invalid_input(f"s3Config's {', '.join(fields)} must be strings", "s3Config")
        if not s3_config.get("accessId") or not s3_config.get("accessSecret"):
            # Without them boto3 would sign with the worker's own credentials (or ask the instance metadata).
            raise invalid_input("s3Config needs its own accessId and accessSecret", "s3Config")
        check_bucket_name(s3_config["bucketName"])
        endpoint, pinned = (default.endpoint_url if default else None), None
        if s3_config.get("endpointUrl"):
            endpoint, pinned = checked_endpoint(s3_config["endpointUrl"], settings)
        return cls(
            bucket=s3_config["bucketName"],
            endpoint_url=endpoint,
            region=default.region if default else None,
            access_key_id=s3_config["accessId"],
            secret_access_key=s3_config["accessSecret"],
            path_style=True,  # the bucket never becomes part of the host: the host dialled is the one checked
            pinned=pinned,
        )


# S3's bucket naming rules, with GCS's underscores; nothing botocore turns into another host (ARNs, S3 Express
# directory buckets, access-point and Object Lambda aliases, multi-region access points) and no IP address.
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
# S3's reserved prefixes and suffixes; every suffix of the "--" family (directory buckets --x-s3, access points
# --xa-s3 and --op-s3, Object Lambda --ol-s3, tables --table-s3, and any AWS adds) is refused by refusing "--".
ERROR_CODE = re.compile(r"[A-Za-z0-9.]{1,40}")  # S3 error codes: AccessDenied, NoSuchBucket, ...
RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-", "arn:")
RESERVED_BUCKET_SUFFIXES = ("-s3alias", ".mrap")


def check_bucket_name(name: str) -> None:
    """A job's bucket name: refused (``invalid_input``) unless botocore can only ever use it as a path."""
    if (
        not BUCKET_NAME.fullmatch(name)
        or name.startswith(RESERVED_BUCKET_PREFIXES)
        or name.endswith(RESERVED_BUCKET_SUFFIXES)
        or ".." in name
        or "--" in name
        or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name)
    ):
        raise invalid_input(
            "s3Config.bucketName must be a plain bucket name: 3-63 lowercase letters, digits, '.', '-' or '_', "
            "no ARN, access point or directory bucket",
            "s3Config",
        )


# Providers whose endpoint names the bucket as the first label of the host: the service's own host has
# this many labels (an account or region endpoint), so one label more is a bucket.
SERVICE_HOST_LABELS = {"digitaloceanspaces.com": 3, "r2.cloudflarestorage.com": 4, "storage.googleapis.com": 3}
S3_LABEL_PROVIDERS = ("amazonaws.com", "backblazeb2.com", "wasabisys.com")  # bucket.s3.<region>.<provider>


def bucket_in_endpoint(url: str) -> tuple[str, str, bool] | None:
    """The bucket an endpoint URL carries, the endpoint without it, and whether to address it by path.

    ``https://host/my-bucket`` (path style, any provider) or ``https://my-bucket.nyc3.digitaloceanspaces.com``
    (virtual-host style, for the providers above); None when the URL names no bucket.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    root = f"{parts.scheme}://{parts.netloc}"
    first_segment = parts.path.strip("/").split("/", 1)[0]
    if first_segment:
        return first_segment, root, True
    labels = host.split(".")
    for suffix, service_labels in SERVICE_HOST_LABELS.items():
        if host.endswith("." + suffix) and len(labels) == service_labels + 1:
            return labels[0], root.replace(f"{labels[0]}.", "", 1), False
    if host.endswith(S3_LABEL_PROVIDERS):
        s3_label = next((i for i, label in enumerate(labels) if label == "s3" or label.startswith("s3-")), 0)
        if s3_label > 0:
            return ".".join(labels[:s3_label]), root.replace(".".join(labels[:s3_label]) + ".", "", 1), False
    return None


def checked_endpoint(url: str, settings: Settings) -> tuple[str, PinnedEndpoint]:
    """A job's S3 endpoint: parsed by the URL rules, resolved once with every address checked, and pinned to
    the address that passed (as image and webhook connections are)."""
    field = "s3Config.endpointUrl"
    try:
        target = parse_outbound(url, field, settings.allow_http_urls)
        if "?" in url or "#" in url:
            raise URLRejected("s3Config.endpointUrl must not have a query or fragment")
        address = resolve(target, field, settings.allow_private_urls)
    except URLRejected as exc:
        raise invalid_input(str(exc), "s3Config") from None
    except TransferFailed as exc:
        raise WorkerError(ErrorCode.STORAGE_UNAVAILABLE, exc.reason) from None
    literal = f"[{address}]" if address.version == 6 else str(address)
    dial_url = f"{target.scheme}://{literal}:{target.port}{target.target}".rstrip("/")
    return target.url.rstrip("/"), PinnedEndpoint(dial_url, target.host_header, target.host)


class S3Storage:
    """Any S3-compatible bucket through boto3; every artifact of a job is uploaded in parallel."""

    def __init__(self, target: S3Target, settings: Settings) -> None:
        self.target = target
        self.prefix = settings.s3_prefix.strip("/")
        self.expires_s = settings.s3_url_expires_s
        self.public_base_url = target.public_base_url
        self.cache_control = settings.s3_cache_control
        path_style = settings.s3_path_style if target.path_style is None else target.path_style
        config = Config(
            retries={"max_attempts": settings.s3_max_attempts, "mode": "standard"},
            s3={"addressing_style": "path" if path_style else "virtual" if target.path_style is False else "auto"},
            # Checksums only where S3 requires them: GCS's S3 API and other stores refuse the CRC headers that
            # botocore 1.36+ adds to every upload by default.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=UPLOAD_THREADS,
            connect_timeout=5,
            read_timeout=30,
            signature_version="s3v4",
        )
        session = boto3.session.Session()

        def client(endpoint_url: str | None) -> BaseClient:
            return session.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=target.region,
                aws_access_key_id=target.access_key_id,
                aws_secret_access_key=target.secret_access_key,
                config=config,
            )

        self.presigner = client(target.endpoint_url)  # URLs for the app name the endpoint; presigning dials nothing
        self.client = self.presigner if target.pinned is None else pinned_client(client, target.pinned)

    def full_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def url_for(self, key: str) -> str:
        if self.public_base_url:
            return f"{self.public_base_url}/{key}"
        return self.presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self.target.bucket, "Key": key}, ExpiresIn=self.expires_s
        )

    def _upload(self, artifact: Artifact) -> StoredArtifact:
        key = self.full_key(artifact.key)
        self.client.put_object(
            Bucket=self.target.bucket,
            Key=key,
            Body=artifact.data,
            ContentType=artifact.content_type,
            CacheControl=self.cache_control,
            Metadata=artifact.metadata,
        )
        return StoredArtifact(key=key, url=self.url_for(key))

    def put(self, artifact: Artifact) -> StoredArtifact:
        try:
            return self._upload(artifact)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "error"))
            code = code if ERROR_CODE.fullmatch(code) else "error"  # the peer's text: a short word, or nothing
            raise WorkerError(
                ErrorCode.STORAGE_UNAVAILABLE, f"bucket {shorten(self.target.bucket)!r} refused the upload ({code})"
            ) from None
        except (BotoCoreError, RecursionError) as exc:  # a hostile peer can drive botocore into a redirect loop
            raise WorkerError(
                ErrorCode.STORAGE_UNAVAILABLE,
                f"could not reach the bucket {shorten(self.target.bucket)!r} ({type(exc).__name__})",
            ) from None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.target.bucket, Key=key)
        except (BotoCoreError, ClientError, RecursionError) as exc:
            log.warning("could not remove %s from the bucket (%s)", key, type(exc).__name__)


def pinned_client(make_client: Callable[[str], BaseClient], pinned: PinnedEndpoint) -> BaseClient:
    """A botocore client that dials ``pinned.dial_url`` yet speaks to ``pinned.host``: the ``Host`` header is set
    before signing (SigV4 signs it), and TLS checks the certificate against the name, not the address."""
    client = make_client(pinned.dial_url)

    def keep_host(request: AWSRequest, **_: object) -> None:
        request.headers["Host"] = pinned.host_header

    client.meta.events.register_first("before-sign.s3", keep_host)
    pools = client._endpoint.http_session._manager  # botocore's urllib3 PoolManager: no public hook for this
    pools.connection_pool_kw.update(server_hostname=pinned.host, assert_hostname=pinned.host)
    return client


def storage_for(target: S3Target | None, settings: Settings) -> Storage:
    return S3Storage(target, settings) if target is not None else LocalStorage(settings.output_dir)
