"""The S3 storage driver (any S3-compatible store: AWS, SeaweedFS, MinIO, Ceph), with boto3.

boto3 rather than obstore: an upload here is continued by whichever replica gets the next
chunk, so the driver must resume a multipart upload from its id and part list alone
(``UploadPart`` with an explicit number, ``CompleteMultipartUpload`` with the recorded ETags).
obstore's multipart writer is an in-process handle that cannot be taken over by another
process; its plain GET/PUT throughput, measured in ``bench/registry_scale.py``, is no better on
the object sizes a registry moves.

Uploads: clients send chunks of any size, but S3 wants parts of at least 5 MiB (except the
last). Bytes that do not yet fill a part are kept in a small "tail" object under
``uploads/<id>/``, named uniquely per writer, and the recorded state (JSON) says which tail
and which parts make up the upload so far. The next writer, on any replica, reads the tail
back (less than one part), and flushes full parts as they fill. Completing the upload has the
store copy the tail in as the last part (UploadPartCopy) and assemble the object: the blob's
bytes never pass through the registry again. A small blob (one tail, no parts) is a
server-side copy of its tail.

Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_PROFILE``) unless the config names them.
"""

from __future__ import annotations

import io
import json
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, BinaryIO

from lamina.errors import NotFound, StorageError
from lamina.registry.storage.base import FileInfo, StorageDriver, object_key, upload_key

