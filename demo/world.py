"""What every simulated agent shares: the HiveLoop client, the clock and seeded randomness."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field

import hiveloop

from demo.clock import Clock

# USD per million tokens (input, output): the demo reports some costs itself, the
# way a wrapper that reads the provider's bill would, and leaves others to HiveBoard.
PRICES = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
}


def price(model: str, tokens_in: int, tokens_out: int) -> float:
    """What the call cost, as the provider would bill it."""
    per_in, per_out = PRICES[model]
    return round((tokens_in * per_in + tokens_out * per_out) / 1_000_000, 6)


@dataclass
class World:
    """The fleet's shared state; one per process."""

    hb: hiveloop.HiveBoard
    clock: Clock
    seed: int
    log_lines: list[str] = field(default_factory=list)

    def rng(self, name: str) -> random.Random:
        """A per-agent generator: the same ``--seed`` replays the same story per agent,
        whatever order the threads happen to be scheduled in."""
        return random.Random(self.seed * 1_000_003 + zlib.crc32(name.encode()))

    def say(self, line: str) -> None:
        """Narrate a notable moment on stdout so the demo's terminal tells the story too."""
        print(f"[fleet] {line}", flush=True)
