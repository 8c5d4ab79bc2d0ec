"""Storage helpers shared by settings and tests (no Django imports)."""

from __future__ import annotations

from boto3.s3.transfer import TransferConfig

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
