"""A real S3 endpoint on loopback for the tests: moto's server in a thread.

``moto[server]`` comes with the test extra.  Tests that need it skip with
:data:`MOTO_MISSING` when moto cannot be imported, and only then.
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    import boto3
    from moto.server import ThreadedMotoServer
except ImportError:  # pragma: no cover - the test extra brings moto[server]
    MOTO = False
else:
    MOTO = True

MOTO_MISSING = "moto[server] is not installed (pip install 'moto[server]'): no S3 endpoint to test"
REGION = "us-east-1"
# Fake credentials, set in the environment only while a test runs; the AWS chain finds
# them there, as it would a deployment's.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 on 127.0.0.1 at a free port; yields its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@functools.cache
def admin_client(endpoint: str) -> Any:
    """A plain boto3 client for setting buckets up and looking inside them."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def new_bucket(endpoint: str, *, versioned: bool = False) -> str:
    """A fresh, empty bucket (a new name each time: moto's buckets outlive a test)."""
    name = f"media-{uuid.uuid4().hex[:16]}"
    client = admin_client(endpoint)
    client.create_bucket(Bucket=name)
    if versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def keys(endpoint: str, bucket: str) -> list[str]:
    """Every key in the bucket, in S3's order."""
    found = admin_client(endpoint).list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in found.get("Contents", [])]


def uploads_in_progress(endpoint: str, bucket: str) -> list[str]:
    found = admin_client(endpoint).list_multipart_uploads(Bucket=bucket)
    return [item["Key"] for item in found.get("Uploads", [])]
