"""The audit trail's hash chains: how a link is hashed, how a chain is checked, and
how the heads of all chains fold into one checkpoint.

The trail is one chain per project (and one per team and one for the portal), so
writes to different projects never wait on each other, and an auditor can check
one project's chain without reading other teams' events. A checkpoint is a
Merkle root over every chain's head; kept outside the database, it shows later
that no chain was rewritten or cut back.

Pure Python: the callers hand in plain rows, so the same check runs over the
database, an export or a checkpoint file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

#: The portal chain's genesis. It is the one chain older than per-project chains, and
#: events recorded before those existed stay in it, verifiable as they were written.
GENESIS_HASH = "0" * 64
PORTAL_CHAIN = "portal"


def chain_genesis(key: str) -> str:
    """Where chain ``key`` starts. Each chain has its own, so a link cannot be moved
    into another chain and no two chains share a ``prev_hash``."""
    if key == PORTAL_CHAIN:
        return GENESIS_HASH
    return hashlib.sha256(f"stagegate chain\n{key}".encode()).hexdigest()


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


def verify_chain(links: Iterable[Link], genesis: str = GENESIS_HASH) -> ChainReport:
    """Walk links in seq order and report the first one that does not hold."""
    expected_seq, prev, checked = 1, genesis, 0
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


@dataclass(frozen=True)
class Head:
    chain: str
    seq: int
    hash: str


def merkle_root(heads: Iterable[Head]) -> str:
    """sha256 Merkle root over the heads, sorted by chain; leaves name their chain, so a
    head cannot be passed off as another chain's. Odd nodes are carried up unpaired."""
    level = [
        hashlib.sha256(f"leaf\n{h.chain}\n{h.seq}\n{h.hash}".encode()).hexdigest()
        for h in sorted(heads, key=lambda h: h.chain)
    ]
    if not level:
        return hashlib.sha256(b"empty").hexdigest()
    while len(level) > 1:
        pairs = [level[i : i + 2] for i in range(0, len(level), 2)]
        level = [
            hashlib.sha256(f"node\n{p[0]}\n{p[1]}".encode()).hexdigest() if len(p) == 2 else p[0]
            for p in pairs
        ]
    return level[0]


def verify_checkpoint(checkpoint: dict, hash_at: Callable[[str, int], str | None]) -> str | None:
    """Check a checkpoint against the trail; None when it holds, else what is wrong.

    ``hash_at(chain, seq)`` gives the hash of that event in the trail, or None when
    there is no such event. The root is recomputed first, so an edited file is caught
    before it is trusted.
    """
    try:
        heads = [Head(k, int(v["seq"]), str(v["hash"])) for k, v in checkpoint["chains"].items()]
        root = checkpoint["root"]
    except (KeyError, TypeError, ValueError, AttributeError):
        return "the checkpoint file is not one written by export_checkpoint"
    if merkle_root(heads) != root:
        return "the checkpoint's root does not match its heads (the file was altered)"
    for head in heads:
        found = chain_genesis(head.chain) if head.seq == 0 else hash_at(head.chain, head.seq)
        if found is None:
            return (
                f"chain {head.chain} has no event #{head.seq}, which the checkpoint holds "
                "(events were removed)"
            )
        if found != head.hash:
            return (
                f"chain {head.chain}'s event #{head.seq} differs from the checkpoint "
                "(the chain was rewritten)"
            )
    return None
