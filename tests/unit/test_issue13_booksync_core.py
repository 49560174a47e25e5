"""Issue 13: the sync's pure checks and the segment format (content addressing, deltas)."""
from __future__ import annotations

import json

from sendsecure.bookstore import SourceState, apply_items, base_segment, chunk_items, delta_segment, generation_of
from sendsecure.core.booksources import change_counts, diff_entries, shrink_refusal
from sendsecure.core.domainbook import BookEntry


def entry(key: str, organisation: str = "", network: str = "zorgmail") -> BookEntry:
    return BookEntry(key, organisation, network, True, False, "", "list.txt")


def test_issue13_item2_shrink_and_empty_refusals():
    assert shrink_refusal(100, 80, 0.2) is None
    assert "shrank from 100 to 79" in (shrink_refusal(100, 79, 0.2) or "")
    assert shrink_refusal(0, 5, 0.2) is None                       # nothing to compare with
    assert "no entries" in (shrink_refusal(0, 0, 0.2) or "") and shrink_refusal(10, 0, 1.0)


def test_issue13_item3_diff_and_change_counts():
    old = {"a.example": entry("a.example"), "b.example": entry("b.example"), "c.example": entry("c.example")}
    new = {"a.example": entry("a.example"), "b.example": entry("b.example", "B"), "d.example": entry("d.example")}
    upserts, removed = diff_entries(old, new)
    assert set(upserts) == {"b.example", "d.example"} and removed == ["c.example"]
    assert change_counts(old, new) == (1, 1, 1)
    rebuilt = dict(old)
    apply_items(rebuilt, json.loads(delta_segment(upserts, removed).chunks[0]))
    assert rebuilt == new


def test_issue13_item3_segments_are_content_addressed_and_chunks_bounded():
    entries = {f"praktijk-{n:05d}.example": entry(f"praktijk-{n:05d}.example", "Praktijk " * 5) for n in range(3000)}
    first, again = base_segment(entries), base_segment(dict(reversed(list(entries.items()))))
    assert first.id == again.id and first.id.startswith("seg-") and len(first.chunks) > 1
    assert all(len(chunk) <= 30000 for chunk in first.chunks)
    entries.pop("praktijk-00000.example")
    assert base_segment(entries).id != first.id
    assert chunk_items([]) == ["[]"]
    source = SourceState("list.txt", base=first.id)
    assert generation_of([source]) == generation_of([SourceState("list.txt", base=first.id, entries=9)])
    assert generation_of([source]) != generation_of([SourceState("list.txt", base=first.id, delta="seg-x")])
