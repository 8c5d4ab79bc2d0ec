"""One numba cache per deployment, written by one process at a time.

librosa compiles its ``@guvectorize(..., cache=True)`` kernels when its submodules are imported and
stores them in numba's on-disk cache. Numba 0.68 tags each compiled kernel with an ABI version taken
from a per-process counter, and the gufunc wrapper (``guf-*.nbc``) calls the kernel (``*.nbc``) by
that tagged name. When several processes compile the same module at once into one cache, the
wrapper of one process and the kernel of another can end up side by side: every later process
loads both and jumps through a null function pointer (numba#10128, unfixed in 0.68.1, the
latest release). That is the segmentation fault seen in ``localmax`` and the beat tracker after
parallel test workers shared the site-packages cache.

So (measured in ``docs/operations.md``):

- settings point ``NUMBA_CACHE_DIR`` at a folder of the deployment's data dir (never the shared
  site-packages ``__pycache__``), before anything imports numba;
- :func:`install_import_lock` serialises the import of the librosa submodules that compile
  cached numba code, with an exclusive ``flock`` on ``<cache dir>/.compile.lock``: the first
  process compiles and writes, the others wait and then load a complete, consistent cache;
- :func:`warm` imports them once (the container entrypoint and ``make`` targets call
  ``python -m songforge.numba_cache`` before starting workers).

Apart from :func:`main`, this module imports neither Django nor numba, so settings can call it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

# librosa 0.11 submodules whose import compiles or loads cached numba code (``cache=True``).
COMPILING_MODULES: tuple[str, ...] = (
    "librosa.util.utils",
    "librosa.util.matching",
    "librosa.core.audio",
    "librosa.core.pitch",
    "librosa.core.spectrum",
    "librosa.core.constantq",
    "librosa.core.notation",
    "librosa.filters",
    "librosa.feature.utils",
    "librosa.sequence",
    "librosa.beat",
)
LOCK_NAME = ".compile.lock"

# The process holds the file lock while any of its threads is inside a compiling import. Threads of
# one process do not wait for each other: numba's own compiler lock serialises them, and one process
# tags its kernels consistently. (Making them wait here could deadlock against Python's per-module
# import locks, which each thread holds while it runs a loader.)
_bookkeeping = threading.Lock()
_holders = 0
_lock_file: int | None = None


@contextlib.contextmanager
def compile_lock(cache_dir: Path) -> Iterator[None]:
    """Holds the cache's inter-process lock while the block runs (shared by the process's threads)."""
    global _holders, _lock_file
    with _bookkeeping:
        if _holders == 0:
            cache_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(cache_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits for other processes only: nobody here holds it
            _lock_file = fd
        _holders += 1
    try:
        yield
    finally:
        with _bookkeeping:
            _holders -= 1
            if _holders == 0 and _lock_file is not None:
                fcntl.flock(_lock_file, fcntl.LOCK_UN)
                os.close(_lock_file)
                _lock_file = None


def _forget_lock_in_child() -> None:
    """A forked child does not inherit the parent's hold (its copy of the descriptor is closed)."""
    global _bookkeeping, _holders, _lock_file
    if _lock_file is not None:
        os.close(_lock_file)
    _bookkeeping, _holders, _lock_file = threading.Lock(), 0, None


os.register_at_fork(after_in_child=_forget_lock_in_child)


class _LockedLoader(importlib.abc.Loader):
    def __init__(self, wrapped: importlib.abc.Loader, cache_dir: Path) -> None:
        self._wrapped = wrapped
        self._cache_dir = cache_dir

    def __getattr__(self, name: str) -> object:  # get_source, get_code, is_package … for tracebacks
        return getattr(self._wrapped, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._wrapped.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with compile_lock(self._cache_dir):
            self._wrapped.exec_module(module)


class _LockedFinder(importlib.abc.MetaPathFinder):
    """Wraps the loaders of :data:`COMPILING_MODULES` so their bodies run under :func:`compile_lock`."""

    def __init__(self, cache_dir: Path, modules: Sequence[str]) -> None:
        self.cache_dir = cache_dir
        self.modules = frozenset(modules)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _LockedLoader(spec.loader, self.cache_dir)
                return spec
        return None


def configure(cache_dir: Path) -> None:
    """Points numba at ``cache_dir`` (before numba is imported) and serialises librosa's compiling imports."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(cache_dir)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:  # imported early (a test runner, a plugin): its cache locator reads this
        numba_config.CACHE_DIR = str(cache_dir)  # type: ignore[attr-defined]
    install_import_lock(cache_dir)


def install_import_lock(cache_dir: Path, modules: Sequence[str] = COMPILING_MODULES) -> None:
    for finder in sys.meta_path:
        if isinstance(finder, _LockedFinder):
            finder.cache_dir = cache_dir
            return
    sys.meta_path.insert(0, _LockedFinder(cache_dir, modules))


def warm(modules: Sequence[str] = COMPILING_MODULES) -> list[str]:
    """Imports every compiling librosa module once, so later processes only read the cache."""
    for name in modules:
        importlib.import_module(name)
    return list(modules)


def _index(path: Path) -> dict[tuple[str, ...], str]:
    """An index file's entries as {argument types: data file name} (numba's own pickle format)."""
    import pickle

    from numba.core.sigutils import normalize_signature

    with path.open("rb") as handle:
        pickle.load(handle)  # noqa: S301 (numba version; our own cache files)
        _stamp, overloads = pickle.loads(handle.read())  # noqa: S301 (our own cache files)
    entries = {}
    for key, name in overloads.items():
        signature = key[0]
        args = normalize_signature(signature)[0] if isinstance(signature, str) else signature.args  # type: ignore[no-untyped-call]
        entries[tuple(map(str, args))] = name
    return entries


def _tags(pattern: re.Pattern[bytes], path: Path) -> list[str]:
    return sorted({match.decode() for match in pattern.findall(path.read_bytes())})


def abi_mismatches(cache_dir: Path) -> list[str]:
    """Gufunc wrappers in ``cache_dir`` that call a kernel by an ABI tag the cached kernel does not define.

    Each such pair crashes every process that loads it (numba#10128); an empty list is a
    consistent cache.
    """
    problems = []
    for wrapper_index in sorted(cache_dir.rglob("guf-*.nbi")):
        kernel_index = wrapper_index.with_name(wrapper_index.name.removeprefix("guf-"))
        if not kernel_index.exists():
            continue
        function = kernel_index.name.split("-")[0].split(".", 1)[1].encode()
        pattern = re.compile(rb"\d" + re.escape(function) + rb"B\d+v(\d+)")
        kernels = _index(kernel_index)
        for args, wrapper_name in _index(wrapper_index).items():
            kernel_name = kernels.get(args)
            if kernel_name is None:
                continue
            try:
                called = _tags(pattern, wrapper_index.parent / wrapper_name)
                defined = _tags(pattern, kernel_index.parent / kernel_name)
            except FileNotFoundError:
                continue
            if called != defined:
                problems.append(
                    f"{wrapper_name} calls {function.decode()} with ABI tag {called}; {kernel_name} defines {defined}"
                )
    return problems


def main() -> None:
    """``python -m songforge.numba_cache``: fills the deployment's cache before workers start."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "songforge.settings")
    from django.conf import settings

    # Settings are lazy: reading one loads them, and loading them calls configure() with the deployment's
    # folder. That must happen before warm() imports numba, or the kernels land in site-packages.
    cache_dir = settings.NUMBA_CACHE_DIR
    done = warm()
    print(f"numba cache warm in {cache_dir}: {len(done)} librosa modules")


if __name__ == "__main__":
    main()
