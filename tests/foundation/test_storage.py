import hashlib
import tracemalloc

import pytest
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage

from songforge import health

CHUNK = 1024 * 1024
PATTERN = bytes(range(251)) * (9 * 1024 * 1024 // 251)  # allocated before measuring


class GeneratedFile:
    """A 50 MB readable stream produced on the fly, never whole in memory."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        remaining = self.size - self.position
        n = remaining if n < 0 else min(n, remaining)
        parts: list[bytes] = []
        produced = 0
        while produced < n:
            offset = (self.position + produced) % 251
            parts.append(PATTERN[offset : offset + min(n - produced, len(PATTERN) - 251)])
            produced += len(parts[-1])
        block = b"".join(parts) if len(parts) != 1 else parts[0]
        self.position += n
        self.digest.update(block)
        return block

    def seek(self, position: int, whence: int = 0) -> int:
        if whence == 0:
            self.position = position
        elif whence == 2:
            self.position = self.size + position
        return self.position

    def tell(self) -> int:
        return self.position

    def seekable(self) -> bool:
        return True

    closed = False


@pytest.mark.s3
def test_s3_round_trips_a_small_file(s3_storage):
    name = default_storage.save("uploads/hello.txt", ContentFile(b"hello"))
    assert default_storage.exists(name)
    with default_storage.open(name) as handle:
        assert handle.read() == b"hello"
    assert default_storage.url(name).startswith("http://127.0.0.1:")
    default_storage.delete(name)
    assert not default_storage.exists(name)


@pytest.mark.s3
def test_s3_streams_50_mb_in_and_out_without_holding_it(s3_storage):
    size = 50 * 1024 * 1024
    source = GeneratedFile(size)
    default_storage.save("warm-up.txt", ContentFile(b"x"))  # builds the boto3 client outside the measurement
    tracemalloc.start()
    try:
        name = default_storage.save("big/fifty.bin", File(source, name="fifty.bin"))  # type: ignore[arg-type]
        _, peak_in = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = hashlib.sha256()
        total = 0
        with default_storage.open(name) as handle:
            for chunk in handle.chunks(CHUNK):
                digest.update(chunk)
                total += len(chunk)
        _, peak_out = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert digest.hexdigest() == source.digest.hexdigest()
    assert default_storage.size(name) == size
    assert peak_in < 25 * 1024 * 1024, f"upload held {peak_in / 1e6:.1f} MB"
    assert peak_out < 25 * 1024 * 1024, f"download held {peak_out / 1e6:.1f} MB"


@pytest.mark.s3
@pytest.mark.django_db
def test_health_check_reaches_s3(s3_storage):
    check = health.check_storage()
    assert check.is_ok, check.error
    assert check.kind == "s3"


def test_local_storage_is_the_default(settings):
    assert settings.STORAGES["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    name = default_storage.save("x/y.txt", ContentFile(b"z"))
    assert (settings.MEDIA_ROOT / name).read_bytes() == b"z"
