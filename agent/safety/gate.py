"""The crisis gate: the first node of every turn. Reads risk of suicide or self-harm, harm to
others, abuse and medical emergency in the current user turn *in the context of the
conversation*, answers a risky turn with a reviewed safe-messaging reply, and checks replies
before they are sent.

How a turn is scored (``assess``):

1. Rules (``agent.safety.signals``) on the current turn: direct statements and indirect signals
   (means, plans, farewells, giving things away, hopelessness, timing), damped by guards
   (fiction, jokes, hyperbole, history, accidents).
2. Context: the rule readings of the last ``context_turns`` user turns, decayed by 0.8 per turn
   back, join the current turn's by noisy-or per category. They count fully only when the current
   turn carries a signal of its own ("pills" two turns ago + "tonight's the night" now is risk);
   otherwise at 35 %, so that a person who said they are safe now is not answered with the crisis
   text forever.
3. Models: logistic regression on the current turn's MiniLM vector (``agent.safety.model``)
   and on its character n-grams (``agent.safety.charmodel``, robust to typos and slang), and
   MiniLM's upper layers fine-tuned over the lower-layer states of the current turn and the
   turns before it (``agent.safety.tuned``, the one model that reads the context). Their class
   probabilities are mixed (``shares``), P(risk) = 1 - P(none), and guards damp it (lower, never
   veto). The damped P(risk) is *calibrated* so that the recall-oriented ``model_threshold``
   maps to 0.5: the models alone fire at that threshold, and below it still lift a weak rule
   signal by noisy-or. The rules' reading of the current turn enters scaled by ``rule_weight``
   and their context part (step 2) by ``context_weight`` (below 1 a weak rule signal needs the
   models' support). ``model_threshold``, ``shares`` and both weights were chosen by grouped
   cross-validation on the tuning data only (``agent/artefacts/safety/fusion.json``, written by
   ``python -m agent.safety.train``).

``risk = score >= threshold`` (``settings.safety.threshold``, 0.5): a strong rule signal OR a
model score over its threshold OR a weak rule and a weaker model together. Rules and the n-gram
model cost about a millisecond; the MiniLM models cost one lower-layer pass, shared with the
perceivers when the gate is given the turn encoder (its cache then serves ``perceive``), plus the
upper layers.

>>> gate = CrisisGate(model=None)
>>> v = gate.assess([Utterance("user", "I've been saving my pills."), Utterance("assistant", "Why?"),
...                  Utterance("user", "Tonight's the night.")])
>>> v.risk, v.category
(True, 'suicide_self_harm')
>>> "988" in gate.crisis_reply(v, []).split(".")[0]
True
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.records import SafetyVerdict, Utterance
from agent.safety.charmodel import CHAR_ARTEFACT, CharRiskModel
from agent.safety.model import ARTEFACT, FUSION, RiskModel
from agent.safety.output_check import check_reply_text
from agent.safety.signals import ABUSE, CATEGORIES, GUARDS, MEDICAL, noisy_or, normalise, read_signals
from agent.safety.tuned import TUNED_DIR, TunedRiskModel

MODEL_NAMES = ("embedding", "char", "tuned")
CONTEXT_DECAY = 0.8
QUIET_CONTEXT = 0.35
"""Share of the context that counts when the current turn carries no signal of its own."""
OWN_SIGNAL = 0.2

_CHILD = re.compile(
    r"\bi'?m (?:[5-9]|1[0-7])\b|\b(?:[5-9]|1[0-7]) (?:years|yrs) old\b|\b(?:my )?(?:teacher|coach|school|stepdad|stepmom|"
    r"step ?(?:father|mother)|mom'?s boyfriend|mum'?s boyfriend|babysitter|nanny|parents?)\b")

Embed = Callable[[list[str]], np.ndarray]

_UNSET: Any = object()


class CrisisGate:
    """Rule + model crisis classifier with safe-messaging replies (implements ``SafetyGate``).

    ``encoder``: the shared ``SplitTurnEncoder`` (its cache then serves the perceivers; its
    lower-layer states feed the fine-tuned model), or anything with ``encode_texts(list[str])``
    or ``encode(list[str])`` for the vector model alone; ``None`` builds a split encoder lazily.
    ``model=None`` runs the rules alone (the n-gram and fine-tuned models too are then off unless
    given). ``model_threshold``, ``shares`` and ``rule_weight`` default to the trained
    ``fusion.json``; a model without an artefact drops out of the mix and the others' shares are
    renormalised.
    """

    def __init__(self, *, locale: str = "US", threshold: float = 0.5,
                 resources: Mapping[str, str] | None = None, model: RiskModel | None = _UNSET,
                 char_model: CharRiskModel | None = _UNSET, tuned_model: TunedRiskModel | None = _UNSET,
                 encoder: Any = None, model_weight: float = 1.0, model_threshold: float | None = None,
                 shares: Mapping[str, float] | None = None, rule_weight: float | None = None,
                 context_weight: float | None = None, context_turns: int = 4, texts: Mapping[str, Any] | None = None) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"safety threshold must be in (0, 1], got {threshold!r}")
        if not 0.0 <= model_weight <= 1.0:
            raise ValueError(f"model_weight must be in [0, 1], got {model_weight!r}")
        self.threshold = float(threshold)
        self.model = RiskModel.load() if model is _UNSET else model
        if char_model is _UNSET:
            char_model = CharRiskModel.load() if self.model is not None and _char_artefact_exists() else None
        self.char_model = char_model
        if tuned_model is _UNSET:
            tuned_model = _load_tuned() if self.model is not None else None
        self.tuned_model = tuned_model
        fusion = _fusion_defaults()
        self.model_threshold = float(fusion["model_threshold"] if model_threshold is None else model_threshold)
        # The fused rule weights assume the models are there; alone, the rules count fully.
        self.rule_weight = float((fusion.get("rule_weight", 1.0) if self._models() else 1.0)
                                 if rule_weight is None else rule_weight)
        self.context_weight = float((fusion.get("context_weight", 1.0) if self._models() else 1.0)
                                    if context_weight is None else context_weight)
        self.shares = {k: float(v) for k, v in (fusion["shares"] if shares is None else shares).items()}
        if not 0.0 < self.model_threshold < 1.0:
            raise ValueError(f"model_threshold must be in (0, 1), got {self.model_threshold!r}")
        for name in ("rule_weight", "context_weight"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        if any(k not in MODEL_NAMES or v < 0 for k, v in self.shares.items()):
            raise ValueError(f"shares must map {MODEL_NAMES} to non-negative numbers, got {self.shares!r}")
        self.model_weight = model_weight
        self.context_turns = max(0, int(context_turns))
        self._encoder = encoder
        if texts is None:
            import prompts

            texts = prompts.load_yaml("crisis.yaml")
        self.texts = texts
        self.locale = self._locale_key(locale)
        self.resources = dict(resources or {})

    # -- assess -------------------------------------------------------------------------------

    def assess(self, dialogue: Sequence[Utterance]) -> SafetyVerdict:
        """Risk reading of the current (last) user turn in the context of the conversation."""
        if not dialogue:
            raise ValueError("assess needs a dialogue ending with the current user turn")
        text = dialogue[-1].text
        current, context, signals = self.rule_parts(dialogue)
        # The weights demote the rules' readings, which the models read better in CV.
        scores = {c: noisy_or([self.rule_weight * current[c], self.context_weight * context[c]]) for c in current}
        if self.model_weight > 0 and self._models():
            probs = self.model_probs(dialogue)
            model_score, model_category, p_risk = fuse_model(probs, text, self.model_threshold)
            scores[model_category] = noisy_or([scores[model_category], self.model_weight * model_score])
            if model_score >= 0.1:
                signals.append(f"model:{model_category}={p_risk:.2f}")
        category = max(scores, key=scores.get)
        score = round(float(scores[category]), 4)
        risk = score >= self.threshold
        resource = self.resource_for(category, text) if risk else None
        return SafetyVerdict(risk=risk, category=category if risk else None, score=score,
                             signals=tuple(dict.fromkeys(signals)), resource=resource)

    def rule_parts(self, dialogue: Sequence[Utterance]) -> tuple[dict[str, float], dict[str, float], list[str]]:
        """The rules' reading of the current turn alone, and what the earlier user turns add
        (decayed per turn back, at ``QUIET_CONTEXT`` when the current turn has no signal of its
        own), per category; and the signal names."""
        reading = read_signals(dialogue[-1].text)
        current = reading.category_scores()
        context = dict.fromkeys(current, 0.0)
        signals = [s.name for s in reading.signals if s.weight > 0.05]
        earlier = [u.text for u in dialogue[:-1] if u.role == "user"][-self.context_turns:] if self.context_turns else []
        share = 1.0 if reading.score >= OWN_SIGNAL else QUIET_CONTEXT
        for back, past in enumerate(reversed(earlier), start=1):
            past_reading = read_signals(past)
            if past_reading.score <= 0:
                continue
            factor = CONTEXT_DECAY ** back * share
            for category, value in past_reading.category_scores().items():
                if value > 0:
                    context[category] = noisy_or([context[category], value * factor])
            signals += [f"context:{s.name}" for s in past_reading.signals if s.weight > 0.05]
        return current, context, signals

    def _models(self) -> dict[str, Any]:
        models = {"embedding": self.model, "char": self.char_model, "tuned": self.tuned_model}
        return {name: m for name, m in models.items() if m is not None}

    def model_probs(self, dialogue: Sequence[Utterance] | str) -> dict[str, float]:
        """Class probabilities of the current (last) user turn: the available models mixed by
        ``shares`` (renormalised over those present; equal shares if none of them has one). A
        string is a one-turn dialogue."""
        if isinstance(dialogue, str):
            dialogue = [Utterance("user", dialogue)]
        text = dialogue[-1].text
        models = self._models()
        weights = {name: self.shares.get(name, 0.0) for name in models}
        if sum(weights.values()) <= 0:
            weights = dict.fromkeys(models, 1.0)
        total = sum(weights.values())
        parts = []
        for name, w in weights.items():
            if w <= 0:
                continue
            if name == "embedding":
                probs = self.model.predict(self._vector(text))
            elif name == "char":
                probs = self.char_model.predict(text)
            else:
                recent = list(dialogue)[-(self.tuned_model.context_turns + 1):]
                probs = self.tuned_model.predict(self._lower([u.text for u in recent]),
                                                 [0 if u.role == "user" else 1 for u in recent])
            parts.append((w / total, probs))
        classes = parts[0][1].keys()
        return {c: sum(w * p.get(c, 0.0) for w, p in parts) for c in classes}

    def model_reading(self, dialogue: Sequence[Utterance] | str) -> tuple[float, str, float]:
        """The models alone on the current turn: (calibrated score, risk category, raw P(risk))."""
        text = dialogue if isinstance(dialogue, str) else dialogue[-1].text
        return fuse_model(self.model_probs(dialogue), text, self.model_threshold)

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from agent.perception.encoder import SplitTurnEncoder

            self._encoder = SplitTurnEncoder()
        return self._encoder

    def _vector(self, text: str) -> np.ndarray:
        if hasattr(self.encoder, "encode_texts"):
            return np.asarray(self.encoder.encode_texts([text])[0])
        return np.asarray(self.encoder.encode([text])[0])

    def _lower(self, texts: list[str]) -> list[np.ndarray]:
        # The split encoder's cache holds the turns' lower states (the vector model's pass and the
        # earlier turns made them); another encoder has none, so the split MiniLM computes them.
        if hasattr(self.encoder, "states"):
            return [s for s, _ in self.encoder.states(texts)]
        from agent.perception.encoder import SplitMiniLM

        return SplitMiniLM.shared().lower(texts)

    # -- crisis reply -------------------------------------------------------------------------

    def crisis_reply(self, verdict: SafetyVerdict, dialogue: Sequence[Utterance]) -> str:
        """The reviewed reply for the verdict's category, with the locale's resource in its first
        sentence and the emergency number in the second. A verdict without a category (the
        graph should not ask) gets the suicide/self-harm reply, the safest default."""
        category = verdict.category if verdict.category in CATEGORIES else CATEGORIES[0]
        variants = self.texts["replies"][category]
        # Vary the wording when the crisis continues over several turns, so it reads less canned.
        emergency = self._emergency()
        earlier_crisis = sum(1 for u in dialogue if u.role == "assistant" and emergency in u.text)
        template = variants[earlier_crisis % len(variants)]
        user_text = dialogue[-1].text if dialogue else ""
        resource = verdict.resource or self.resource_for(category, user_text)
        crisis_line = self.resource_for(CATEGORIES[0], user_text)
        return " ".join(template.format(resource=resource, emergency=emergency,
                                        crisis_line=crisis_line).split())

    def resource_for(self, category: str, user_text: str = "") -> str:
        """The crisis line for ``category`` in this gate's locale, after the settings' overrides
        (``"UK.abuse"`` beats ``"UK"`` beats the YAML file). Abuse disclosed by a child gets the
        child line where the locale has one."""
        keys = [category]
        if category == ABUSE and _CHILD.search(normalise(user_text)):
            keys.insert(0, "child_abuse")
        for key in keys:
            if f"{self.locale}.{key}" in self.resources:
                return self.resources[f"{self.locale}.{key}"]
        # A plain locale override replaces the crisis lines, never the emergency services that a
        # medical emergency needs ("UK.medical_emergency" can still replace those).
        if self.locale in self.resources and category != MEDICAL:
            return self.resources[self.locale]
        table = self.texts["locales"].get(self.locale) or self.texts["locales"]["default"]
        for key in keys:
            if key in table:
                return table[key]
        return self.texts["locales"]["default"][category]

    def _emergency(self) -> str:
        if f"{self.locale}.emergency" in self.resources:
            return self.resources[f"{self.locale}.emergency"]
        table = self.texts["locales"].get(self.locale) or self.texts["locales"]["default"]
        return table["emergency"]

    def _locale_key(self, locale: str) -> str:
        if not isinstance(locale, str) or not locale.strip():
            raise ValueError(f"safety locale must be a non-empty string such as 'US', got {locale!r}")
        key = locale.strip().upper().replace("_", "-")
        key = self.texts.get("aliases", {}).get(key, key)
        # Unknown locales fall back to the generic "local emergency number" texts, not an error:
        # a wrong country's hotline would be worse than a generic pointer.
        return key if key in self.texts["locales"] else "default"

    # -- output check -------------------------------------------------------------------------

    def check_reply(self, reply: str, dialogue: Sequence[Utterance]) -> SafetyVerdict:
        """``risk=True`` when a candidate reply must not be sent (see ``output_check``)."""
        return check_reply_text(reply)


def calibrate(p: float, model_threshold: float) -> float:
    """Piecewise-linear map of P(risk) that sends ``model_threshold`` to 0.5 (0 and 1 stay put),
    so that the model joins the rules on the gate's 0.5 scale. ``calibrate(0.3, 0.3) == 0.5``."""
    if p < model_threshold:
        return 0.5 * p / model_threshold
    return 0.5 + 0.5 * (p - model_threshold) / (1.0 - model_threshold)


