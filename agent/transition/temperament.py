"""Big-Five traits -> Mehrabian's PAD temperament, the personality input of the transition model.

Mehrabian (1996, "Analysis of the Big-Five personality factors in terms of the PAD temperament
model", *Australian Journal of Psychology* 48(2)) regressed temperament on the Big Five:

    pleasure    = 0.21 E + 0.59 A + 0.19 S
    arousability = 0.15 O + 0.30 A - 0.57 S
    dominance   = 0.25 O + 0.17 C + 0.60 E - 0.32 A

where S is **emotional stability**, the reverse of neuroticism. Our traits are in [0, 1] with
0.5 as average, so each trait x is first centred to 2x - 1 in [-1, 1], and S = -(2N - 1): a
neurotic character has a lower pleasure and a higher arousability temperament (the sign choice
asked for in ``methods.md``). The result is clipped to [-1, 1]; average traits give (0, 0, 0).

>>> temperament(Traits(neuroticism=1.0))
(-0.19, 0.57, 0.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agent.records import BIG_FIVE, Traits

Point = tuple[float, float, float]


def as_traits(traits: Any) -> Traits:
    """A validated ``Traits`` from a ``Traits``, a mapping with all five names, or 5 numbers (O, C, E, A, N).

    Missing or unknown names, values outside [0, 1] and NaN raise ``ValueError``.

    >>> as_traits([0.5, 0.5, 0.5, 0.9, 0.1]).agreeableness
    0.9
    """
    if isinstance(traits, Traits):
        return traits
    if isinstance(traits, Mapping):
        missing, unknown = set(BIG_FIVE) - set(traits), set(traits) - set(BIG_FIVE)
        if missing or unknown:
            raise ValueError(f"traits need exactly {list(BIG_FIVE)}; missing {sorted(missing)}, "
                             f"unknown {sorted(unknown)}")
        return Traits(**{k: traits[k] for k in BIG_FIVE})
    if isinstance(traits, Sequence) and not isinstance(traits, str):
        if len(traits) != 5:
            raise ValueError(f"traits need 5 values (O, C, E, A, N), got {len(traits)}")
        return Traits(*traits)
    raise ValueError(f"traits must be a Traits, a mapping or 5 numbers, got {type(traits).__name__}")


def temperament(traits: Traits) -> Point:
    """Mehrabian's (pleasure, arousability, dominance) temperament of ``traits``, each in [-1, 1]."""
    o, c, e, a, n = (2.0 * x - 1.0 for x in as_traits(traits).as_tuple())
    stability = -n
    pad = (0.21 * e + 0.59 * a + 0.19 * stability,
           0.15 * o + 0.30 * a - 0.57 * stability,
           0.25 * o + 0.17 * c + 0.60 * e - 0.32 * a)
    return tuple(round(max(-1.0, min(1.0, x)), 6) for x in pad)  # type: ignore[return-value]
