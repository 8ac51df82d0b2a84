"""What the registry remembers is bounded by bytes and by time."""

from nova_docker.registry import bounded_cache


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_least_recently_used_go_first_past_the_bound():
    cache = bounded_cache.BoundedCache(100)
    cache.put('a', 'A', 40)
    cache.put('b', 'B', 40)
    assert cache.get('a') == 'A'        # a is now the most recent
    cache.put('c', 'C', 40)
    assert cache.get('b') is None
    assert cache.get('a') == 'A' and cache.get('c') == 'C'
    assert cache.size == 80


def test_an_entry_larger_than_the_bound_is_not_kept():
    cache = bounded_cache.BoundedCache(100)
    cache.put('a', 'A', 10)
    cache.put('big', 'B', 101)
    assert cache.get('big') is None
    assert cache.get('a') == 'A'


def test_a_put_again_replaces_and_counts_once():
    cache = bounded_cache.BoundedCache(100)
    cache.put('a', 'A', 60)
    cache.put('a', 'A2', 60)
    assert cache.get('a') == 'A2'
    assert cache.size == 60


def test_entries_expire():
    clock = _Clock()
    cache = bounded_cache.BoundedCache(100, ttl=1.0, clock=clock)
    cache.put('a', 'A', 10)
    clock.now = 0.5
    assert cache.get('a') == 'A'
    clock.now = 1.0
    assert cache.get('a') is None
    assert cache.size == 0


def test_many_manifests_stay_within_the_bound():
    cache = bounded_cache.BoundedCache(1000)
    for n in range(10000):
        cache.put(n, 'x', 7)
    assert cache.size <= 1000
