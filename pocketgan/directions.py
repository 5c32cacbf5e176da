"""The two translation directions, as one value each.

A model folder holds G_A (A -> B) and/or G_B (B -> A); CycleGAN's D_A judges B-domain images
(the target of A -> B) and D_B judges A-domain ones. Every command that takes ``--direction``
reads its slot, folders and partner from here instead of keeping its own table.
No torch import: the CLI uses this while parsing.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import PocketganError


@dataclass(frozen=True)
class Direction:
    name: str           # "AtoB": what --direction takes
    slot: str           # the generator slot in a model folder: "G_A"
    source: str         # the input domain: "A"
    target: str         # the output domain: "B"
    discriminator: str  # CycleGAN's discriminator that judges the target domain: "D_A"

    def folders(self, split: str = "test") -> tuple[str, str]:
        """(source folder, target folder) of a dataset root, e.g. ("testA", "testB")."""
        return f"{split}{self.source}", f"{split}{self.target}"

    @property
    def other(self) -> Direction:
        return DIRECTIONS["BtoA" if self.name == "AtoB" else "AtoB"]

    @property
    def label(self) -> str:
        return f"{self.source}→{self.target}"


DIRECTIONS: dict[str, Direction] = {
    "AtoB": Direction("AtoB", "G_A", "A", "B", "D_A"),
    "BtoA": Direction("BtoA", "G_B", "B", "A", "D_B"),
}
DIRECTION_NAMES: tuple[str, ...] = tuple(DIRECTIONS)
SLOTS: dict[str, Direction] = {d.slot: d for d in DIRECTIONS.values()}


def get_direction(name: str | Direction) -> Direction:
    """``name`` ("AtoB" / "BtoA") as a :class:`Direction`; one clear error otherwise."""
    if isinstance(name, Direction):
        return name
    try:
        return DIRECTIONS[name]
    except (KeyError, TypeError):
        raise PocketganError(f"direction must be {' or '.join(DIRECTION_NAMES)} (got {name!r})") from None
