"""Token pairs of a synthetic market, shared by the pool-scan benchmarks."""

from __future__ import annotations

import random
from collections.abc import Sequence


class PairSet:
    """Unordered token pairs in the order first added, without repeats or a token paired with itself."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []
        self._seen: set[tuple[str, str]] = set()

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[str, str]:
        return self.pairs[index]

    def add(self, a: str, b: str) -> None:
        key = (a, b) if a < b else (b, a)
        if a != b and key not in self._seen:
            self._seen.add(key)
            self.pairs.append(key)


def random_pairs(rng: random.Random, bases: Sequence[str], tokens: Sequence[str]) -> PairSet:
    """Every pair of base tokens, then each token paired with one to four random bases."""
    pairs = PairSet()
    for i, a in enumerate(bases):
        for b in bases[i + 1 :]:
            pairs.add(a, b)
    for token in tokens:
        for base in rng.sample(bases, rng.choice((1, 1, 2, 2, 3, 4))):
            pairs.add(token, base)
    return pairs
