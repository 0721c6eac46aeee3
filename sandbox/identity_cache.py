"""A small thread-safe LRU of values computed once per object, keyed by the object's identity.

For the parent's per-problem work that every sample repeats (pickling a CallTests' inputs,
hashing a large expected output). Keyed by ``id()``: each entry holds the object itself, so
its id cannot be handed to another object while the entry lives. The objects are treated as
immutable: mutating one in place after its value was cached is not noticed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Generic, TypeVar

V = TypeVar("V")


class IdentityCache(Generic[V]):
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[int, tuple[Any, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, owner: Any, compute: Callable[[Any], V]) -> V:
        """``compute(owner)``, computed at most once while ``owner`` stays in the cache."""
        key = id(owner)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is owner:
                self._entries.move_to_end(key)
                return entry[1]
        value = compute(owner)  # outside the lock: other threads go on meanwhile
        with self._lock:
            self._entries[key] = (owner, value)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value