def fuse_model(probs: Mapping[str, float], text: str, model_threshold: float) -> tuple[float, str, float]:
    """(calibrated guard-damped score, most likely risk category, raw P(risk)) from class probabilities."""
    p_risk = 1.0 - probs.get("none", 0.0)
    category = max((c for c in probs if c != "none"), key=probs.__getitem__)
    return calibrate(p_risk * _guard_factor(text, category), model_threshold), category, p_risk


def _fusion_defaults() -> dict[str, Any]:
    if FUSION.exists():
        return json.loads(FUSION.read_text(encoding="utf-8"))
    return {"model_threshold": 0.5, "rule_weight": 1.0, "shares": {name: 1.0 for name in MODEL_NAMES}}


def _load_tuned() -> TunedRiskModel | None:
    return TunedRiskModel.load() if (TUNED_DIR / "model.safetensors").exists() else None


def _char_artefact_exists() -> bool:
    return CHAR_ARTEFACT.exists()


def trained_gate_parts(folder: str | Path) -> dict[str, Any]:
    """The models and fusion of a gate trained into ``folder`` (``python -m agent.safety.train
    --out FOLDER`` writes ``risk_model.npz``, ``char_model.npz``, ``tuned/`` and ``fusion.json``),
    as keyword arguments for ``CrisisGate``. The n-gram and fine-tuned models may be absent (the
    fusion's shares are then renormalised); the vector model and the fusion may not."""
    folder = Path(folder).expanduser()
    fusion_path = folder / FUSION.name
    if not (folder / ARTEFACT.name).exists() or not fusion_path.exists():
        raise FileNotFoundError(f"no trained crisis gate in {folder} (expected {ARTEFACT.name} and {FUSION.name}, "
                                f"written by `python -m agent.safety.train --out {folder}`)")
    try:
        fusion = json.loads(fusion_path.read_text(encoding="utf-8"))
        fused = {key: fusion[key] for key in ("model_threshold", "shares")}
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{fusion_path} is not a gate fusion (model_threshold, shares): {exc}") from exc
    char_path, tuned_dir = folder / CHAR_ARTEFACT.name, folder / TUNED_DIR.name
    return {"model": RiskModel.load(folder / ARTEFACT.name),
            "char_model": CharRiskModel.load(char_path) if char_path.exists() else None,
            "tuned_model": TunedRiskModel.load(tuned_dir) if (tuned_dir / "model.safetensors").exists() else None,
            **fused, "rule_weight": fusion.get("rule_weight", 1.0), "context_weight": fusion.get("context_weight", 1.0)}


