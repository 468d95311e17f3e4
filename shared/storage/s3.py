"""S3-compatible storage (AWS S3, Cloudflare R2, MinIO): browsers fetch presigned GET URLs.

`url()` only signs (no network), so the gateway can call it inside a request. The bucket is
created on the first write if it is missing, idempotently, so a fresh MinIO needs no setup step.
"""

import io
import threading
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.settings import Settings

MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4 refuses longer expiries
_MISSING = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})
_ALREADY_THERE = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
# Regions in which CreateBucket takes no LocationConstraint (R2 uses "auto").
_NO_LOCATION_CONSTRAINT = frozenset({"us-east-1", "auto", ""})


class _BodyReader(io.RawIOBase):
    """botocore's StreamingBody as a real raw stream, so `open()` can return a BufferedReader."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        chunk = self._body.read(len(view))
        view[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3Storage:
    def __init__(self, settings: Settings) -> None:
        endpoint = settings.s3_endpoint_url or None
        self.bucket = settings.s3_bucket
        self.region = settings.s3_region
        self.url_expiry_s = min(settings.s3_url_expiry_s, MAX_PRESIGN_S)
        config = Config(
            signature_version="s3v4",
            # Custom endpoints (MinIO, R2, moto) rarely resolve bucket subdomains.
            s3={"addressing_style": "path" if endpoint else "auto"},
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        secret = settings.s3_secret_access_key.get_secret_value()
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=self.region,
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=secret or None,
            config=config,
        )
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist; safe to race with other processes."""
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _code(exc) not in _MISSING:
                    raise  # 403: it exists but is not ours to inspect; writes will tell
                self._create_bucket()
            self._bucket_ready = True

    def _create_bucket(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region not in _NO_LOCATION_CONSTRAINT:
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            if _code(exc) not in _ALREADY_THERE:
                raise

    def put_file(self, key: str, path: Path, content_type: str, *, move: bool = False) -> None:
        """One PUT (or a multipart upload completed at the end): readers never see half of it.
        `move` changes nothing: the bytes are uploaded either way."""
        self.ensure_bucket()
        self.client.upload_file(
            str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}
        )

    def read_bytes(self, key: str, max_bytes: int) -> bytes:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
            if int(head["ContentLength"]) > max_bytes:
                raise ValueError(f"object {key} is larger than {max_bytes} bytes")
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            _raise_missing(exc, key)
            raise
        with body:
            data: bytes = body.read(max_bytes + 1)  # the object may have changed since the HEAD
        if len(data) > max_bytes:
            raise ValueError(f"object {key} is larger than {max_bytes} bytes")
        return data

    def open(self, key: str) -> BinaryIO:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            _raise_missing(exc, key)
            raise
        return io.BufferedReader(_BodyReader(body))

    def url(self, key: str) -> str:
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=self.url_expiry_s,
        )
        return url

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)  # S3 answers 204 if absent
        except ClientError as exc:
            if _code(exc) not in _MISSING:  # a missing bucket: nothing to delete either
                raise


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _raise_missing(exc: ClientError, key: str) -> None:
    """Missing objects (and buckets) are FileNotFoundError, as the Storage protocol promises."""
    if _code(exc) in _MISSING:
        raise FileNotFoundError(f"no stored object {key}") from exc
