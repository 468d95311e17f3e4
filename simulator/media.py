"""Bytes on disk: submitted images, rendered clips (a bounded cache) and uploaded GCS objects.

Nothing here is kept per operation in memory. A clip is rendered when first downloaded, off the
event loop (polls keep flowing), at most two at a time, once per distinct clip even when many
requests ask at the same moment, then kept in a bounded disk cache plus a tiny in-memory LRU.
Rendering is deterministic, so evicting a clip only costs a re-render.

Layout: ``{data_dir}/simulator/media/{pid}/`` holding ``inputs/``, ``clips/`` and ``gcs/``. The
directory belongs to one simulator process (operations live in memory and die with it): it is
wiped at start and removed at exit.
"""

import asyncio
import hashlib
import os
import secrets
import shutil
from collections import OrderedDict
from pathlib import Path

from simulator import render
from simulator.directives import strip
from simulator.operations import Operation

CLIP_CACHE_FILES = 1000  # ~70 MB of clips on disk at most
CLIP_MEMORY_ENTRIES = 16
RENDER_CONCURRENCY = 2
FAST_CLIP_TEXT = "veo simulator fast render"


class MediaStore:
    def __init__(self, root: Path, render_mode: str = "full") -> None:
        self.root = root
        self.render_mode = render_mode
        _sweep_dead_siblings(root)
        shutil.rmtree(root, ignore_errors=True)
        for sub in ("inputs", "clips", "gcs"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self._disk: OrderedDict[str, Path] = OrderedDict()
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._render_slots = asyncio.Semaphore(RENDER_CONCURRENCY)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # --- submitted images --------------------------------------------------------------------
    async def save_input_image(self, data: bytes) -> str:
        """Validate and store a submitted image; returns its content key. ValueError if unusable."""
        key = hashlib.sha256(data).hexdigest()[:24]
        path = self.root / "inputs" / f"{key}.jpg"
        if not path.exists():
            await asyncio.to_thread(_store_input, data, path)
        return key

    # --- rendered clips ----------------------------------------------------------------------
    async def clip(self, op: Operation, sample: int = 0) -> bytes:
        """The MP4 for one sample of a finished operation, rendered on first use."""
        text = strip(op.prompt)
        if self.render_mode == "fast":
            key = f"fast-{op.aspect_ratio.replace(':', 'x')}"
        else:
            material = f"{op.aspect_ratio}|{sample}|{op.image_key or ''}|{text}"
            key = hashlib.sha256(material.encode()).hexdigest()[:32]
        cached = self._memory.get(key)
        if cached is not None:
            self._memory.move_to_end(key)
            return cached
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            data = await self._load_or_render(key, op, text, sample)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(data)
        self._remember(key, data)
        return data

    async def _load_or_render(self, key: str, op: Operation, text: str, sample: int) -> bytes:
        path = self.root / "clips" / f"{key}.mp4"
        if key in self._disk:
            self._disk.move_to_end(key)
            return await asyncio.to_thread(path.read_bytes)
        image_path = self.root / "inputs" / f"{op.image_key}.jpg" if op.image_key else None
        if self.render_mode == "fast":
            image_path, text, sample = None, FAST_CLIP_TEXT, 0
        async with self._render_slots:
            data = await asyncio.to_thread(
                _render_to, path, text, op.aspect_ratio, sample, image_path
            )
        self._disk[key] = path
        while len(self._disk) > CLIP_CACHE_FILES:
            _, old = self._disk.popitem(last=False)
            old.unlink(missing_ok=True)
        return data

    def _remember(self, key: str, data: bytes) -> None:
        self._memory[key] = data
        while len(self._memory) > CLIP_MEMORY_ENTRIES:
            self._memory.popitem(last=False)

    # --- uploaded GCS objects (image inputs given as gcsUri) ----------------------------------
    def _gcs_path(self, bucket: str, name: str) -> Path:
        digest = hashlib.sha256(f"{bucket}/{name}".encode()).hexdigest()[:32]
        return self.root / "gcs" / digest

    async def put_object(self, bucket: str, name: str, data: bytes) -> None:
        await asyncio.to_thread(self._gcs_path(bucket, name).write_bytes, data)

    async def get_object(self, bucket: str, name: str) -> bytes | None:
        path = self._gcs_path(bucket, name)
        if not path.exists():
            return None
        return await asyncio.to_thread(path.read_bytes)


def _store_input(data: bytes, path: Path) -> None:
    image = render.prepare_input_image(data)
    temp = _temp_path(path)
    image.save(temp, format="JPEG", quality=90)
    temp.replace(path)


def _render_to(
    path: Path, text: str, aspect_ratio: str, sample: int, image_path: Path | None
) -> bytes:
    if image_path is not None:
        from PIL import Image

        with Image.open(image_path) as image:
            data = render.render_image_clip(image.convert("RGB"), text, aspect_ratio, sample)
    else:
        data = render.render_text_clip(text, aspect_ratio, sample)
    temp = _temp_path(path)
    temp.write_bytes(data)
    temp.replace(path)
    return data


def _temp_path(path: Path) -> Path:
    """A unique sibling, so two writers of the same content never share a half-written file."""
    return path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")


def _sweep_dead_siblings(root: Path) -> None:
    """Remove media dirs left by simulators that were killed (named by pid, pid not running)."""
    if not root.parent.is_dir():
        return
    for sibling in root.parent.iterdir():
        if not sibling.name.isdigit() or sibling == root:
            continue
        try:
            os.kill(int(sibling.name), 0)
        except ProcessLookupError:
            shutil.rmtree(sibling, ignore_errors=True)
        except PermissionError:
            continue  # alive, owned by someone else
