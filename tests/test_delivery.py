"""Delivery against real servers: SeaweedFS for S3, pytest-httpserver for the app's webhook route."""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from standardwebhooks import Webhook, WebhookVerificationError
from werkzeug import Response

from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY, configured, run_job, s3_settings, small_job
from tests.hostile import DelayingProxy, FixedReplyServer
from worker import DesignWorker
from worker.delivery.outputs import ImageOutput, store_outputs
from worker.delivery.storage import S3Storage, S3Target
from worker.delivery.webhooks import verify
from worker.errors import ErrorCode, WorkerError
from worker.outbound.urls import Deadline
from worker.progress import STAGES
from worker.runtime import logs
from worker.runtime.config import Settings

SECRET = "whsec_" + base64.b64encode(b"a test secret of 24 bytes!").decode()
DEAD_URL = "http://127.0.0.1:9/hook"  # a closed loopback port: nothing ever answers


def delivery_job(**overrides):
    return small_job(**{"design_id": "delivery", "products": ["mug", "poster"], "seed": 11, **overrides})


def webhook_events(httpserver) -> list[tuple[dict, dict]]:
    """Every webhook the receiver got, verified with the test's own secret: (headers, event)."""
    events = []
    for request, _ in httpserver.log:
        headers = {key.lower(): value for key, value in request.headers.items()}
        events.append((headers, Webhook(SECRET).verify(request.get_data(), headers)))
    return events


# --- S3 -----------------------------------------------------------------------------------------------


@pytest.fixture
def s3_worker(worker, s3_server):
    return configured(worker, **s3_settings(s3_server, s3_prefix="shop"))


def test_every_url_serves_the_images_the_job_made(s3_worker, worker):
    result, _ = run_job(s3_worker, delivery_job())
    assert "error" not in result, result
    local, _ = run_job(worker, delivery_job())  # same seed, local files: the reference bytes
    pairs = list(zip(result["designs"] + result["mockups"], local["designs"] + local["mockups"], strict=True))
    assert len(pairs) == 3
    for remote, reference in pairs:
        response = requests.get(remote["url"], timeout=10)
        assert response.status_code == 200
        assert response.content == Path(reference["url"].removeprefix("file://")).read_bytes()
        expected_type = "image/png" if remote["key"].endswith(".png") else "image/jpeg"
        assert response.headers["Content-Type"] == expected_type
        assert "X-Amz-Signature" in remote["url"]


def test_keys_carry_the_content_so_a_retry_rewrites_and_another_seed_adds(s3_worker, s3_server):
    first, _ = run_job(s3_worker, delivery_job())
    keys = [item["key"] for item in first["designs"] + first["mockups"]]
    patterns = [
        r"shop/delivery/design-0-\w{12}\.png",
        r"shop/delivery/mockups/mug-0-\w{12}\.jpg",
        r"shop/delivery/mockups/poster-0-\w{12}\.jpg",
    ]
    assert all(re.fullmatch(pattern, key) for pattern, key in zip(patterns, keys, strict=True)), keys
    run_job(s3_worker, delivery_job())
    assert s3_server.keys("designs", "shop/delivery/") == sorted(keys)
    other, _ = run_job(s3_worker, delivery_job(seed=12))
    other_keys = [item["key"] for item in other["designs"] + other["mockups"]]
    assert s3_server.keys("designs", "shop/delivery/") == sorted(keys + other_keys)
    assert {item["url"] for item in first["designs"]}.isdisjoint(item["url"] for item in other["designs"])


def test_objects_carry_type_cache_control_and_metadata(s3_worker, s3_server):
    result, _ = run_job(s3_worker, delivery_job())
    head = s3_server.client.head_object(Bucket="designs", Key=result["designs"][0]["key"])
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert head["Metadata"] == {"seed": "11", "style": "pop_art", "model": s3_worker.model.model_id}


def test_public_base_url_replaces_presigning(worker, s3_server):
    cdn = configured(worker, **s3_settings(s3_server, s3_public_base_url="https://cdn.example.com/assets/"))
    result, _ = run_job(cdn, delivery_job(products=[]))
    design = result["designs"][0]
    assert design["url"] == f"https://cdn.example.com/assets/{design['key']}"


