"""From the character's emotion to the emotion its reply expresses.

The transition models read the character's state as one of PELD's Ekman-7 labels. An empathetic
supporter may be sad or afraid *with* the user, but must not turn hostile on them, so the two
hostile labels are replaced, for generation only, by a supportive neighbour: **anger -> sadness**
("I'm so sorry this happened to you" rather than indignation) and **disgust -> sadness**. Fear,
sadness, surprise, joy and neutral pass unchanged. The raw label stays available to evaluation
(``TransitionReading.label``).

>>> supportive_label("anger"), supportive_label("fear")
('sadness', 'fear')
"""

from __future__ import annotations

from agent.emotions import EKMAN7

SUPPORTIVE_REPLY: dict[str, str] = {"anger": "sadness", "disgust": "sadness"}
"""Hostile Ekman labels -> the label the reply expresses instead."""


def supportive_label(label: str) -> str:
    """The Ekman-7 label the reply should express for the character's Ekman-7 ``label``."""
    if label not in EKMAN7:
        raise ValueError(f"expected an Ekman-7 label {EKMAN7}, got {label!r}")
    return SUPPORTIVE_REPLY.get(label, label)
