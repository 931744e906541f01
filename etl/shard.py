"""A shard of a job: the keys whose remainder modulo `count` is `index`.

N processes on N machines (pods), each given its own `--shard I/N`, carry one job without talking
to each other: a shard has its own watermark row and its own lock, and no two shards ever read or
write the same key. The whole job is the shard 0/1, whose label is "" (its watermark row is the
one an unsharded job always had).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from etl.errors import ConfigError

_LABEL = re.compile(r"(\d{1,4})/(\d{1,4})")
# The largest shard count: beyond it a shard's share of the index scan is mostly other shards' keys.
MAX_SHARDS = 1024


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS or not 0 <= self.index < self.count:
            raise ConfigError(f"a shard is I/N with 0 <= I < N <= {MAX_SHARDS}, not {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`3/8`: the fourth of eight shards."""
        match = _LABEL.fullmatch(text.strip())
        if match is None:
            raise ConfigError(f"a shard is I/N (e.g. 3/8: the keys whose remainder modulo 8 is 3), not {text!r}")
        return cls(int(match[1]), int(match[2]))

    @property
    def whole(self) -> bool:
        return self.count == 1

    @property
    def label(self) -> str:
        """How the target's bookkeeping names it: "" for the whole job, else "I/N"."""
        return "" if self.whole else f"{self.index}/{self.count}"

    @property
    def partition(self) -> tuple[int, int] | None:
        """(remainder, modulus) of the keys it reads; None: every key."""
        return None if self.whole else (self.index, self.count)

    def split(self, part: int, parts: int) -> tuple[int, int]:
        """Worker `part` of `parts` within this shard: key % (count * parts) == index + count * part
        selects exactly this shard's keys (key % count == index) when taken over every part."""
        return self.index + self.count * part, self.count * parts


WHOLE = Shard()