def test_a_jobs_own_bucket_never_gets_the_configured_cdn_url(worker, s3_server):
    """S3_PUBLIC_BASE_URL fronts the configured bucket only: a job's s3Config bucket gets presigned URLs that
    open the object it stored."""
    cdn = configured(worker, **s3_settings(s3_server, s3_public_base_url="https://cdn.example.com/assets/"))
    job = {
        "id": "own-bucket",
        "input": delivery_job(design_id="own", products=[]),
        "s3Config": {
            "bucketName": "override",
            "endpointUrl": s3_server.endpoint,
            "accessId": S3_ACCESS_KEY,
            "accessSecret": S3_SECRET_KEY,
        },
    }
    result = cdn.run(job, lambda _: None)
    design = result["designs"][0]
    assert not design["url"].startswith("https://cdn.example.com")
    assert requests.get(design["url"], timeout=10).content[:8] == b"\x89PNG\r\n\x1a\n"


def test_presigned_urls_work_for_their_lifetime_and_then_expire(worker, s3_server):
    """Two lifetimes, so that neither check hangs on how fast a loaded machine runs the job: a 60 s URL
    answers at once, and a 1 s URL is refused once 2.5 s have passed since the job returned (it was
    signed before that)."""
    lasting = configured(worker, **s3_settings(s3_server, s3_url_expires_s=60))
    result, _ = run_job(lasting, delivery_job(design_id="lasting", products=[]))
    assert "X-Amz-Expires=60&" in result["designs"][0]["url"]
    assert requests.get(result["designs"][0]["url"], timeout=10).status_code == 200

    short = configured(worker, **s3_settings(s3_server, s3_url_expires_s=1))
    result, _ = run_job(short, delivery_job(design_id="expiring", products=[]))
    time.sleep(2.5)
    assert "X-Amz-Expires=1&" in result["designs"][0]["url"]
    assert requests.get(result["designs"][0]["url"], timeout=10).status_code == 403


def test_a_jobs_s3config_overrides_the_bucket(s3_worker, s3_server):
    job = {
        "id": "override-job",
        "input": delivery_job(design_id="elsewhere", products=[]),
        "s3Config": {
            "bucketName": "override",
            "endpointUrl": s3_server.endpoint,
            "accessId": S3_ACCESS_KEY,
            "accessSecret": S3_SECRET_KEY,
        },
    }
    result = s3_worker.run(job, lambda _: None)
    assert "error" not in result, result
    assert s3_server.keys("override", "shop/elsewhere/") == [result["designs"][0]["key"]]
    assert re.fullmatch(r"shop/elsewhere/design-0-\w{12}\.png", result["designs"][0]["key"])
    assert s3_server.keys("designs", "shop/elsewhere/") == []


def test_uploads_that_land_after_the_deadline_are_removed_so_the_bucket_matches_the_result(worker, s3_server):
    """A slow S3 peer (each connection held 3 s) and a 1 s deadline: the stage ends in time as ``timeout``
    (uploads still queued are cancelled), and whatever lands after it is removed, so the bucket holds exactly
    what ``partial_output`` lists."""
    proxy = DelayingProxy(int(s3_server.endpoint.rsplit(":", 1)[1]), delay_s=3)
    slow = configured(worker, **s3_settings(s3_server, s3_endpoint_url=f"http://127.0.0.1:{proxy.port}"))
    storage = S3Storage(S3Target.from_settings(slow.settings), slow.settings)
    outputs = [
        ImageOutput("design", f"late-arrivals/design-{i}", np.full((8, 8, 3), i, np.uint8), "png", {}, {})
        for i in range(12)  # more than the upload threads: some are still queued at the deadline, and cancelled
    ]
    try:
        with pytest.raises(WorkerError) as failure:
            store_outputs(outputs, storage, Deadline(1.0))
        assert failure.value.code == ErrorCode.TIMEOUT
        give_up = time.monotonic() + 60
        while any(t.name.startswith("store") for t in threading.enumerate()) and time.monotonic() < give_up:
            time.sleep(0.1)  # the uploads still in flight land, and are removed
    finally:
        proxy.stop()
    reported = [entry["key"] for entry in failure.value.partial_output["designs"]]
    assert s3_server.keys("designs", "late-arrivals/") == sorted(reported)


