"""How a gateway process sets its garbage collector and glibc's malloc, in one place.

Each setting is applied where its measurement says: the collector once the app is built
(api_gateway/app.py), the mmap threshold just before the process's first image decode
(api_gateway/uploads.py). Pinning that threshold turns off glibc's dynamic thresholds for every
allocation (its trim threshold too), which no benchmark of submit or status was run with.
"""

import ctypes
import gc

M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter number
MMAP_THRESHOLD_BYTES = 1024 * 1024  # buffers this big get their own mmap, freed at once


def tune_garbage_collector() -> None:
    """Fewer, cheaper collections: a request allocates a few hundred objects, so the default
    gen-0 threshold (700) started a collection every few requests, and each older-generation
    pass walked every object built at import (SQLAlchemy and pydantic models). Freezing those
    and raising the threshold cut status CPU per request by about a fifth (bench/README.md)."""
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def pin_mmap_threshold() -> None:
    """Make glibc give every buffer of 1 MiB or more (Pillow's 16 MB pixel blocks) its own mmap.

    By default glibc raises its mmap threshold to the size of each big block freed, so after
    the first decode Pillow's blocks come from per-thread malloc arenas: calloc must then zero,
    so make resident, all 144 MB of a 36 MP image even when a truncated file fills one row, and
    freed blocks linger in up to 8 arenas per core. 24 truncated 36 MP PNGs, 2 decoding at once,
    grew the gateway by ~0.9 GB; pinned, by a few MB. A no-op without glibc's mallopt().
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
