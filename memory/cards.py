"""Character cards: a character and its first memories in one YAML or JSON file.

    name: Mira
    profile: A retired lighthouse keeper who now volunteers at a listening line.
    traits: {openness: 0.7, conscientiousness: 0.8, extraversion: 0.4, agreeableness: 0.9, neuroticism: 0.2}
    facts:                      # optional: profile memories (no emotion)
      - I live in a small house by the harbour.
    experiences:                # optional: memories that carried an emotion
      - text: My brother was lost at sea when I was nineteen.
        emotion: devastated     # an ED-32, Ekman-7 or ESConv label, or "neutral"

All five Big-Five traits are required, each a number in [0, 1]; a missing, unknown or
out-of-range trait, an unknown emotion or an empty text raises ``CardError`` (a ``ValueError``)
naming the file and the field.

- ``load_card(path) -> (Character, [MemoryUnit])``: the units have ``character_id=""`` until the
  character is stored.
- ``install_card(path, store, memory) -> (Character, added)``: stores the character (updating the
  one with the same name, so re-installing a card is idempotent) and adds its memories through
  ``CharacterMemory.add`` (duplicates skipped, index updated).

>>> character, memories = load_card(CARDS_DIR / "mira.yaml")
>>> character.name, memories[0].kind
('Mira', 'profile')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.records import BIG_FIVE, Character, MemoryUnit, Traits
from agent.store.base import NotFound, Store
from memory.emotion import known_label

CARDS_DIR = Path(__file__).parent / "cards"
"""The example cards shipped with the package."""


class CardError(ValueError):
    """A character card that cannot be used (the message names the file and the field)."""


def read_card(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise CardError(f"character card not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # both parsers raise their own types
        raise CardError(f"cannot parse character card {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CardError(f"character card {path} must hold a mapping at the top level")
    return data


def parse_card(data: dict[str, Any], source: str = "card") -> tuple[Character, list[MemoryUnit]]:
    """Validate a card's data; see the module docstring for the layout."""
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CardError(f"{source}: 'name' is required and must be a non-empty text")
    profile = data.get("profile", "") or ""
    if not isinstance(profile, str):
        raise CardError(f"{source}: 'profile' must be a text")
    traits = data.get("traits")
    if not isinstance(traits, dict):
        raise CardError(f"{source}: 'traits' is required: a mapping of the Big Five {list(BIG_FIVE)} to [0, 1]")
    missing = [t for t in BIG_FIVE if t not in traits]
    unknown = sorted(set(traits) - set(BIG_FIVE))
    if missing or unknown:
        raise CardError(f"{source}: traits missing {missing} / unknown {unknown}; expected exactly {list(BIG_FIVE)}")
    try:
        traits_obj = Traits(**{t: traits[t] for t in BIG_FIVE})
    except ValueError as exc:
        raise CardError(f"{source}: {exc}") from exc
    character = Character(name=name.strip(), profile=profile.strip(), traits=traits_obj)

    memories: list[MemoryUnit] = []
    for i, fact in enumerate(_list(data, "facts", source)):
        if not isinstance(fact, str) or not fact.strip():
            raise CardError(f"{source}: facts[{i}] must be a non-empty text")
        memories.append(MemoryUnit(character_id="", kind="profile", text=fact.strip()))
    for i, exp in enumerate(_list(data, "experiences", source)):
        if isinstance(exp, str):
            exp = {"text": exp}
        if not isinstance(exp, dict) or not isinstance(exp.get("text"), str) or not exp["text"].strip():
            raise CardError(f"{source}: experiences[{i}] needs a non-empty 'text'")
        emotion = exp.get("emotion")
        if emotion is not None and (not isinstance(emotion, str) or not known_label(emotion)):
            raise CardError(f"{source}: experiences[{i}] has unknown emotion {emotion!r} "
                            "(use an EmpatheticDialogues, Ekman or ESConv label, or 'neutral')")
        memories.append(MemoryUnit(character_id="", kind="experience", text=exp["text"].strip(),
                                   emotion=emotion.strip().lower() if emotion else None))
    return character, memories


def _list(data: dict[str, Any], key: str, source: str) -> list:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise CardError(f"{source}: '{key}' must be a list")
    return value


def load_card(path: str | Path) -> tuple[Character, list[MemoryUnit]]:
    """Read and validate a YAML (.yaml/.yml) or JSON card."""
    return parse_card(read_card(path), source=str(path))


def install_card(path: str | Path, store: Store, memory) -> tuple[Character, list[MemoryUnit]]:
    """Store the card's character (same name: updated in place) and add its memories.

    ``memory`` is a ``memory.CharacterMemory``. Returns the stored character and the memories
    actually added (none when the card was installed before).
    """
    character, units = load_card(path)
    try:
        existing = store.get_character(character.name)
        character = Character(name=character.name, profile=character.profile,
                              traits=character.traits, id=existing.id)
    except NotFound:
        pass
    character = store.save_character(character)
    added = memory.add(character.id, units) if units else []
    return character, added