MIN_PART = 5 << 20  # S3's smallest part but the last
PART_SIZE = 8 << 20  # what this driver flushes


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class _Body(io.RawIOBase):
    """A GET's streaming body as a file: ``read(n)`` and ``close``."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return bytes(self._body.read(None if size is None or size < 0 else size))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class _ObjectWriter:
    """Spools an object, then PUTs it (multipart for large ones) on a clean exit."""

    def __init__(self) -> None:
        self.file = tempfile.SpooledTemporaryFile(max_size=PART_SIZE)  # noqa: SIM115
        self.size = 0

    def write(self, data: bytes | memoryview, /) -> int:
        self.file.write(data)
        self.size += len(data)
        return len(data)


class _UploadWriter:
    """Appends to a multipart upload; buffers less than a part, flushes full parts."""

    def __init__(self, driver: S3Driver, upload_id: str, state: dict[str, Any]) -> None:
        self.driver = driver
        self.upload_id = upload_id
        self.mpu: str | None = state.get("mpu")
        self.parts: list[list[Any]] = [list(p) for p in state.get("parts", [])]
        self.buffer = bytearray()
        self._state: str | None = None

    def write(self, data: bytes | memoryview, /) -> int:
        self.buffer += data
        if len(self.buffer) >= PART_SIZE:
            self.flush_part()
        return len(data)

    def flush_part(self) -> None:
        d = self.driver
        if self.mpu is None:
            self.mpu = d._call(
                d.client.create_multipart_upload,
                Bucket=d.bucket,
                Key=d._k(object_key(self.upload_id)),
            )["UploadId"]
        number = len(self.parts) + 1
        etag = d._call(
            d.client.upload_part,
            Bucket=d.bucket,
            Key=d._k(object_key(self.upload_id)),
            UploadId=self.mpu,
            PartNumber=number,
            Body=bytes(self.buffer),
        )["ETag"]
        self.parts.append([number, etag, len(self.buffer)])
        self.buffer.clear()

    def finish(self) -> None:
        tail = None
        if self.buffer:
            tail = f"{upload_key(self.upload_id)}/tail-{uuid.uuid4().hex}"
            self.driver.put(tail, bytes(self.buffer))
        self._state = json.dumps(
            {"mpu": self.mpu, "parts": self.parts, "tail": tail, "tail_size": len(self.buffer)}
        )

    @property
    def state(self) -> str | None:
        return self._state


class S3Driver(StorageDriver):
    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str | None = None,
        region: str = "us-east-1",
        prefix: str = "",
        path_style: bool = True,
        access_key: str | None = None,
        secret_key: str | None = None,
        connections: int = 64,
    ) -> None:
        import boto3
        import botocore.config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.location = f"s3 bucket {bucket} at {endpoint or 'AWS'}"
        config = botocore.config.Config(
            region_name=region,
            signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "auto"},
            max_pool_connections=connections,
            retries={"max_attempts": 3, "mode": "standard"},
            # The registry checks every blob against its digest; per-request CRCs computed in
            # Python would only halve the upload rate (measured in bench/registry_scale.py).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=5,
            read_timeout=60,
        )
        session = boto3.session.Session()
        self.client = session.client(
            "s3",
            endpoint_url=endpoint or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            config=config,
        )

    def _k(self, path: str) -> str:
        return self.prefix + path.strip("/")

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """One S3 request; a failure of the store becomes StorageError (a 503 to clients)."""
        import botocore.exceptions

        try:
            return method(*args, **kwargs)
        except botocore.exceptions.ClientError as exc:
            code = _code(exc)
            if code in ("NoSuchKey", "404", "NotFound", "NoSuchUpload"):
                raise NotFound(f"storage: {kwargs.get('Key', '')} not found") from None
            raise StorageError(f"storage: {self.location}: {code or 'error'}") from None
        except botocore.exceptions.BotoCoreError as exc:
            # The message names the endpoint, never the credentials.
            raise StorageError(
                f"storage: {self.location} unavailable: {type(exc).__name__}"
            ) from None

    def check(self) -> None:
        try:
            self._call(self.client.head_bucket, Bucket=self.bucket)
        except NotFound:
            raise StorageError(f"{self.location}: the bucket does not exist") from None
        except StorageError as exc:
            raise StorageError(f"cannot reach {self.location}: {exc}") from None

    def stat(self, path: str) -> FileInfo | None:
        try:
            head = self._call(self.client.head_object, Bucket=self.bucket, Key=self._k(path))
        except NotFound:
            return None
        return FileInfo(path, int(head["ContentLength"]), head["LastModified"].timestamp())

    def reader(self, path: str, offset: int = 0) -> BinaryIO:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._k(path)}
        if offset:
            kwargs["Range"] = f"bytes={offset}-"
        try:
            body = self._call(self.client.get_object, **kwargs)["Body"]
        except StorageError as exc:
            if offset and "InvalidRange" in str(exc):
                return io.BytesIO(b"")  # at the very end
            raise
        # Unbuffered: callers read in large chunks, and each chunk is copied once.
        return _Body(body)  # type: ignore[return-value]

    def read(self, path: str) -> bytes:
        body = self._call(self.client.get_object, Bucket=self.bucket, Key=self._k(path))["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def put(self, path: str, data: bytes) -> None:
        self._call(self.client.put_object, Bucket=self.bucket, Key=self._k(path), Body=data)

    @contextmanager
    def writer(self, path: str) -> Iterator[_ObjectWriter]:
        w = _ObjectWriter()
        try:
            yield w
            w.file.seek(0)
            if w.size <= PART_SIZE:
                self.put(path, w.file.read())
            else:
                import boto3.s3.transfer

                transfer = boto3.s3.transfer.TransferConfig(multipart_chunksize=PART_SIZE)
                self._call(
                    self.client.upload_fileobj,
                    Fileobj=w.file,
                    Bucket=self.bucket,
                    Key=self._k(path),
                    Config=transfer,
                )
        finally:
            w.file.close()

    def delete(self, path: str) -> bool:
        removed = False
        try:
            self._call(self.client.head_object, Bucket=self.bucket, Key=self._k(path))
            self._call(self.client.delete_object, Bucket=self.bucket, Key=self._k(path))
            removed = True
        except NotFound:
            pass
        keys = [self._k(info.path) for info in self.walk(path)]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self._call(
                self.client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": batch, "Quiet": True},
            )
        return removed or bool(keys)

    def walk(self, prefix: str) -> Iterator[FileInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call(paginator.paginate, Bucket=self.bucket, Prefix=self._k(prefix) + "/")
        skip = len(self.prefix)
        for page in _pages(self, pages):
            for obj in page.get("Contents", ()):
                yield FileInfo(obj["Key"][skip:], int(obj["Size"]), obj["LastModified"].timestamp())

    def list(self, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        base = self._k(prefix) + "/" if prefix.strip("/") else self.prefix
        pages = self._call(paginator.paginate, Bucket=self.bucket, Prefix=base, Delimiter="/")
        names: set[str] = set()
        for page in _pages(self, pages):
            for common in page.get("CommonPrefixes", ()):
                names.add(common["Prefix"][len(base) :].rstrip("/"))
            for obj in page.get("Contents", ()):
                names.add(obj["Key"][len(base) :])
        return sorted(n for n in names if n)

    def presign(self, path: str, expires: int) -> str | None:
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._k(path)}, ExpiresIn=expires
        )
        return url

    def purge_temporary(self, older_than: float) -> int:
        """Abort multipart uploads a killed writer left, started before ``older_than``."""
        aborted = 0
        response = self._call(
            self.client.list_multipart_uploads, Bucket=self.bucket, Prefix=self._k("objects") + "/"
        )
        for upload in response.get("Uploads", ()):
            if upload["Initiated"].timestamp() < older_than:
                try:
                    self._call(
                        self.client.abort_multipart_upload,
                        Bucket=self.bucket,
                        Key=upload["Key"],
                        UploadId=upload["UploadId"],
                    )
                    aborted += 1
                except (NotFound, StorageError):
                    continue
        return aborted

    # --- uploads ------------------------------------------------------------------------------
    @contextmanager
    def upload_writer(
        self, upload_id: str, state: str | None, offset: int
    ) -> Iterator[_UploadWriter]:
        recorded: dict[str, Any] = json.loads(state) if state else {}
        w = _UploadWriter(self, upload_id, recorded)
        done = sum(int(p[2]) for p in w.parts) + int(recorded.get("tail_size", 0))
        if done != offset:
            raise StorageError(
                f"storage: upload {upload_id} holds {done} bytes, not the recorded {offset}"
            )
        if recorded.get("tail"):
            w.buffer += self.read(recorded["tail"])
        yield w
        w.finish()

    def upload_complete(self, upload_id: str, state: str | None, size: int) -> str:
        # Everything here happens inside the store (a copy of the tail, the assembly of the
        # parts): no byte of the blob passes through the registry on commit.
        recorded: dict[str, Any] = json.loads(state) if state else {}
        key = object_key(upload_id)
        tail: str | None = recorded.get("tail")
        tail_size = int(recorded.get("tail_size", 0)) if tail else 0
        parts = recorded.get("parts") or []
        if sum(int(p[2]) for p in parts) + tail_size != size:
            raise StorageError(f"storage: upload {upload_id} does not hold {size} bytes")
        if not parts:
            if tail:
                self._call(
                    self.client.copy_object,
                    Bucket=self.bucket,
                    Key=self._k(key),
                    CopySource={"Bucket": self.bucket, "Key": self._k(tail)},
                )
            else:
                self.put(key, b"")
            if recorded.get("mpu"):
                self.upload_abort(upload_id, state)
        else:
            listed = [{"PartNumber": int(n), "ETag": etag} for n, etag, _size in parts]
            if tail:
                copied = self._call(
                    self.client.upload_part_copy,
                    Bucket=self.bucket,
                    Key=self._k(key),
                    UploadId=recorded["mpu"],
                    PartNumber=len(parts) + 1,
                    CopySource={"Bucket": self.bucket, "Key": self._k(tail)},
                )
                listed.append(
                    {"PartNumber": len(parts) + 1, "ETag": copied["CopyPartResult"]["ETag"]}
                )
            self._call(
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=self._k(key),
                UploadId=recorded["mpu"],
                MultipartUpload={"Parts": listed},
            )
        self.delete(upload_key(upload_id))
        return key

    def upload_abort(self, upload_id: str, state: str | None) -> None:
        recorded: dict[str, Any] = json.loads(state) if state else {}
        if recorded.get("mpu"):
            with suppress(NotFound):
                self._call(
                    self.client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=self._k(object_key(upload_id)),
                    UploadId=recorded["mpu"],
                )
        self.delete(upload_key(upload_id))


def _pages(driver: S3Driver, pages: Any) -> Iterator[dict[str, Any]]:
    """Iterate a paginator, mapping the store's failures as ``_call`` does."""
    iterator = iter(pages)
    while True:
        try:
            page = driver._call(next, iterator)
        except StopIteration:
            return
        yield page


__all__ = ["MIN_PART", "PART_SIZE", "S3Driver"]
