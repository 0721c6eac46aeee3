from __future__ import annotations

from sandbox.identity_cache import IdentityCache


def test_computes_once_per_object_and_drops_the_least_recently_used():
    calls: list[int] = []
    cache: IdentityCache[int] = IdentityCache(max_entries=2)

    def compute(values: list[int]) -> int:
        calls.append(len(values))
        return sum(values)

    a, b, c = [1], [2, 2], [3, 3, 3]
    assert cache.get(a, compute) == 1 and cache.get(b, compute) == 4
    assert cache.get(a, compute) == 1  # a is now the most recent
    assert cache.get(c, compute) == 9  # drops b
    assert cache.get(b, compute) == 4
    assert calls == [1, 2, 3, 2]


def test_equal_but_distinct_objects_are_different_entries():
    cache: IdentityCache[int] = IdentityCache(max_entries=8)
    first, second = [1, 2], [1, 2]
    assert cache.get(first, lambda _: 1) == 1
    assert cache.get(second, lambda _: 2) == 2
    assert cache.get(first, lambda _: 3) == 1
