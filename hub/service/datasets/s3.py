"""``s3``: a bucket (and a key prefix in it) of any S3 API: AWS, MinIO, Ceph, moto.

Listing uses the S3 API's own paging: one ``ListObjectsV2`` request per page
(``Delimiter="/"`` so sub-prefixes come back as folders, ``MaxKeys`` = page size,
the cursor is S3's ``NextContinuationToken``), so the first page of a prefix
holding 100 000 keys costs one request. s3fs's ``ls`` would list the whole
prefix first, so listing goes through botocore directly; reading a file for a
sample or a schema goes through s3fs, whose file objects are seekable and fetch
only the byte ranges pyarrow asks for (the head of a CSV, a Parquet footer and
first row group).

The access key and secret are held as ``Redacted`` values and taken out of
every error message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import botocore.session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hub.service.datasets.connector import (
    Entry,
    Health,
    Limits,
    Page,
    Problem,
    Redacted,
    Sample,
    Schema,
    SourceError,
    as_source_error,
)
from hub.service.datasets.formats import sample_file, schema_file
from hub.service.datasets.paths import clean, join

#: S3 error codes in a person's words (the rest go through the message patterns)
_CODES = {
    "InvalidAccessKeyId": Problem.BAD_CREDENTIALS,
    "SignatureDoesNotMatch": Problem.BAD_CREDENTIALS,
    "InvalidToken": Problem.BAD_CREDENTIALS,
    "ExpiredToken": Problem.BAD_CREDENTIALS,
    "AccessDenied": Problem.NO_PERMISSION,
    "AllAccessDisabled": Problem.NO_PERMISSION,
    "NoSuchBucket": Problem.NOT_FOUND,
    "NoSuchKey": Problem.NOT_FOUND,
    "404": Problem.NOT_FOUND,
    "403": Problem.NO_PERMISSION,
}


class S3Connector:
    kind = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = join("", prefix) if prefix else ""
        self.endpoint_url = endpoint_url
        self.region = region or "us-east-1"
        self._key = Redacted(access_key or "")
        self._secret = Redacted(secret_key or "")
        self.limits = limits or Limits()
        self._client: Any = None

    def __repr__(self) -> str:
        return (
            f"S3Connector(bucket={self.bucket!r}, prefix={self.prefix!r}, "
            f"endpoint_url={self.endpoint_url!r})"
        )

    @property
    def _secrets(self) -> tuple[str, ...]:
        return (self._key.value, self._secret.value)

    def _error(self, exc: BaseException) -> SourceError:
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            problem = _CODES.get(code)
            if problem:
                return as_source_error(SourceError(problem, str(exc)), self._secrets)
        return as_source_error(exc, self._secrets)

    def client(self) -> Any:
        if self._client is None:
            session = botocore.session.get_session()
            self._client = session.create_client(
                "s3",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=self._key.value or None,
                aws_secret_access_key=self._secret.value or None,
                config=Config(
                    connect_timeout=self.limits.timeout,
                    read_timeout=self.limits.timeout,
                    retries={"max_attempts": 1},
                    # no credentials: a public bucket, read anonymously (not the machine's
                    # own AWS credentials, which are the platform's, not the tenant's)
                    signature_version="s3v4" if self._key.value else UNSIGNED,
                ),
            )
        return self._client

    def test(self) -> Health:
        try:
            self.client().list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except (BotoCoreError, ClientError, OSError) as exc:
            return self._error(exc).health()
        return Health(True)

    def _folder(self, path: str) -> str:
        key = join(self.prefix, path)
        return f"{key}/" if key else ""

    def list(self, path: str = "", cursor: str | None = None, limit: int | None = None) -> Page:
        base = self._folder(path)
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": base,
            "Delimiter": "/",
            "MaxKeys": self.limits.page(limit),
        }
        if cursor:
            request["ContinuationToken"] = cursor
        try:
            answer = self.client().list_objects_v2(**request)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self._error(exc) from exc
        entries = [
            Entry(p["Prefix"][len(base) :].rstrip("/"), "folder")
            for p in answer.get("CommonPrefixes", [])
        ]
        for obj in answer.get("Contents", []):
            name = obj["Key"][len(base) :]
            if name:  # the folder's own marker object
                modified: datetime | None = obj.get("LastModified")
                entries.append(Entry(name, "file", int(obj.get("Size", 0)), modified))
        entries.sort(key=lambda e: e.name)
        token = answer.get("NextContinuationToken") if answer.get("IsTruncated") else None
        return Page(entries, token)

    def _filesystem(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(
            key=self._key.value or None,
            secret=self._secret.value or None,
            anon=not self._key.value,
            endpoint_url=self.endpoint_url,
            client_kwargs={"region_name": self.region},
            config_kwargs={
                "connect_timeout": self.limits.timeout,
                "read_timeout": self.limits.timeout,
                "retries": {"max_attempts": 1},
            },
            skip_instance_cache=True,
        )

    def _read(self, path: str, reader: Any) -> Any:
        if not clean(path):
            raise SourceError(Problem.NOT_FOUND, "give the path of a file in the bucket")
        key = join(self.prefix, path)
        try:
            head = self.client().head_object(Bucket=self.bucket, Key=key)
            size = int(head["ContentLength"])
            block = min(max(self.limits.sample_bytes, 1 << 16), 8 << 20)
            with self._filesystem().open(f"{self.bucket}/{key}", "rb", block_size=block) as f:
                return reader(f, key, size)
        except SourceError as exc:
            raise as_source_error(exc, self._secrets) from exc
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self._error(exc) from exc

    def sample(self, path: str, n: int = 20) -> Sample:
        return self._read(
            path,
            lambda f, key, size: sample_file(
                f, key, size, self.limits.rows(n), self.limits.sample_bytes
            ),
        )

    def schema(self, path: str) -> Schema:
        return self._read(
            path, lambda f, key, size: schema_file(f, key, size, self.limits.sample_bytes)
        )
