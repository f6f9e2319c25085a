"""The audit chain, pure: each entry's canonical content (RFC 8785 JSON) hashed with SHA-256, linked to
the previous entry of the same application, so that any edit made outside the application is found."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.canonical import canonical_json

# The members of an entry that its hash covers (everything but the hash itself and the row id).
CONTENT_FIELDS = ("application_id", "seq", "at", "actor_sub", "actor_role", "action", "from_state", "to_state",
                  "round", "comment", "data", "documents", "prev_hash")


def timestamp(at: dt.datetime) -> str:
    """UTC, microseconds, 'Z': the form hashed (both databases keep microseconds)."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content(entry: Mapping[str, Any]) -> dict[str, Any]:
    out = {name: entry[name] for name in CONTENT_FIELDS}
    if isinstance(out["at"], dt.datetime):
        out["at"] = timestamp(out["at"])
    return out


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the entry's canonical content."""
    return hashlib.sha256(canonical_json(content(entry))).hexdigest()


@dataclass(frozen=True, slots=True)
class Break:
    seq: int
    entry_id: int | None
    code: str
    reason: str
    missing: tuple[int, ...] = ()  # the entries the application appended that are gone


@dataclass(frozen=True, slots=True)
class Head:
    """The newest entry as the application recorded it when appending it (seq 0: none yet)."""

    seq: int
    entry_hash: str | None


def _span(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first}–{last} are"


def verify(entries: Sequence[Mapping[str, Any]], head: Head | None = None) -> Break | None:
    """The first entry (in seq order) that breaks the chain, or None when the chain holds: a gap in the
    sequence, a prev_hash that is not the previous entry's hash, or an entry_hash its content does not give;
    then, given the application's recorded `head`, a chain that ends before it (its last entries deleted),
    after it (entries the application did not append), or at an entry other than the one appended."""
    previous: str | None = None
    ordered = sorted(entries, key=lambda e: e["seq"])
    for expected_seq, entry in enumerate(ordered, start=1):
        seq, entry_id = entry["seq"], entry.get("id")
        if seq != expected_seq:
            missing = tuple(range(expected_seq, seq))
            return Break(seq, entry_id, "sequence-gap", f"entry {seq} follows entry {expected_seq - 1}: "
                         f"{_span(expected_seq, seq - 1)} missing" if missing else f"entry {seq} is out of sequence",
                         missing)
        if entry["prev_hash"] != previous:
            return Break(seq, entry_id, "prev-hash-mismatch",
                         f"prev_hash of entry {seq} is not the hash of entry {seq - 1}" if seq > 1
                         else "the first entry must have no prev_hash")
        if entry_hash(entry) != entry["entry_hash"]:
            return Break(seq, entry_id, "entry-hash-mismatch",
                         f"the content of entry {seq} does not give its entry_hash: it was changed after it "
                         "was written")
        previous = entry["entry_hash"]
    if head is None:
        return None
    last = len(ordered)
    if last < head.seq:
        missing = tuple(range(last + 1, head.seq + 1))
        return Break(last + 1, None, "entries-missing",
                     f"{_span(last + 1, head.seq)} missing: the chain "
                     + (f"ends at entry {last}" if last else "is empty")
                     + f", but the application recorded entry {head.seq} as its newest (deleted after they were "
                     "written)", missing)
    if last > head.seq:
        return Break(head.seq + 1, ordered[head.seq].get("id"), "entries-not-appended",
                     f"{_span(head.seq + 1, last)} not appended by the application: its newest entry is "
                     f"{head.seq}" if head.seq else f"{_span(1, last)} not appended by the application: it "
                     "recorded none")
    if last and previous != head.entry_hash:
        return Break(last, ordered[-1].get("id"), "head-hash-mismatch",
                     f"entry {last} is not the entry the application appended: its hash differs from the "
                     "recorded head (it was replaced after it was written)")
    return None