def _guard_factor(text: str, category: str) -> float:
    norm = normalise(text)
    factor = 1.0
    for _, rx, value, categories in GUARDS:
        if category in categories and rx.search(norm):
            factor *= value
    return factor


def load_safety_gate(settings: Any = None, *, encoder: Any = None) -> CrisisGate | None:
    """The gate the SDK uses, built from ``settings.safety`` (``None`` when safety is disabled).

    Pass the shared turn encoder so that the gate's one MiniLM encoding is reused by the
    perceivers. A missing shipped model artefact falls back to the rules alone rather than
    failing; ``settings.safety.model_dir`` names a retrained gate's folder instead (see
    ``trained_gate_parts``), which must hold one.
    """
    if settings is None:
        from agent.settings import Settings

        settings = Settings.load(config_file=None)
    cfg = settings.safety
    if not cfg.enabled:
        return None
    if cfg.model_dir:
        # A gate the builder trained: it must be there (falling back to rules would hide a typo).
        parts = trained_gate_parts(cfg.model_dir)
    else:
        try:
            parts = {"model": RiskModel.load()}
        except FileNotFoundError:
            parts = {"model": None}
    return CrisisGate(locale=cfg.locale, threshold=cfg.threshold, resources=cfg.resources, encoder=encoder, **parts)
