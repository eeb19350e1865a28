"""Emotion label sets used across the project, and the mapping between them.

- ``ED32``: the 32 EmpatheticDialogues emotions (the detector's output space).
- ``EKMAN7``: Ekman's six basic emotions plus neutral (PELD's and MELD's labels; the coarse space).
- ``ESCONV_EMOTIONS``: the seeker emotion types found in ESConv.

``ED32_TO_EKMAN`` is this project's own mapping (each ED emotion to the basic emotion of its family;
ED's positive social emotions such as *caring* or *grateful* go to joy, *prepared* to neutral).

>>> coarse("terrified"), coarse("grateful"), len(ED32)
('fear', 'joy', 32)
"""

from __future__ import annotations

ED32: tuple[str, ...] = (
    "afraid", "angry", "annoyed", "anticipating", "anxious", "apprehensive", "ashamed", "caring",
    "confident", "content", "devastated", "disappointed", "disgusted", "embarrassed", "excited",
    "faithful", "furious", "grateful", "guilty", "hopeful", "impressed", "jealous", "joyful",
    "lonely", "nostalgic", "prepared", "proud", "sad", "sentimental", "surprised", "terrified",
    "trusting",
)

EKMAN7: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")

ESCONV_EMOTIONS: tuple[str, ...] = ("anger", "anxiety", "depression", "disgust", "fear", "guilt",
                                    "jealousy", "nervousness", "pain", "sadness", "shame")

ED32_TO_EKMAN: dict[str, str] = {
    "afraid": "fear", "angry": "anger", "annoyed": "anger", "anticipating": "joy",
    "anxious": "fear", "apprehensive": "fear", "ashamed": "sadness", "caring": "joy",
    "confident": "joy", "content": "joy", "devastated": "sadness", "disappointed": "sadness",
    "disgusted": "disgust", "embarrassed": "sadness", "excited": "joy", "faithful": "joy",
    "furious": "anger", "grateful": "joy", "guilty": "sadness", "hopeful": "joy",
    "impressed": "surprise", "jealous": "anger", "joyful": "joy", "lonely": "sadness",
    "nostalgic": "sadness", "prepared": "neutral", "proud": "joy", "sad": "sadness",
    "sentimental": "sadness", "surprised": "surprise", "terrified": "fear", "trusting": "joy",
}

ESCONV_TO_EKMAN: dict[str, str] = {
    "anger": "anger", "anxiety": "fear", "depression": "sadness", "disgust": "disgust",
    "fear": "fear", "guilt": "sadness", "jealousy": "anger", "nervousness": "fear",
    "pain": "sadness", "sadness": "sadness", "shame": "sadness",
}


def coarse(label: str) -> str:
    """The Ekman-7 label for an ED, ESConv or Ekman label; raises ``ValueError`` if unknown."""
    key = label.strip().lower()
    if key in EKMAN7:
        return key
    if key in ED32_TO_EKMAN:
        return ED32_TO_EKMAN[key]
    if key in ESCONV_TO_EKMAN:
        return ESCONV_TO_EKMAN[key]
    raise ValueError(f"unknown emotion label {label!r}")
