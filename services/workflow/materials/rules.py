"""What an uploaded file may be, pure: the declared content type in the allow-list, and the file's first
bytes agreeing with it (a PDF that is not a PDF is refused before anything is stored)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

ZIP, OLE = b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAGIC: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "application/ofd": (ZIP,),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (ZIP,),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (ZIP,),
    "application/msword": (OLE,),
    "application/vnd.ms-excel": (OLE,),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}


def media_type(declared: str | None) -> str:
    """The media type without parameters, lower case ('' when none was declared)."""
    return (declared or "").split(";", 1)[0].strip().lower()


def type_refusal(declared: str, allowed: Collection[str], head: bytes) -> str | None:
    """Why the file is refused (None: accepted)."""
    if declared not in allowed:
        return f"content type {declared or '(none)'!r} is not allowed; allowed: {', '.join(sorted(allowed))}"
    signatures = MAGIC.get(declared)
    if signatures and not any(head.startswith(s) for s in signatures):
        return f"the file's content is not {declared}"
    return None


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_filename(name: str | None) -> str:
    """The client's file name as a label: no path, no control characters, at most 255 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", unicodedata.normalize("NFC", base)).strip() or "file"
    return base[:255]
