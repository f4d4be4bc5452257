"""Which messages can share one provider request.

SendGrid takes up to 1000 personalizations in one Mail Send request, all
with the same subject, content and categories; what differs per recipient
(address, headers, custom args) lives in the personalization. So messages
whose rendered content came out identical travel together, and messages
rendered differently travel alone: batching never costs per-recipient
rendering.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def batches(
    items: Sequence[T],
    key: Callable[[T], Hashable],
    recipient: Callable[[T], str],
    limit: int,
) -> list[list[int]]:
    """Return groups of indices into `items`: same `key`, at most `limit`, each recipient once.

    Groups come in the order of their first item, indices in input order. A
    recipient (compared case-insensitively) who appears twice with the same
    key goes to a second group, as SendGrid refuses an address twice in one
    request.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    groups: list[list[int]] = []
    members: list[set[str]] = []
    open_groups: dict[Hashable, list[int]] = {}  # key -> positions in `groups` with room
    for index, item in enumerate(items):
        address = recipient(item).lower()
        candidates = open_groups.setdefault(key(item), [])
        target = next((g for g in candidates if address not in members[g]), None)
        if target is None:
            target = len(groups)
            groups.append([])
            members.append(set())
            candidates.append(target)
        groups[target].append(index)
        members[target].add(address)
        if len(groups[target]) == limit:
            candidates.remove(target)
    return groups


def halves(items: Sequence[T]) -> tuple[list[T], list[T]]:
    """Return `items` split in two, the first half no shorter than the second."""
    middle = (len(items) + 1) // 2
    return list(items[:middle]), list(items[middle:])
