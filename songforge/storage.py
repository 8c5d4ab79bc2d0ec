"""Storage helpers: S3 transfer settings, and a local path for any stored file."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from boto3.s3.transfer import TransferConfig

if TYPE_CHECKING:  # settings.py imports this module: no Django model imports at run time
    from django.db.models.fields.files import FieldFile

S3_PART_BYTES = 5 * 1024 * 1024  # the smallest part S3 accepts


def s3_transfer_config() -> TransferConfig:
    """Multipart uploads that keep at most two 8 MB parts in memory.

    boto3's default buffers up to ten parts, 80 MB per upload; a streamed
    200 MB audio upload must not cost that much.
    """
    config = TransferConfig(multipart_threshold=S3_PART_BYTES, multipart_chunksize=S3_PART_BYTES, max_concurrency=2)
    config.max_in_memory_upload_chunks = 2
    config.max_in_memory_download_chunks = 2
    return config


@contextlib.contextmanager
def local_copy(field_file: FieldFile) -> Iterator[Path]:
    """A local path for a stored file: the file itself on disk storage, else a streamed temporary copy.

    The temporary copy (remote storage such as S3 has no path) keeps the file's suffix, so decoders
    that look at it still work, and is deleted when the block ends.
    """
    try:
        yield Path(field_file.path)
        return
    except NotImplementedError:
        pass
    suffix = Path(field_file.name or "").suffix or ".audio"
    with tempfile.NamedTemporaryFile(suffix=suffix) as temporary:
        with field_file.storage.open(str(field_file.name), "rb") as source:
            shutil.copyfileobj(source, temporary, length=1024 * 1024)
        temporary.flush()
        yield Path(temporary.name)
