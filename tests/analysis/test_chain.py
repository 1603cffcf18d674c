"""The hash chain, checked without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from projects.analysis.chain import GENESIS_HASH, Link, canonical_time, link_hash, verify_chain


def make_chain(n: int) -> list[Link]:
    links, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        body = {"seq": seq, "verb": "thing.happened", "payload": {"n": seq}}
        digest = link_hash(prev, body)
        links.append(Link(seq, prev, digest, body))
        prev = digest
    return links


def test_an_intact_chain_verifies():
    report = verify_chain(make_chain(50))
    assert report.ok
    assert (report.checked, report.head_seq) == (50, 50)


def test_it_finds_the_first_changed_link():
    links = make_chain(10)
    links[4] = Link(5, links[4].prev_hash, links[4].hash, {**links[4].body, "verb": "forged"})
    report = verify_chain(links)
    assert report.first_break.seq == 5
    assert "content" in report.first_break.reason
    assert report.checked == 4


def test_it_finds_a_missing_link():
    links = make_chain(10)
    del links[6]
    assert verify_chain(links).first_break.seq == 7


def test_it_finds_a_rehashed_link_by_its_successor():
    links = make_chain(10)
    body = {**links[2].body, "verb": "forged"}
    links[2] = Link(3, links[2].prev_hash, link_hash(links[2].prev_hash, body), body)
    report = verify_chain(links)
    assert report.first_break.seq == 4
    assert "previous hash" in report.first_break.reason


def test_swapped_links_break_the_chain():
    links = make_chain(5)
    links[1], links[2] = links[2], links[1]
    assert verify_chain(links).first_break.seq == 2


def test_the_hash_does_not_depend_on_key_order():
    assert link_hash(GENESIS_HASH, {"a": 1, "b": 2}) == link_hash(GENESIS_HASH, {"b": 2, "a": 1})


def test_times_are_hashed_in_one_canonical_form():
    utc = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert canonical_time(utc) == canonical_time(paris) == "2026-01-02T03:04:05.000000+00:00"
