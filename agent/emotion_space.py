"""Valence-Arousal-Dominance (VAD) coordinates for every emotion label the project uses, and the
conversions between labels and points.

Contract: every coordinate lies in [-1, 1]; ``vad_of(label)`` knows the labels of ``EKMAN7``,
``ED32`` and ``ESCONV_EMOTIONS`` (``agent.emotions``) and raises ``ValueError`` for any other;
``nearest_label(point, labels)`` returns the label of that set whose point is closest (Euclidean);
``expected_vad(distribution)`` is the probability-weighted mean point of a ``[(label, p), ...]``
list (weights renormalised; negative, NaN or all-zero weights raise ``ValueError``).

>>> vad_of("joy")
(0.81, 0.51, 0.46)
>>> nearest_label((-0.6, -0.3, -0.3), EKMAN7)
'sadness'
>>> expected_vad([("joy", 0.5), ("neutral", 0.5)])
(0.405, 0.255, 0.23)

Where each number comes from
----------------------------
Three sources, in this order of preference; ``VAD_SOURCE[label]`` records which one applies.

1. **PELD** (Wen et al., Findings of ACL 2021), the seven Ekman-7 points the transition model is
   trained against (``../shared/docs/methods.md`` section 6). Six of them are Russell & Mehrabian's
   values for *angry*, *disgust*, *happy*, *sad* and *surprised* (and their fear point has a higher
   arousal, 0.82, than R&M's *fearful*); *neutral* is the origin. ESConv's ``anger``, ``disgust``,
   ``fear`` and ``sadness`` reuse these points, so one label has one point everywhere.
2. **R&M 1977**: J. A. Russell and A. Mehrabian, "Evidence for a three-factor theory of emotions",
   *Journal of Research in Personality* 11 (1977) 273-294, which scaled the mean pleasure, arousal
   and dominance ratings of 151 emotion terms to [-1, 1]. The terms used here (number in the
   table, P / A / D): 8 interested .64/.51/.17, 18 hopeful .51/.23/.14, 31 happy .81/.51/.46,
   33 carefree .78/.25/.41, 44 thankful .61/.10/-.13, 45 respectful .38/.13/-.08,
   52 surprised .40/.67/-.13, 60 untroubled .79/-.01/.33, 75 disgust -.60/.35/.11,
   82 angry -.51/.59/.25, 99 humiliated -.63/.43/-.38, 101 fearful -.64/.60/-.43,
   108 shamed -.57/.01/-.34, 109 displeased -.55/.16/-.05, 117 shy -.15/.06/-.34,
   123 regretful -.52/.02/-.21, 150 discouraged -.61/-.15/-.29, 151 sad -.63/-.27/-.33.
3. **ALMA**: P. Gebhard, "ALMA - a layered model of affect", AAMAS 2005, Table 1, which places the
   OCC emotions in PAD space from Mehrabian's data: admiration .5/.3/-.2, disappointment
   -.3/.1/-.4, distress -.4/-.2/-.5, fears-confirmed -.5/-.3/-.7, liking .40/.16/-.24,
   love .3/.1/.2, pride .4/.3/.3, remorse -.3/.1/-.6, resentment -.2/-.3/-.2 (OCC's displeasure
   at another's good fortune, i.e. envy), satisfaction .3/-.2/.4.

A label that neither table names is **derived** from those values, and ``VAD_SOURCE`` says how:
an intensity variant scales its base term (``furious`` = 1.25 x *angry*, ``terrified`` = 1.25 x
*fearful*, ``depression`` = 1.2 x *sad*, ``anxious``/``anxiety`` = 0.75 x *fearful*,
``nervousness`` = 0.6 x *fearful*, ``apprehensive`` = 0.5 x *fearful*, ``prepared`` = 0.5 x
*untroubled*), and a blend is the midpoint of two terms (``embarrassed`` = shy + humiliated,
``lonely`` = sad + discouraged, ``nostalgic`` = sad + happy (bittersweet), ``sentimental`` = sad +
love, ``confident`` = carefree + pride, ``excited`` = happy + surprised), always clipped to [-1, 1].
These derivations are this project's judgement, not published ratings. The NRC VAD lexicon is
deliberately not used: its licence forbids redistribution.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from agent.emotions import ED32, EKMAN7, ESCONV_EMOTIONS

Point = tuple[float, float, float]

# -- the published values (see the module docstring for the references) --------------------------
_PELD: dict[str, Point] = {
    "anger": (-0.51, 0.59, 0.25), "disgust": (-0.60, 0.35, 0.11), "fear": (-0.62, 0.82, -0.43),
    "joy": (0.81, 0.51, 0.46), "neutral": (0.0, 0.0, 0.0), "sadness": (-0.63, -0.27, -0.33),
    "surprise": (0.40, 0.67, -0.13),
}
_RM1977: dict[str, Point] = {
    "interested": (0.64, 0.51, 0.17), "hopeful": (0.51, 0.23, 0.14), "happy": (0.81, 0.51, 0.46),
    "carefree": (0.78, 0.25, 0.41), "thankful": (0.61, 0.10, -0.13),
    "respectful": (0.38, 0.13, -0.08), "surprised": (0.40, 0.67, -0.13),
    "untroubled": (0.79, -0.01, 0.33), "disgust": (-0.60, 0.35, 0.11), "angry": (-0.51, 0.59, 0.25),
    "humiliated": (-0.63, 0.43, -0.38), "fearful": (-0.64, 0.60, -0.43),
    "shamed": (-0.57, 0.01, -0.34), "displeased": (-0.55, 0.16, -0.05), "shy": (-0.15, 0.06, -0.34),
    "regretful": (-0.52, 0.02, -0.21), "discouraged": (-0.61, -0.15, -0.29),
    "sad": (-0.63, -0.27, -0.33),
}
_ALMA: dict[str, Point] = {
    "admiration": (0.5, 0.3, -0.2), "disappointment": (-0.3, 0.1, -0.4),
    "distress": (-0.4, -0.2, -0.5), "fears-confirmed": (-0.5, -0.3, -0.7),
    "liking": (0.40, 0.16, -0.24), "love": (0.3, 0.1, 0.2), "pride": (0.4, 0.3, 0.3),
    "remorse": (-0.3, 0.1, -0.6), "resentment": (-0.2, -0.3, -0.2), "satisfaction": (0.3, -0.2, 0.4),
}
_TABLES = {"R&M 1977": _RM1977, "ALMA": _ALMA}


def _ref(table: str, term: str) -> tuple[Point, str]:
    return _TABLES[table][term], f"{table}: {term}"


def _scaled(table: str, term: str, factor: float) -> tuple[Point, str]:
    point = tuple(_clip(factor * x) for x in _TABLES[table][term])
    return point, f"derived: {factor:g} x {table} {term}"  # type: ignore[return-value]


def _midpoint(a: tuple[str, str], b: tuple[str, str]) -> tuple[Point, str]:
    pa, pb = _TABLES[a[0]][a[1]], _TABLES[b[0]][b[1]]
    point = tuple(round((x + y) / 2, 4) for x, y in zip(pa, pb))
    return point, f"derived: midpoint of {a[0]} {a[1]} and {b[0]} {b[1]}"  # type: ignore[return-value]


def _clip(x: float) -> float:
    return round(max(-1.0, min(1.0, x)), 4)


_RM, _AL = "R&M 1977", "ALMA"
_ED32_POINTS: dict[str, tuple[Point, str]] = {
    "afraid": _ref(_RM, "fearful"),
    "angry": _ref(_RM, "angry"),
    "annoyed": _ref(_RM, "displeased"),
    "anticipating": _ref(_RM, "interested"),
    "anxious": _scaled(_RM, "fearful", 0.75),
    "apprehensive": _scaled(_RM, "fearful", 0.5),
    "ashamed": _ref(_RM, "shamed"),
    "caring": _ref(_AL, "love"),
    "confident": _midpoint((_RM, "carefree"), (_AL, "pride")),
    "content": _ref(_AL, "satisfaction"),
    "devastated": _ref(_AL, "fears-confirmed"),
    "disappointed": _ref(_AL, "disappointment"),
    "disgusted": _ref(_RM, "disgust"),
    "embarrassed": _midpoint((_RM, "shy"), (_RM, "humiliated")),
    "excited": _midpoint((_RM, "happy"), (_RM, "surprised")),
    "faithful": _ref(_RM, "respectful"),
    "furious": _scaled(_RM, "angry", 1.25),
    "grateful": _ref(_RM, "thankful"),
    "guilty": _ref(_AL, "remorse"),
    "hopeful": _ref(_RM, "hopeful"),
    "impressed": _ref(_AL, "admiration"),
    "jealous": _ref(_AL, "resentment"),
    "joyful": _ref(_RM, "happy"),
    "lonely": _midpoint((_RM, "sad"), (_RM, "discouraged")),
    "nostalgic": _midpoint((_RM, "sad"), (_RM, "happy")),
    "prepared": _scaled(_RM, "untroubled", 0.5),
    "proud": _ref(_AL, "pride"),
    "sad": _ref(_RM, "sad"),
    "sentimental": _midpoint((_RM, "sad"), (_AL, "love")),
    "surprised": _ref(_RM, "surprised"),
    "terrified": _scaled(_RM, "fearful", 1.25),
    "trusting": _ref(_AL, "liking"),
}
_ESCONV_POINTS: dict[str, tuple[Point, str]] = {
    "anxiety": _ED32_POINTS["anxious"],
    "depression": _scaled(_RM, "sad", 1.2),
    "guilt": _ref(_AL, "remorse"),
    "jealousy": _ref(_AL, "resentment"),
    "nervousness": _scaled(_RM, "fearful", 0.6),
    "pain": _ref(_AL, "distress"),
    "shame": _ref(_RM, "shamed"),
}

VAD_TABLE: dict[str, Point] = {}
"""label -> (valence, arousal, dominance) for every Ekman-7, ED32 and ESConv label."""
VAD_SOURCE: dict[str, str] = {}
"""label -> where its point comes from ("PELD", "R&M 1977: term", "ALMA: term" or "derived: ...")."""

for _label, _point in _PELD.items():
    VAD_TABLE[_label], VAD_SOURCE[_label] = _point, "PELD (Ekman-7 point)"
for _label, (_point, _source) in {**_ED32_POINTS, **_ESCONV_POINTS}.items():
    VAD_TABLE[_label], VAD_SOURCE[_label] = _point, _source

# ESConv's anger/disgust/fear/sadness are Ekman labels and keep PELD's point.
assert set(ED32) | set(EKMAN7) | set(ESCONV_EMOTIONS) == set(VAD_TABLE), "a label has no VAD point"
assert all(-1.0 <= x <= 1.0 for p in VAD_TABLE.values() for x in p)


def _key(label: str) -> str:
    if not isinstance(label, str):
        raise ValueError(f"an emotion label must be a string, got {label!r}")
    key = label.strip().lower()
    if key not in VAD_TABLE:
        raise ValueError(f"unknown emotion label {label!r}; known: Ekman-7, ED32 and ESConv labels")
    return key


def vad_of(label: str) -> Point:
    """The VAD point of an Ekman-7, ED32 or ESConv label (case-insensitive); ``ValueError`` if unknown.

    >>> vad_of("Furious")
    (-0.6375, 0.7375, 0.3125)
    """
    return VAD_TABLE[_key(label)]


def nearest_label(point: Sequence[float], labels: Iterable[str] = EKMAN7) -> str:
    """The label of ``labels`` whose VAD point is closest to ``point`` (Euclidean; ties: first).

    A point with a NaN or infinite coordinate raises ``ValueError`` (there is no nearest label).

    >>> nearest_label((0.7, 0.4, 0.4))
    'joy'
    """
    p = _finite_point(point)
    names = [_key(label) for label in labels]
    if not names:
        raise ValueError("nearest_label needs at least one candidate label")
    return min(names, key=lambda n: math.dist(p, VAD_TABLE[n]))


def expected_vad(distribution: Iterable[tuple[str, float]]) -> Point:
    """The probability-weighted mean VAD point of ``[(label, p), ...]``; weights are renormalised.

    >>> expected_vad([("sadness", 1.0), ("neutral", 1.0)])
    (-0.315, -0.135, -0.165)
    """
    pairs = [(_key(label), float(p)) for label, p in distribution]
    if any(not math.isfinite(p) or p < 0 for _, p in pairs):
        raise ValueError(f"probabilities must be finite and non-negative, got {pairs!r}")
    total = sum(p for _, p in pairs)
    if total <= 0:
        raise ValueError("expected_vad needs a distribution with positive total probability")
    return tuple(round(sum(p * VAD_TABLE[n][i] for n, p in pairs) / total, 6)  # type: ignore[return-value]
                 for i in range(3))


def _finite_point(point: Sequence[float]) -> Point:
    values = tuple(float(x) for x in point)
    if len(values) != 3 or not all(math.isfinite(x) for x in values):
        raise ValueError(f"a VAD point needs three finite numbers, got {point!r}")
    return values  # type: ignore[return-value]


def clamp_vad(point: Sequence[float]) -> Point:
    """Clip each coordinate to [-1, 1]; a NaN or infinite coordinate raises ``ValueError``.

    >>> clamp_vad((1.4, -0.2, -3))
    (1.0, -0.2, -1.0)
    """
    return tuple(max(-1.0, min(1.0, x)) for x in _finite_point(point))  # type: ignore[return-value]
