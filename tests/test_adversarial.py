"""The adversarial suite: hostile jobs, blocked URLs, injected GPU faults, memory over many jobs, secrets."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.conftest import ROOT, ApiServer, configured, run_job, s3_settings, small_job, worker_env
from tests.hostile import (
    AMBIGUOUS_URLS,
    BAD_IMAGES,
    BLOCKED_URLS,
    as_data_uri,
    blank_png,
    encode,
    jpeg_scan_cut_short,
    mpo,
    png_chunk,
    png_header_only,
    valid_png,
)
from tests.test_contract import INVALID
from worker.errors import WorkerError
from worker.outbound.inputs import decode_base64, decode_image
from worker.runtime.config import Settings
from worker.runtime.faults import FaultPlan
from worker.schema import JobInput, parse_job_input

EXTRA_BAD_FIELDS = [
    ("design_id", {"design_id": "../../etc/passwd"}),
    ("design_id", {"design_id": ".."}),
    ("design_id", {"design_id": "a\\b"}),
    ("design_id", {"design_id": "a\x00b"}),
    ("design_id", {"design_id": "%2e%2e"}),
    ("design_id", {"design_id": "\uff44\uff45\uff53\uff49\uff47\uff4e"}),  # fullwidth "design"
    ("num_designs", {"num_designs": 4, "width": 2048, "height": 2048}),
    ("webhook_url", {"webhook_url": "https://127.0.0.1/hook"}),
    ("image", {"image": ""}),
    ("prompt", {"prompt": None}),
]


def hostile_jobs() -> list[tuple[str, dict, str]]:
    jobs = [
        (f"field-{field}-{i}", small_job(**bad), "invalid_input")
        for i, (field, bad) in enumerate(INVALID + EXTRA_BAD_FIELDS)
    ]
    for missing in ("design_id", "style"):
        job = small_job()
        del job[missing]
        jobs.append((f"missing-{missing}", job, "invalid_input"))
    jobs += [(f"image-{name}", small_job(image=value), "invalid_input") for name, value in BAD_IMAGES.items()]
    jobs += [(f"url-{name}", small_job(image=url), "invalid_input") for name, url in BLOCKED_URLS.items()]
    jobs.append(("image-too-many-bytes", small_job(image=as_data_uri(os.urandom(300_000))), "invalid_input"))
    # round two
    jobs += [(f"url-{name}", small_job(image=url), "invalid_input") for name, url in AMBIGUOUS_URLS.items()]
    jobs.append(
        (
            "image-jpeg-scan-cut-short",
            small_job(image=as_data_uri(jpeg_scan_cut_short(), "image/jpeg")),
            "invalid_input",
        )
    )
    jobs.append(("style-50k-characters", small_job(style="s" * 50_000), "invalid_input"))
    jobs.append(
        ("print-size-over-budget", small_job(num_designs=4, width=1024, height=1024, print_size=4096), "invalid_input")
    )
    jobs.append(("webhook-backslash", small_job(webhook_url="https://evil\\@hooks.example.com/"), "invalid_input"))
    # round three: within the pixel count, out of the side and aspect bounds; a JPEG check skipped for MPO
    jobs.append(("image-side-over-16384", small_job(image=as_data_uri(blank_png(16385, 2000))), "invalid_input"))
    jobs.append(("image-aspect-over-10", small_job(image=as_data_uri(blank_png(101, 1011))), "invalid_input"))
    cut_mpo = as_data_uri(mpo(jpeg_scan_cut_short(), valid_jpeg()), "image/jpeg")
    jobs.append(("image-mpo-first-picture-cut-short", small_job(image=cut_mpo), "invalid_input"))
    return jobs


def valid_jpeg() -> bytes:
    return encode(Image.new("RGB", (64, 48), (30, 90, 200)), "JPEG")


HOSTILE = hostile_jobs()


@pytest.fixture(scope="module")
def strict_server(tiny_model, tmp_path_factory):
    """The API server as production runs it: no http, no private addresses; small input caps for the test."""
    folder = tmp_path_factory.mktemp("strict")
    env = worker_env(tiny_model, folder / "outputs", MAX_INPUT_BYTES="200000", MAX_INPUT_PIXELS="1000000")
    server = ApiServer(env, folder / "server.log")
    yield server
    server.stop()


def test_at_least_forty_distinct_hostile_jobs():
    assert len(HOSTILE) >= 40
    assert len({json.dumps(job, sort_keys=True) for _, job, _ in HOSTILE}) == len(HOSTILE)


def test_hostile_jobs_through_the_api_server_then_a_valid_one(strict_server):
    outcomes = {}
    for name, job, _ in HOSTILE:
        reply = strict_server.runsync(job)
        outcomes[name] = reply["error"].split(":", 1)[0] if reply["status"] == "FAILED" else reply["status"]
        assert "Traceback" not in reply.get("error", "")
    assert outcomes == {name: expected for name, _, expected in HOSTILE}
    ok = strict_server.runsync(small_job(design_id="after-the-storm"))
    assert ok["status"] == "COMPLETED", ok
    assert strict_server.process.poll() is None  # still serving


# --- the schema, as a property ------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
FIELDS = sorted(JobInput.model_fields)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), JSON, max_size=8)))
def test_any_json_is_valid_or_invalid_input(raw):
    try:
        parse_job_input(raw, ["metal", "pop_art", "watercolor"], {"tshirt": ["white", "black"], "mug": []}, 8_000_000)
    except WorkerError as err:
        assert err.code.value == "invalid_input"
        assert err.details


# --- images -------------------------------------------------------------------------------------------


def pixel(image: Image.Image) -> tuple:
    return image.getpixel((0, 0))


def test_modes_are_converted_correctly():
    sixteen_bit = Image.fromarray(np.full((8, 8), 40000, dtype="uint16"))
    assert pixel(decode_image(encode(sixteen_bit, "PNG"), 10**6)) == (156, 156, 156)  # 40000/65535 scaled, not clipped
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 200, 30, 60] + [0] * 762)
    assert pixel(decode_image(encode(palette, "PNG"), 10**6)) == (200, 30, 60)
    transparent = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert pixel(decode_image(encode(transparent, "PNG"), 10**6)) == (255, 255, 255)  # flattened on white
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))
    red = pixel(decode_image(encode(cmyk, "JPEG"), 10**6))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


# --- round three: sizes a header gives, MPO, data URIs ---------------------------------------------------


def test_a_one_pixel_wide_png_of_40_million_pixels_is_refused_without_a_memory_spike():
    """156 KB of PNG, 1 x 40,000,000 pixels: within MAX_INPUT_PIXELS, it cost 916 MB to decode."""
    script = (
        "import resource\n"
        "from tests.hostile import blank_png\n"
        "from worker.errors import WorkerError\n"
        "from worker.outbound.inputs import decode_image\n"
        "pictures = [blank_png(1, 40_000_000), blank_png(40_000_000, 1)]\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "for data in pictures:\n"
        "    try:\n"
        "        print(decode_image(data, 40_000_000).size)\n"
        "    except WorkerError as error:\n"
        "        print(error.code.value, error)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    *outcomes, peak_growth_mb = completed.stdout.split("\n")[:-1]
    assert all(line.startswith("invalid_input") and "each side" in line for line in outcomes), outcomes
    assert int(peak_growth_mb) < 50  # refused from the header: nothing decoded


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((16385, 2000), "each side may be at most 16384"),
        ((2000, 16385), "each side may be at most 16384"),
        ((1001, 100), "at most 10 times its short side"),
        ((100, 1001), "at most 10 times its short side"),
        ((30000, 1), "each side may be at most 16384"),
    ],
)
def test_each_side_and_the_aspect_ratio_are_bounded_before_decoding(size, message):
    with pytest.raises(WorkerError) as refused:
        decode_image(png_header_only(*size), 40_000_000)  # nothing behind the header: the size alone refuses it
    assert refused.value.code.value == "invalid_input" and message in str(refused.value)


@pytest.mark.parametrize("size", [(1000, 100), (100, 1000)])
def test_a_ten_to_one_panorama_is_accepted(size):
    assert decode_image(blank_png(*size), 40_000_000).size == size


def test_an_mpo_whose_first_picture_is_cut_short_is_refused_like_a_jpeg(worker):
    cut = mpo(jpeg_scan_cut_short(), valid_jpeg())
    assert Image.open(io.BytesIO(cut)).format == "MPO"
    result, _ = run_job(worker, small_job(image=as_data_uri(cut, "image/jpeg")))
    assert result["error_code"] == "invalid_input" and "truncated or corrupt" in result["error"], result


def test_a_jpeg_with_sampling_factors_the_decoder_has_no_table_for_is_invalid_input(worker):
    """libjpeg's header reader raised KeyError on a luma sampling of 1x4 (0x14): once ``internal``."""
    data = bytearray(encode(Image.new("RGB", (24, 20), (120, 80, 40)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    luma_sampling = sof + 11  # marker, length, precision, height, width, component count, component id
    assert data[luma_sampling] == 0x22
    data[luma_sampling] = 0x14
    result, _ = run_job(worker, small_job(image=as_data_uri(bytes(data), "image/jpeg")))
    assert result["error_code"] == "invalid_input" and "truncated or corrupt" in result["error"], result


def test_a_sound_mpo_is_read_as_its_first_picture():
    first, second = Image.new("RGB", (40, 30), (220, 20, 20)), Image.new("RGB", (40, 30), (20, 20, 220))
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    red = pixel(decode_image(data, 10**6))
    assert red[0] > 200 and red[2] < 60


@pytest.mark.parametrize(
    "prefix",
    [
        "DATA:IMAGE/PNG;BASE64,",
        "data:image/png;name=pet.png;base64,",
        "Data:Image/Jpeg;charset=binary;name=pet.jpg;Base64,",  # the media type names no format: content decides
    ],
)
def test_data_uris_follow_rfc_2397(prefix):
    png = valid_png()
    assert decode_base64(prefix + base64.b64encode(png).decode(), Settings(model_id="unused")) == png


def png_of_a_length_base64_pads() -> bytes:
    """A valid PNG whose length is not a multiple of 3, so that its base64 ends with padding."""
    png = valid_png()
    while len(png) % 3 == 0:
        png = png[:-12] + png_chunk(b"tEXt", b"pad\x00" + b"x" * (len(png) % 7)) + png[-12:]  # before IEND
    return png


@pytest.mark.parametrize(
    "form",
    [
        lambda data: base64.b64encode(data).decode(),
        lambda data: base64.b64encode(data).decode().rstrip("="),
        lambda data: base64.encodebytes(data).decode(),
        lambda data: "data:image/png;base64," + base64.urlsafe_b64encode(data).decode(),
    ],
    ids=["padded", "unpadded", "line-breaks", "url-safe-data-uri"],
)
def test_max_input_bytes_counts_the_decoded_image_padded_or_not(form):
    png = png_of_a_length_base64_pads()
    assert len(png) % 3  # the padded forms end with padding
    exact, one_less = (
        Settings(model_id="unused", max_input_bytes=len(png)),
        Settings(model_id="unused", max_input_bytes=len(png) - 1),
    )
    assert decode_base64(form(png), exact) == png
    with pytest.raises(WorkerError, match=f"larger than {len(png) - 1} bytes"):
        decode_base64(form(png), one_less)


def test_an_oversized_base64_image_is_refused_before_it_is_decoded(monkeypatch):
    def never(*_args, **_kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(base64, "b64decode", never)
    with pytest.raises(WorkerError, match="larger than 300 bytes"):
        decode_base64(
            "data:image/png;base64," + base64.b64encode(os.urandom(301)).decode(),
            Settings(model_id="x", max_input_bytes=300),
        )


def test_a_padded_image_of_exactly_max_input_bytes_runs(worker):
    png = png_of_a_length_base64_pads()
    result, _ = run_job(configured(worker, max_input_bytes=len(png)), small_job(image=as_data_uri(png)))
    assert as_data_uri(png).endswith("=") and "error" not in result, result


def test_exif_orientation_is_applied():
    wide = Image.new("RGB", (40, 20), "green")
    exif = wide.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    assert decode_image(encode(wide, "JPEG", exif=exif), 10**6).size == (20, 40)


# --- URLs against a real server -----------------------------------------------------------------------


@pytest.fixture
def pet_server(httpserver):
    httpserver.expect_request("/pet.png").respond_with_data(
        encode(Image.new("RGB", (64, 64), "orange"), "PNG"), content_type="image/png"
    )
    return httpserver


def test_a_blocked_url_is_never_requested(worker, pet_server):
    strict = configured(worker, allow_private_urls=False)
    result, _ = run_job(strict, small_job(image=pet_server.url_for("/pet.png")))
    assert result["error_code"] == "invalid_input"
    assert "private, loopback" in result["error"]
    assert len(pet_server.log) == 0


def test_an_allowed_url_is_requested(worker, pet_server):
    result, _ = run_job(worker, small_job(image=pet_server.url_for("/pet.png")))
    assert "error" not in result, result
    assert len(pet_server.log) == 1


def test_the_checked_address_is_dialled_with_the_original_host(worker, pet_server):
    url = pet_server.url_for("/pet.png").replace("127.0.0.1", "localhost")
    result, _ = run_job(worker, small_job(image=url))
    assert "error" not in result, result
    request, _ = pet_server.log[0]
    assert request.headers["Host"] == f"localhost:{pet_server.port}"


def test_every_redirect_is_checked_again(worker, httpserver):
    httpserver.expect_request("/hop").respond_with_data(
        "", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    result, _ = run_job(worker, small_job(image=httpserver.url_for("/hop")))
    assert result["error_code"] == "invalid_input"
    assert "metadata" in result["error"]
    assert len(httpserver.log) == 1


def test_redirects_are_bounded(worker, httpserver):
    httpserver.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})
    result, _ = run_job(worker, small_job(image=httpserver.url_for("/loop")))
    assert result["error_code"] == "invalid_input"
    assert "redirected more than 3 times" in result["error"]
    assert len(httpserver.log) == 4


def test_a_good_redirect_is_followed(worker, pet_server):
    pet_server.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/pet.png"})
    result, _ = run_job(worker, small_job(image=pet_server.url_for("/old")))
    assert "error" not in result, result


def test_a_large_body_is_refused_while_streaming(worker, httpserver):
    def stream(_request):
        from werkzeug import Response

        return Response((b"x" * 65536 for _ in range(64)), content_type="image/png")  # 4 MB, no Content-Length

    httpserver.expect_request("/big").respond_with_handler(stream)
    small_cap = configured(worker, max_input_bytes=500_000)
    result, _ = run_job(small_cap, small_job(image=httpserver.url_for("/big")))
    assert result["error_code"] == "invalid_input"
    assert "larger than 500000 bytes" in result["error"]


def test_an_error_status_is_input_fetch_failed(worker, httpserver):
    httpserver.expect_request("/gone").respond_with_data("", status=404)
    result, _ = run_job(worker, small_job(image=httpserver.url_for("/gone")))
    assert result["error_code"] == "input_fetch_failed"


# --- GPU faults, time budget --------------------------------------------------------------------------


def test_injected_faults_give_their_codes_and_the_next_job_succeeds(worker, output_dir):
    faulty = dataclasses.replace(worker, faults=FaultPlan("oom,nan,black,cuda_error"))
    codes = []
    for index in range(4):
        result, _ = run_job(faulty, small_job(design_id=f"fault-{index}"))
        codes.append((result["error_code"], result.get("refresh_worker", False)))
        assert not (output_dir / f"fault-{index}").exists()  # nothing spoiled was stored
    assert codes == [("out_of_memory", False), ("model_error", False), ("model_error", False), ("gpu_error", True)]
    result, _ = run_job(faulty, small_job(design_id="fault-free"))
    assert "error" not in result, result


def test_the_api_server_reports_injected_faults_then_recovers(tiny_model, tmp_path):
    server = ApiServer(worker_env(tiny_model, tmp_path / "out", FAULT_INJECTION="oom,nan"), tmp_path / "faults.log")
    try:
        replies = [server.runsync(small_job(design_id=f"f{i}")) for i in range(3)]
    finally:
        server.stop()
    assert [r["error"].split(":")[0] for r in replies[:2]] == ["out_of_memory", "model_error"]
    assert replies[2]["status"] == "COMPLETED"


def test_a_job_over_its_time_budget_ends_with_timeout(worker):
    hurried = configured(worker, job_timeout_s=0.3)
    result, _ = run_job(hurried, small_job(design_id="slow", steps=50, width=512, height=512))
    assert result["error_code"] == "timeout"
    result, _ = run_job(worker, small_job(design_id="unhurried"))
    assert "error" not in result


# --- memory over many jobs ----------------------------------------------------------------------------


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def robust_slope(values: list[float]) -> float:
    """Theil-Sen: the median of the slopes between every pair of samples, indifferent to a few jumps."""
    samples = np.asarray(values)
    i, j = np.triu_indices(len(samples), k=1)
    return float(np.median((samples[j] - samples[i]) / (j - i)))


def test_many_jobs_keep_memory_flat(worker):
    """RSS after every job, once the allocator has settled; the trend (not two noisy end points) must be flat.

    A leak of a 256x256 design per job (0.8 MB of float32 RGBA) would show as a slope of about 0.8 MB a job.
    """
    job = small_job(design_id="soak", products=["mug"], mockup_format="jpeg")
    for _ in range(10):  # allocator and caches settle
        run_job(worker, job)
    samples = []
    for index in range(60):
        result, _ = run_job(worker, {**job, "seed": index})
        assert "error" not in result
        samples.append(rss_mb())
    slope = robust_slope(samples)
    print(f"RSS over 60 jobs: {samples[0]:.0f} -> {samples[-1]:.0f} MB, trend {slope * 1000:.0f} kB a job")
    assert slope < 0.2  # MB a job: under a quarter of the smallest leak that matters


# --- secrets ------------------------------------------------------------------------------------------


def test_no_secret_reaches_logs_outputs_or_webhooks(tiny_model, tmp_path, s3_server, httpserver):
    from tests.test_delivery import SECRET, webhook_events

    httpserver.expect_request("/hook").respond_with_data("ok")
    hf_token = "hf_" + "Q" * 34
    s3 = s3_settings(s3_server)
    env = worker_env(
        tiny_model,
        tmp_path / "out",
        HF_TOKEN=hf_token,
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_URL=httpserver.url_for("/hook"),
        S3_BUCKET=s3["s3_bucket"],
        S3_ENDPOINT_URL=s3["s3_endpoint_url"],
        S3_PATH_STYLE="1",
        S3_REGION="us-east-1",
        BUCKET_ACCESS_KEY_ID=s3["bucket_access_key_id"],
        BUCKET_SECRET_ACCESS_KEY=s3["bucket_secret_access_key"],
        ALLOW_HTTP_URLS="1",
        ALLOW_PRIVATE_URLS="1",
        LOG_LEVEL="DEBUG",
    )
    server = ApiServer(env, tmp_path / "secrets.log")
    try:
        good = server.runsync(small_job(design_id="secretive", products=["mug"]))
        bad = server.runsync(small_job(design_id="secretive-bad", image=BAD_IMAGES["truncated-png"]))
        log = server.log()
    finally:
        server.stop()
    assert good["status"] == "COMPLETED" and bad["status"] == "FAILED"
    signatures = [
        re.search(r"X-Amz-Signature=([0-9a-f]+)", item["url"]).group(1)
        for item in good["output"]["designs"] + good["output"]["mockups"]
    ]
    bodies = "".join(request.get_data(as_text=True) for request, _ in httpserver.log)
    assert len(webhook_events(httpserver)) == 2
    for secret in [hf_token, SECRET, s3["bucket_access_key_id"], s3["bucket_secret_access_key"], *signatures]:
        assert secret not in log
        assert secret not in bodies
    for secret in [hf_token, SECRET, s3["bucket_secret_access_key"]]:
        assert secret not in json.dumps(good) + json.dumps(bad)
    worker_lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert worker_lines and all({"ts", "level", "logger", "message", "job_id"} <= set(line) for line in worker_lines)
    assert any(line["job_id"] and line["job_id"].startswith("test-") for line in worker_lines)
