"""The audit trail's hash chain: how a link is hashed and how a chain is checked.

Pure Python: the callers hand in plain rows, so the same check runs over the
database, an export or a checkpoint file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class Link:
    seq: int
    prev_hash: str
    hash: str
    body: dict


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    head_seq: int
    head_hash: str
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def canonical_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def link_hash(prev_hash: str, body: dict) -> str:
    """sha256 over the previous hash and the canonical JSON of the event's fields."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


def verify_chain(links: Iterable[Link]) -> ChainReport:
    """Walk links in seq order and report the first one that does not hold."""
    expected_seq, prev, checked = 1, GENESIS_HASH, 0
    for link in links:
        if link.seq != expected_seq:
            reason = f"expected seq {expected_seq}, found {link.seq} (a row is missing)"
            return ChainReport(checked, expected_seq - 1, prev, ChainBreak(expected_seq, reason))
        if link.prev_hash != prev:
            reason = "its previous hash does not match the hash of the event before it"
            return ChainReport(checked, link.seq - 1, prev, ChainBreak(link.seq, reason))
        if link_hash(link.prev_hash, link.body) != link.hash:
            reason = "its content does not match its hash (the row was changed)"
            return ChainReport(checked, link.seq - 1, prev, ChainBreak(link.seq, reason))
        prev, expected_seq, checked = link.hash, expected_seq + 1, checked + 1
    return ChainReport(checked, expected_seq - 1, prev, None)
