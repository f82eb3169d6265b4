"""``hdfs``: a folder of an HDFS cluster through pyarrow's HadoopFileSystem.

Implemented, and NOT tested against a cluster here: no HDFS runs on the test
machines (it needs a NameNode, DataNodes and libhdfs with a Java runtime). Only
what runs without a cluster is tested: settings, path handling, the refusal of
paths leaving the root. pyarrow loads libhdfs at connect time, so it needs
``HADOOP_HOME`` / ``JAVA_HOME`` / ``CLASSPATH`` as its docs say.

Listing: libhdfs has no paged directory listing, so a folder is listed once per
page and sliced by name (cursor: the last name); a 100 000-entry HDFS folder
costs a full listing per page here, unlike ``files`` and ``s3``.
"""

from __future__ import annotations

from typing import Any

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
from hub.service.datasets.files import first_names
from hub.service.datasets.formats import sample_file, schema_file
from hub.service.datasets.paths import clean


class HdfsConnector:
    kind = "hdfs"

    def __init__(
        self,
        host: str,
        *,
        port: int = 8020,
        root: str = "/",
        user: str | None = None,
        kerberos_ticket: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        if not host or "/" in host:
            raise ValueError("hdfs: host is a NameNode host name, without scheme or path")
        if not 0 < port < 65536:
            raise ValueError("hdfs: port must be 1..65535")
        if not root.startswith("/"):
            raise ValueError("hdfs: root must be an absolute path on the cluster")
        self.host, self.port, self.user = host, port, user
        self.root = "/" + "/".join(clean(root.lstrip("/")))
        self._ticket = Redacted(kerberos_ticket or "")
        self.limits = limits or Limits()
        self._fs: Any = None

    def __repr__(self) -> str:
        return f"HdfsConnector(host={self.host!r}, port={self.port}, root={self.root!r})"

    def full_path(self, path: str) -> str:
        """``path`` under the root; ``..``, absolute paths and NUL are refused."""
        parts = clean(path)
        return "/".join([self.root.rstrip("/"), *parts]) or "/"

    def fs(self) -> Any:  # pragma: no cover - needs a cluster
        if self._fs is None:
            from pyarrow import fs

            self._fs = fs.HadoopFileSystem(
                self.host, self.port, user=self.user, kerb_ticket=self._ticket.value or None
            )
        return self._fs

    def test(self) -> Health:  # pragma: no cover - needs a cluster
        try:
            info = self.fs().get_file_info(self.root)
        except Exception as exc:
            return as_source_error(exc, (self._ticket.value,)).health()
        if info.type.name == "NotFound":
            return Health(False, Problem.NOT_FOUND, f"{self.root} does not exist")
        return Health(True)

    def list(  # pragma: no cover - needs a cluster
        self, path: str = "", cursor: str | None = None, limit: int | None = None
    ) -> Page:
        from pyarrow import fs

        folder = self.full_path(path)
        try:
            infos = {i.base_name: i for i in self.fs().get_file_info(fs.FileSelector(folder))}
        except Exception as exc:
            raise as_source_error(exc, (self._ticket.value,)) from exc
        names, more = first_names(infos, cursor, self.limits.page(limit))
        entries = [
            Entry(
                n,
                "folder" if infos[n].type == fs.FileType.Directory else "file",
                infos[n].size if infos[n].type == fs.FileType.File else None,
                infos[n].mtime,
            )
            for n in names
        ]
        return Page(entries, names[-1] if more and names else None)

    def _read(self, path: str, reader: Any) -> Any:  # pragma: no cover - needs a cluster
        full = self.full_path(path)
        try:
            size = self.fs().get_file_info(full).size
            with self.fs().open_input_file(full) as f:
                return reader(f, full, size)
        except SourceError:
            raise
        except Exception as exc:
            raise as_source_error(exc, (self._ticket.value,)) from exc

    def sample(self, path: str, n: int = 20) -> Sample:  # pragma: no cover - needs a cluster
        return self._read(
            path,
            lambda f, p, size: sample_file(
                f, p, size, self.limits.rows(n), self.limits.sample_bytes
            ),
        )

    def schema(self, path: str) -> Schema:  # pragma: no cover - needs a cluster
        return self._read(
            path, lambda f, p, size: schema_file(f, p, size, self.limits.sample_bytes)
        )
