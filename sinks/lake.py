"""Where the lake lives: a local folder, or a prefix in an S3-compatible object store
(`s3://bucket/prefix`: AWS S3, MinIO, Cloudflare R2, Ceph).

A local lake is a `pathlib.Path`; an object-store lake is a universal_pathlib `UPath` with the
same methods, so the sinks list, read and write either alike. Credentials and endpoint come
from the standard AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
`AWS_ENDPOINT_URL`, and `AWS_ALLOW_HTTP=true` for a plain-http endpoint): delta-rs and s3fs
read them themselves, and DuckDB gets them as a secret (`duckdb_secret`).
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from unify.errors import UnifyError, first_line

SCHEMES = ("s3", "s3a")


class LakeError(UnifyError):
    """The lake's location cannot be used."""


def is_remote(path) -> bool:
    return "://" in str(path)


def location(path, base: Path | None = None) -> Path:
    """A local path made absolute (relative to `base`), or an object-store URL as a path."""
    if is_remote(path):  # a URL, or a UPath already (not a pathlib.Path)
        return _remote(path) if isinstance(path, str) else path
    return (Path(base or Path.cwd()) / path).resolve()


def _remote(url: str) -> Path:
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise LakeError(f"lake {url}: unsupported scheme {scheme!r}; use a local folder or s3://bucket/prefix")
    try:
        from upath import UPath
        import s3fs  # noqa: F401  (UPath needs it for s3:// and says so less clearly)
    except ImportError:
        raise LakeError(f"lake {url}: object storage needs the s3 extra; "
                        "install it with: pip install 'customer-unify[s3]'") from None
    # No listing cache: another process (a rebuild's switch, a compaction) changes the lake.
    return UPath(url.replace("s3a://", "s3://", 1), use_listings_cache=False)


@contextlib.contextmanager
def reading(lake):
    """The store's own errors (unreachable, denied, missing bucket) as one LakeError naming
    the lake, instead of a library's exception."""
    try:
        yield
    except UnifyError:
        raise
    except Exception as exc:
        if not _store_error(exc):
            raise
        raise LakeError(f"cannot read the lake {lake}: {first_line(exc)}") from None


def _store_error(exc: Exception) -> bool:
    import duckdb
    from deltalake.exceptions import DeltaError
    kinds: tuple = (OSError, DeltaError, duckdb.IOException)
    try:
        from botocore.exceptions import BotoCoreError, ClientError
        kinds += (BotoCoreError, ClientError)
    except ImportError:  # no s3 extra: no object store either
        pass
    return isinstance(exc, kinds)


def uri(path) -> str:
    """The location as DuckDB and delta-rs take it."""
    return str(path) if is_remote(path) else str(Path(path).resolve())


def parent(path: str) -> str:
    """The folder of a table location (`Path.parent` would fold a URL's `//`)."""
    return path.rstrip("/").rsplit("/", 1)[0]


def remove_tree(path) -> None:
    if is_remote(path):
        path.fs.rm(path.path, recursive=True)
    else:
        shutil.rmtree(path)


def replace_text(path, text: str) -> None:
    """Replace a small file in one step: a rename locally, one PUT on an object store."""
    if is_remote(path):
        path.write_text(text)
        return
    staged = path.with_name(f".{path.name}.new")
    staged.write_text(text)
    os.replace(staged, path)


def duckdb_secret() -> str | None:
    """A CREATE SECRET statement from the AWS variables, or None when none is set."""
    env = os.environ
    if not {"AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} & env.keys():
        return None
    options = {"KEY_ID": env.get("AWS_ACCESS_KEY_ID"), "SECRET": env.get("AWS_SECRET_ACCESS_KEY"),
               "SESSION_TOKEN": env.get("AWS_SESSION_TOKEN"),
               "REGION": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:  # an S3-compatible store addresses buckets by path
        url = urlsplit(endpoint)
        options.update(ENDPOINT=url.netloc, URL_STYLE="path", USE_SSL=url.scheme == "https")
    listed = ", ".join(f"{k} {_value(v)}" for k, v in options.items() if v is not None)
    return f"CREATE OR REPLACE SECRET lake (TYPE s3, {listed})"


def _value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "'" + str(value).replace("'", "''") + "'"
