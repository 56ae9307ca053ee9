"""The development kit that tests and benchmarks share: synthetic pet photos (``photos``), a real S3 server
on loopback (``s3``) and a webhook receiver (``receiver``). Model builders live in ``models/``."""