def test_a_jobs_s3_endpoint_is_dialled_at_the_address_it_was_checked_at(worker, s3_server, monkeypatch):
    """DNS rebinding: the endpoint's name is resolved once, at validation; the uploads go to that address with
    the name in their Host header (and signature), and the presigned URLs name the endpoint, not the address."""
    lookups = []
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "s3.rebind.test":
            lookups.append(host)
            return real("127.0.0.1" if len(lookups) == 1 else "10.9.9.9", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    endpoint = f"http://s3.rebind.test:{s3_server.endpoint.rsplit(':', 1)[1]}"
    job = {
        "id": "rebind",
        "input": delivery_job(design_id="rebind", products=["mug"]),
        "s3Config": {"bucketName": "override", "endpointUrl": endpoint, "accessId": S3_ACCESS_KEY},
    }
    job["s3Config"]["accessSecret"] = S3_SECRET_KEY
    result = configured(worker, s3_max_attempts=1).run(job, lambda _: None)
    assert "error" not in result, result
    assert lookups == ["s3.rebind.test"]
    stored = [result["designs"][0]["key"], result["mockups"][0]["key"]]
    assert s3_server.keys("override", "rebind/") == sorted(stored)
    assert result["designs"][0]["url"].startswith(f"{endpoint}/override/rebind/")
    # Over TLS the certificate is checked against the name: what urllib3 is told for the pinned address.
    secure = job["s3Config"] | {"endpointUrl": "https://s3.rebind.test"}
    lookups.clear()
    client = S3Storage(S3Target.from_job(secure, None, worker.settings), worker.settings).client
    assert client.meta.endpoint_url == "https://127.0.0.1:443"
    pools = client._endpoint.http_session._manager.connection_pool_kw
    assert pools["server_hostname"] == pools["assert_hostname"] == "s3.rebind.test"


S3_PEER_REPLIES = {
    "redirect-loop": b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:9/x\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n",
    "long-error-code": b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nConnection: close\r\n\r\n"
    b"<Error><Code>AccessDenied; all images at https://evil.example/ " + b"Z" * 5000 + b"</Code></Error>",
}


@pytest.mark.parametrize("endpoint", ["https://[abc", "http://[::1", "https://a]b/"])
def test_a_malformed_s3_endpoint_is_invalid_input(worker, endpoint):
    job = {"id": "bad-endpoint", "input": delivery_job(products=[]), "s3Config": {"bucketName": "bucket"}}
    job["s3Config"] |= {"endpointUrl": endpoint, "accessId": "AKIDJOB1", "accessSecret": "job-secret-" + "j" * 20}
    result = worker.run(job, lambda _: None)
    assert result["error_code"] == "invalid_input", result


@pytest.mark.parametrize("reply", sorted(S3_PEER_REPLIES))
def test_a_hostile_s3_peer_is_storage_unavailable_in_a_few_words(worker, reply):
    """A job's endpoint that loops botocore's redirects (once ``internal``), or answers with an error code of
    its own making (once echoed whole into the result and the webhook): ``storage_unavailable``, briefly."""
    peer = FixedReplyServer(S3_PEER_REPLIES[reply])
    job = {
        "id": "hostile-s3",
        "input": delivery_job(design_id="hostile", products=[]),
        "s3Config": {"bucketName": "bkt", "endpointUrl": f"http://127.0.0.1:{peer.port}", "accessId": "AKIDJOB1"},
    }
    job["s3Config"]["accessSecret"] = "job-secret-" + "j" * 20
    try:
        result = configured(worker, s3_max_attempts=1).run(job, lambda _: None)
    finally:
        peer.stop()
    assert result["error_code"] == "storage_unavailable", result
    assert len(result["error"]) < 200 and "evil" not in result["error"]


def test_unreachable_s3_is_storage_unavailable_and_a_failed_webhook(worker, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    broken = configured(
        worker,
        s3_bucket="designs",
        s3_endpoint_url="http://127.0.0.1:9",
        s3_path_style=True,
        s3_max_attempts=1,
        bucket_access_key_id=S3_ACCESS_KEY,
        bucket_secret_access_key=S3_SECRET_KEY,
        webhook_url=httpserver.url_for("/hook"),
        webhook_secret=SECRET,
    )
    result, _ = run_job(broken, delivery_job())
    assert result["error_code"] == "storage_unavailable"
    assert result["webhook"]["delivered"] is True
    [(_, event)] = webhook_events(httpserver)
    assert event["type"] == "design.failed"
    assert event["data"] == {
        "design_id": "delivery",
        "job_id": "test-job",
        "error": result["error"],
        "error_code": "storage_unavailable",
    }


def test_wrong_credentials_fail_cleanly_without_leaking_them(worker, s3_server, caplog):
    wrong_secret = "this-secret-is-wrong-and-private"
    broken = configured(worker, **s3_settings(s3_server, bucket_secret_access_key=wrong_secret))
    with caplog.at_level(logging.DEBUG):
        result, _ = run_job(broken, delivery_job())
    assert result["error_code"] == "storage_unavailable"
    assert "SignatureDoesNotMatch" in result["error"]
    text = json.dumps(result) + caplog.text
    assert wrong_secret not in text
    assert S3_SECRET_KEY not in text


@pytest.mark.parametrize(
    "overrides",
    [
        {"s3Config": {"bucketName": "designs", "accessId": "AKIDLEAKED0000", "accessSecret": "leaked-" + "s" * 30}},
        {"image": "https://cdn.example/pet.png?X-Amz-Signature=leaked" + "s" * 30 + "&x=" + "y" * 400},
        {"webhook_url": "ftp://hooks.example/leaked-token-" + "t" * 30},
        {"steps": "a" * 100},  # not a secret: quoted, but shortened
        {"k" * 100: 1},  # an unknown field: its name is quoted, shortened
        {"colors": {"mug" + "c" * 100: 5}},
    ],
    ids=["s3Config-inside-input", "long-image-url", "webhook-url", "long-text", "long-field-name", "long-colors-key"],
)
def test_a_validation_error_quotes_no_secret_and_at_most_40_characters(worker, httpserver, overrides):
    """Not in the result, not in the design.failed webhook: secret fields are named, never quoted."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hooked = configured(worker, webhook_url=httpserver.url_for("/hook"), webhook_secret=SECRET)
    result, _ = run_job(hooked, delivery_job() | overrides)
    assert result["error_code"] in ("invalid_input", "input_fetch_failed")  # the image URL is fetched: it is valid
    [(_, event)] = webhook_events(httpserver)
    for text in (json.dumps(result), json.dumps(event)):
        assert "leaked" not in text and "AKIDLEAKED" not in text
    for quoted in re.findall(r"\(got (.*?)\)(?:;|$)", result["error"]):
        assert len(quoted) <= 40
    assert not re.search(r"([akc])\1{40}", json.dumps(result))  # no caller's text longer than 40 characters


def test_print_files_presigned_urls_stay_out_of_the_webhook(s3_worker, httpserver):
    """Every stored image's presigned URL belongs in the job's own result only: designs, mockups, print files."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hooked = configured(s3_worker, webhook_url=httpserver.url_for("/hook"), webhook_secret=SECRET)
    result, _ = run_job(hooked, delivery_job(design_id="printed", products=["mug"], print_files=True))
    assert "X-Amz-Signature" in result["print_files"][0]["url"]
    [(_, event)] = webhook_events(httpserver)
    body = json.dumps(event)
    assert "X-Amz-Signature" not in body and "X-Amz-Credential" not in body
    assert event["data"]["print_files"][0]["key"] == result["print_files"][0]["key"]


# --- webhooks -----------------------------------------------------------------------------------------


def test_completed_webhook_is_signed_small_and_matches_the_result(worker, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hooked = configured(worker, webhook_url=httpserver.url_for("/hook"), webhook_secret=SECRET)
    result, _ = run_job(hooked, delivery_job())
    assert result["webhook"] == {"delivered": True, "attempts": 1, "last_status": 200}
    [(headers, event)] = webhook_events(httpserver)
    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert event["type"] == "design.completed"
    assert event["data"]["design_id"] == "delivery" and event["data"]["job_id"] == "test-job"
    assert event["data"]["designs"] == result["designs"] and event["data"]["mockups"] == result["mockups"]
    assert "prompt" not in json.dumps(event)  # the input is not echoed back


def test_retries_until_delivered_with_one_webhook_id(worker, httpserver):
    for status in (500, 500, 200):
        httpserver.expect_ordered_request("/hook", method="POST").respond_with_data("", status=status)
    hooked = configured(worker, webhook_url=httpserver.url_for("/hook"), webhook_secret=SECRET)
    result, _ = run_job(hooked, delivery_job(products=[]))
    assert result["webhook"] == {"delivered": True, "attempts": 3, "last_status": 200}
    ids = {headers["webhook-id"] for headers, _ in webhook_events(httpserver)}
    assert len(httpserver.log) == 3 and len(ids) == 1


def test_429_waits_for_retry_after(worker, httpserver):
    httpserver.expect_ordered_request("/hook").respond_with_response(
        Response("", status=429, headers={"Retry-After": "2"})
    )
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    hooked = configured(worker, webhook_url=httpserver.url_for("/hook"), webhook_secret=SECRET)
    result, _ = run_job(hooked, delivery_job(products=[]))
    assert result["webhook"]["delivered"] is True
    first, second = (int(headers["webhook-timestamp"]) for headers, _ in webhook_events(httpserver))
    assert second - first >= 1  # waited (2 s asked; timestamps are whole seconds)


@pytest.mark.parametrize("status", [400, 410])
def test_client_errors_are_not_retried(worker, httpserver, status):
    httpserver.expect_request("/hook").respond_with_data("", status=status)
    hooked = configured(worker, webhook_url=httpserver.url_for("/hook"), webhook_secret=SECRET)
    result, _ = run_job(hooked, delivery_job(products=[]))
    assert "error" not in result
    assert result["webhook"]["delivered"] is False
    assert (result["webhook"]["attempts"], result["webhook"]["last_status"]) == (1, status)
    assert len(httpserver.log) == 1


def test_dead_receiver_leaves_the_job_completed(worker):
    hooked = configured(
        worker, webhook_url=DEAD_URL, webhook_secret=SECRET, webhook_max_attempts=3, webhook_max_seconds=10
    )
    result, _ = run_job(hooked, delivery_job(products=[]))
    assert "error" not in result
    assert result["designs"]
    assert result["webhook"]["delivered"] is False
    assert result["webhook"]["attempts"] == 3
    assert result["webhook"]["last_status"] is None


def test_tampered_body_fails_verification(worker, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hooked = configured(worker, webhook_url=httpserver.url_for("/hook"), webhook_secret=SECRET)
    run_job(hooked, delivery_job(products=[]))
    request, _ = httpserver.log[0]
    headers = dict(request.headers)
    body = request.get_data()
    assert verify(body, headers, SECRET)["type"] == "design.completed"
    with pytest.raises(WebhookVerificationError):
        verify(body.replace(b"delivery", b"tampered"), headers, SECRET)
    with pytest.raises(WebhookVerificationError):
        verify(body, headers, "whsec_" + base64.b64encode(b"another secret entirely!!").decode())


def test_a_jobs_webhook_url_must_use_an_allowed_host(worker, httpserver):
    hooked = configured(worker, webhook_secret=SECRET, webhook_allowed_hosts="hooks.example.com")
    result, _ = run_job(hooked, delivery_job(webhook_url=httpserver.url_for("/hook")))
    assert result["error_code"] == "invalid_input"
    assert "WEBHOOK_ALLOWED_HOSTS" in result["error"]
    assert len(httpserver.log) == 0


def test_a_jobs_own_webhook_url_wins(worker, httpserver):
    httpserver.expect_request("/job-hook").respond_with_data("ok")
    hooked = configured(worker, webhook_url=DEAD_URL, webhook_secret=SECRET, webhook_allowed_hosts="127.0.0.1")
    result, _ = run_job(hooked, delivery_job(products=[], webhook_url=httpserver.url_for("/job-hook")))
    assert result["webhook"]["delivered"] is True


def test_no_secret_no_webhook(worker, httpserver):
    unsigned = configured(worker, webhook_url=httpserver.url_for("/hook"), webhook_secret=None)
    result, _ = run_job(unsigned, delivery_job(products=[]))
    assert result["webhook"] == {
        "delivered": False,
        "attempts": 0,
        "last_status": None,
        "reason": "WEBHOOK_SECRET is not set",
    }
    assert len(httpserver.log) == 0


def test_progress_webhooks_share_the_stage_list_and_are_throttled(worker, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hooked = configured(worker, webhook_url=httpserver.url_for("/hook"), webhook_secret=SECRET, webhook_progress=True)
    started = time.monotonic()
    result, runpod_updates = run_job(hooked, delivery_job(products=["mug"], steps=4))
    elapsed = time.monotonic() - started
    events = [event for _, event in webhook_events(httpserver)]
    progress = [event["data"] for event in events if event["type"] == "design.progress"]
    assert events[-1]["type"] == "design.completed"
    assert progress and progress[0]["stage"] == "load_input"  # the target is known once the input is valid
    assert all(update["stage"] in STAGES for update in progress)
    assert {update["stage"] for update in runpod_updates} <= set(STAGES)
    assert len(progress) <= elapsed + 1  # at most one a second
    assert all(update["design_id"] == "delivery" and update["job_id"] == "test-job" for update in progress)
    assert result["webhook"]["delivered"] is True


# --- S3 providers as documented ----------------------------------------------------------------------------


def test_uploads_send_no_checksum_headers_a_store_would_refuse(worker, s3_server):
    """botocore adds CRC checksum headers to every upload by default; GCS's S3 API refuses them."""
    import boto3

    from devkit.s3 import ChecksumRejectingProxy

    proxy = ChecksumRejectingProxy(s3_server.endpoint)
    try:
        default_client = boto3.client(
            "s3",
            endpoint_url=proxy.endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
        )
        with pytest.raises(Exception, match="InvalidArgument"):  # the proxy does refuse botocore's defaults
            default_client.put_object(Bucket="designs", Key="probe", Body=b"x")
        refused_before = proxy.refused
        strict = configured(worker, **s3_settings(s3_server, s3_endpoint_url=proxy.endpoint))
        result, _ = run_job(strict, delivery_job(design_id="gcs-like"))
    finally:
        proxy.stop()
    assert "error" not in result, result
    assert proxy.refused == refused_before
    assert len(s3_server.keys("designs", "gcs-like/")) == 3


def test_the_bucket_can_ride_in_the_endpoint_url(worker, s3_server):
    """RunPod's documentation puts the bucket in BUCKET_ENDPOINT_URL (``https://host/my-bucket``)."""
    in_url = configured(
        worker,
        **{
            **s3_settings(s3_server),
            "s3_bucket": None,
            "s3_path_style": False,
            "s3_endpoint_url": f"{s3_server.endpoint}/designs",
        },
    )
    assert in_url.delivery.s3_target is not None and in_url.delivery.s3_target.bucket == "designs"
    result, _ = run_job(in_url, delivery_job(design_id="bucket-in-url", products=[]))
    assert "error" not in result, result
    assert s3_server.keys("designs", "bucket-in-url/") == [result["designs"][0]["key"]]
    assert requests.get(result["designs"][0]["url"], timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("url", "found"),
    [
        ("https://my-bucket.nyc3.digitaloceanspaces.com", ("my-bucket", "https://nyc3.digitaloceanspaces.com", False)),
        ("https://nyc3.digitaloceanspaces.com", None),
        ("https://minio.example.com:9000/my-bucket/", ("my-bucket", "https://minio.example.com:9000", True)),
        ("https://bkt.acct.r2.cloudflarestorage.com", ("bkt", "https://acct.r2.cloudflarestorage.com", False)),
        ("https://acct.r2.cloudflarestorage.com", None),
        ("https://bkt.s3.us-east-1.amazonaws.com", ("bkt", "https://s3.us-east-1.amazonaws.com", False)),
        ("https://s3.us-east-1.amazonaws.com", None),
        ("https://minio.example.com", None),  # a bare host names no bucket: it could be either
    ],
)
def test_which_endpoint_urls_carry_a_bucket(url, found):
    from worker.delivery.storage import bucket_in_endpoint

    assert bucket_in_endpoint(url) == found


def test_on_runpod_without_a_bucket_the_worker_is_unfit(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", "endpoint-under-test")
    unfit = DesignWorker.cold_start(Settings(model_id=str(tiny_model), output_dir=tmp_path))
    with pytest.raises(RuntimeError, match="no bucket is configured"):
        unfit.fitness_check()


# --- logs -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    ['quote"in-it-0123', "back\\slash-0123", "new\nline-0123456", "non-ascii-é-0123", "sh0rt", "Ab1"],
)
def test_a_secret_is_redacted_however_json_spells_it_and_however_short(secret, monkeypatch):
    """The log line is JSON: a quote, backslash, newline or non-ASCII character is escaped there, so the
    secret is redacted before escaping; a short one is redacted where it stands alone."""
    monkeypatch.setattr(logs, "_secrets", set())
    logs.redact_secret(secret)
    record = logging.LogRecord("worker.test", logging.INFO, __file__, 1, "key=%s; done", (secret,), None)
    line = logs.JsonFormatter().format(record)
    assert secret not in line and json.dumps(secret)[1:-1] not in line
    assert json.loads(line)["message"] == f"key={logs.REDACTED}; done"
    if len(secret) < logs.SHORT_SECRET:  # not inside a longer word
        record = logging.LogRecord("worker.test", logging.INFO, __file__, 1, "x%sx", (secret,), None)
        assert json.loads(logs.JsonFormatter().format(record))["message"] == f"x{secret}x"
