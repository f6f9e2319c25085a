"""The file store of materials: a folder (settings.materials_dir), one file per application and SHA-256,
written atomically (temporary file, then rename) and never overwritten. Blocking I/O runs in a thread."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path


class MaterialStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, application_id: int, sha256: str) -> Path:
        return self.root / str(application_id) / sha256

    def _write(self, application_id: int, sha256: str, data: bytes) -> None:
        target = self.path(application_id, sha256)
        if target.exists():  # content-addressed: the same bytes are already there
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def write(self, application_id: int, sha256: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, application_id, sha256, data)

    def _read(self, application_id: int, sha256: str) -> bytes | None:
        try:
            return self.path(application_id, sha256).read_bytes()
        except FileNotFoundError:
            return None

    async def read(self, application_id: int, sha256: str) -> bytes | None:
        return await asyncio.to_thread(self._read, application_id, sha256)
