"""The trained strategy planner: two readers of the dialogue so far, trained on ESConv by
``python -m agent.planner.train``:

- small MLPs (an ensemble of five, from different seeds, whose logits are averaged) over MiniLM
  vectors of the last utterances, the previous supporter strategies, the position in the
  conversation and the seeker's emotion (see ``agent.planner.features``);
- a linear model over the word n-grams of the last utterances and the same context features
  (``agent.planner.ngrams``), whose log-probabilities are added with the weight ``ngram_mix``.

Decoding, in order (each step documented where it is applied):

1. ``logits = mlp(x) + ngram_mix * ngrams(x, words)`` (``mlp`` the ensemble's mean),
   marginalised over the seeker's emotion type when it is uncertain (see ``emotion_mixture``):
   ``log sum_e w_e softmax(logits with type e)``;
2. calibration offsets ``logits += offsets`` (one per strategy) - the bias control that lifts the
   rare strategies (Restatement, Information, Reflection) the plain classifier starves. They
   start from the prior correction ``-0.5 * log(train prior)`` and are refined for macro-F1 with
   a penalty on the preference bias B on out-of-fold predictions for ESConv train (so valid
   stays clean); stored with the weights. Passing
   ``prior_correction=a`` replaces them by the plain prior correction ``-a * log(prior)``;
3. recency penalty: ``recency_penalty`` is subtracted from the logit of the last supporter
   turn's strategy (half of it from the one before), a decoding rule against repeating oneself;
4. temperature (fitted on the out-of-fold predictions for calibration; it never changes the argmax);
5. forbidden strategies get probability 0; the rest is renormalised.

The stage is explicit: the probability mass of each stage (Question and Restatement ->
exploration; Reflection, Self-disclosure, Affirmation -> comforting; Suggestions, Information ->
action; "Others" -> the stage its position implies), the heaviest one wins.

History rule: the planner reads the vectors of the last ``SLOTS`` (4) utterances and, when the
caller does not pass ``previous_strategies``, tags the assistant utterances among the last
``max_history`` (64) utterances to recover them; older turns only count towards the position.

>>> from agent.records import Utterance
>>> planner = TrainedPlanner.load()                                       # doctest: +SKIP
>>> planner.plan([Utterance("user", "I lost my job and feel awful.")]).strategy  # doctest: +SKIP
'Question'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agent.planner.features import (
    CONTEXT_FEATURES,
    ESCONV_EMOTIONS,
    FEATURE_DIM,
    FEATURE_VERSION,
    SLOTS,
    esconv_emotion,
    planner_features,
)
from agent.planner.ngrams import NgramReader, ngram_fields
from agent.planner.strategies import STAGES, STRATEGIES, normalise_strategy, stage_of
from agent.planner.tagger import StrategyTagger
from agent.records import CauseReading, EmotionReading, StrategyChoice, Utterance

ARTEFACT_DIR = Path(__file__).resolve().parents[1] / "artefacts" / "planner"
WEIGHTS = "planner.npz"
DEFAULT_MAX_HISTORY = 64
# Supporter turns over which "position" runs from exploration to action (ESConv dialogues hold
# about 14 supporter turns on average).
STAGE_SPAN = 15


def check_dialogue(dialogue: Sequence[Utterance]) -> None:
    """``ValueError`` for an empty dialogue or an element that is not a user/assistant Utterance."""
    if dialogue is None or len(dialogue) == 0:
        raise ValueError("the planner needs a non-empty dialogue (at least the current user turn)")
    for k, u in enumerate(dialogue):
        if not isinstance(u, Utterance) or u.role not in ("user", "assistant") or not isinstance(u.text, str):
            raise ValueError(f"dialogue[{k}] must be an Utterance with role 'user' or 'assistant', got {u!r}")


def check_forbidden(forbidden: Sequence[str]) -> set[str]:
    """Canonical names of ``forbidden``; ``ValueError`` if unknown or if all eight are forbidden."""
    if isinstance(forbidden, str):
        forbidden = (forbidden,)
    names = {normalise_strategy(s) for s in forbidden}
    if len(names) >= len(STRATEGIES):
        raise ValueError("every strategy is forbidden; at least one must stay allowed")
    return names


def position_stage(n_supporter_turns: int) -> str:
    """The stage implied by position alone (for "Others" and the stage prior)."""
    return stage_of("Others", position=min(n_supporter_turns / STAGE_SPAN, 0.999))


def stage_from_distribution(probs: np.ndarray, n_supporter_turns: int) -> str:
    """The stage holding the most probability mass ("Others" goes to the positional stage)."""
    mass = dict.fromkeys(STAGES, 0.0)
    for s, p in zip(STRATEGIES, probs):
        stage = position_stage(n_supporter_turns) if s == "Others" else stage_of(s)
        mass[stage] += float(p)
    return max(STAGES, key=lambda st: mass[st])


def mlp_logits(p: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """(n, 8) mean logits of the ensemble ``p`` (``mu``, ``sigma``; ``w1``, ``b1``, ``w2``, ``b2``
    stacked over members) for (n, FEATURE_DIM) ``rows``."""
    hidden = np.maximum((rows - p["mu"]) / p["sigma"] @ p["w1"] + p["b1"][:, None], 0.0)  # (E, n, H)
    return (hidden @ p["w2"] + p["b2"][:, None]).mean(0).astype(np.float64)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class TrainedPlanner:
    """``StrategyPlanner`` backed by the committed MLPs and n-gram reader (numpy at inference, no
    torch or scikit-learn needed).

    ``recency_penalty`` and the calibration offsets default to the values stored with the weights
    (chosen on out-of-fold predictions for ESConv train); pass ``recency_penalty`` / ``prior_correction`` to override. ``encoder`` is anything with
    ``encode_texts(list[str]) -> (n, 384)`` (default: a cached MiniLM turn encoder, built on first use).
    """

    source = "trained"

    def __init__(self, params: dict[str, np.ndarray], *, recency_penalty: float | None = None,
                 prior_correction: float | None = None, max_history: int = DEFAULT_MAX_HISTORY,
                 encoder: Any = None) -> None:
        if str(params["feature_version"]) != FEATURE_VERSION:
            raise ValueError(f"planner weights were built for {params['feature_version']}, code expects {FEATURE_VERSION}; retrain")
        if params["w1"].shape[-2] != FEATURE_DIM:
            raise ValueError(f"planner weights expect {params['w1'].shape[-2]} features, code builds {FEATURE_DIM}")
        if max_history < SLOTS:
            raise ValueError(f"max_history must be at least {SLOTS}")
        self.p = {k: np.asarray(v) for k, v in params.items()}
        for k in ("w1", "b1", "w2", "b2"):  # stored as float16 (half the size), computed in float32
            self.p[k] = self.p[k].astype(np.float32)
            if params["w1"].ndim == 2:  # one network: an ensemble of one
                self.p[k] = self.p[k][None]
        self.log_prior = np.log(self.p["prior"].astype(np.float64))
        self.prior_correction = prior_correction
        if prior_correction is None:
            self.offsets = self.p["offsets"].astype(np.float64)
        else:
            self.offsets = -float(prior_correction) * self.log_prior
        self.recency_penalty = float(self.p["recency_penalty"] if recency_penalty is None else recency_penalty)
        self.temperature = float(self.p["temperature"])
        self.max_history = max_history
        self.tagger = StrategyTagger(self.p["tagger_w"], self.p["tagger_b"])
        self.ngrams = NgramReader.from_params(self.p)
        self.ngram_mix = float(self.p.get("ngram_mix", 0.0)) if self.ngrams is not None else 0.0
        # Each emotion type's share in training: the means of the input's one-hot emotion block.
        prior = self.p["mu"][-len(ESCONV_EMOTIONS):].astype(np.float64).copy()
        prior[ESCONV_EMOTIONS.index("unknown")] = 0.0
        if not prior.sum() > 0:  # weights built without input statistics: no shares known
            prior = np.ones_like(prior)
            prior[ESCONV_EMOTIONS.index("unknown")] = 0.0
        self.emotion_prior = prior / prior.sum()
        self._encoder = encoder

    @classmethod
    def load(cls, path: str | Path | None = None, **kwargs: Any) -> TrainedPlanner:
        """The committed artefact (``agent/artefacts/planner/planner.npz``) or ``path``."""
        path = Path(path) if path else ARTEFACT_DIR / WEIGHTS
        if not path.exists():
            raise FileNotFoundError(f"planner weights not found at {path}; run `python -m agent.planner.train`")
        with np.load(path, allow_pickle=False) as data:
            params = {k: data[k] for k in data.files}
        return cls(params, **kwargs)

    # -- the network ---------------------------------------------------------------------------
    def logits(self, x: np.ndarray, fields: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        """Raw logits for a (n, FEATURE_DIM) or (FEATURE_DIM,) input: the mean over the ensemble's
        MLPs (networks trained from different seeds; averaging them steadies the rare strategies)
        plus ``ngram_mix`` times the n-gram reader's log-probabilities, which need each row's
        ``ngram_fields`` in ``fields`` (a ``ValueError`` names them when they are missing)."""
        x = np.asarray(x, np.float32)
        rows = x.reshape(-1, x.shape[-1])
        out = mlp_logits(self.p, rows)
        if self.ngram_mix:
            if fields is None:
                raise ValueError("this planner also reads the words: pass ngram_fields(context) for each row")
            out += self.ngram_mix * self.ngrams.batch_log_probs(fields, rows[:, CONTEXT_FEATURES])
        return out[0] if x.ndim == 1 else out

    def emotion_mixture(self, emotion: EmotionReading | str | None) -> np.ndarray:
        """Weights over ``ESCONV_EMOTIONS`` for the seeker's emotion type.

        The planner was trained on ESConv's survey label: one known type per dialogue, never
        "unknown" (its input column is constant in training, so feeding it would be out of
        range). The agent has only the detector's reading of the turn instead. So the mass of a
        reading that names a type (an ESConv label, or an ED label that maps to one) goes to that
        type, and the rest (positive labels, the tail beyond the top-k, no reading at all) is
        spread by each type's share in training. A gold ESConv label is thus a one-hot, as in
        training. ``mixed_logits`` then averages the planner's distribution over these weights.
        """
        n = len(ESCONV_EMOTIONS)
        prior = self.emotion_prior
        if emotion is None:
            return prior.copy()
        pairs = [(emotion, 1.0)] if isinstance(emotion, str) else list(emotion.top_k) or [(emotion.label, 1.0)]
        w = np.zeros(n)
        for label, prob in pairs:
            kind = esconv_emotion(label)
            if kind != "unknown" and np.isfinite(prob) and prob > 0:
                w[ESCONV_EMOTIONS.index(kind)] += float(prob)
        w += max(0.0, 1.0 - w.sum()) * prior
        return w / w.sum()

    def mixed_logits(self, x: np.ndarray, emotion: EmotionReading | str | None,
                     fields: Sequence[str] = ngram_fields(())) -> np.ndarray:
        """Log of the planner's distribution averaged over ``emotion_mixture(emotion)``; ``x``'s
        emotion block is overwritten per type (for a one-hot this equals the plain logits up to a
        constant, which decoding ignores). ``fields``: the turn's ``ngram_fields``."""
        p, n = self.p, len(ESCONV_EMOTIONS)
        weights = self.emotion_mixture(emotion)
        kinds = np.flatnonzero(weights > 1e-6)
        # The types differ only in one input column each, so the first layer runs once on x with
        # an empty emotion block and each type adds its column of w1 (the same sums as running
        # one row per type, at a fraction of the cost: the ensemble's w1 is the big matrix).
        x = np.asarray(x, np.float32).reshape(-1).copy()
        x[-n:] = 0.0
        base = (x - p["mu"]) / p["sigma"] @ p["w1"] + p["b1"]                          # (E, H)
        cols = FEATURE_DIM - n + kinds
        step = p["w1"][:, cols, :] / p["sigma"][cols][None, :, None]                  # (E, K, H)
        hidden = np.maximum(base[:, None, :] + step, 0.0)
        logits = (hidden @ p["w2"] + p["b2"][:, None]).mean(0).astype(np.float64)     # (K, 8)
        if self.ngram_mix:
            context = np.repeat(x[None, CONTEXT_FEATURES], len(kinds), axis=0)
            context[np.arange(len(kinds)), context.shape[1] - n + kinds] = 1.0
            logits += self.ngram_mix * self.ngrams.log_probs(fields, context)
        probs = softmax(logits)
        return np.log(np.maximum(weights[kinds] @ probs, 1e-300))

    def decode(self, logits: np.ndarray, previous: Sequence[str] = (), forbidden: set[str] = frozenset()) -> np.ndarray:
        """Calibrated distribution over ``STRATEGIES`` (steps 2-5 of the module docstring)."""
        z = logits + self.offsets
        if self.recency_penalty and previous:
            for lag, weight in ((1, 1.0), (2, 0.5)):
                if len(previous) >= lag:
                    z[STRATEGIES.index(previous[-lag])] -= weight * self.recency_penalty
        probs = softmax(z / self.temperature)
        if forbidden:
            for s in forbidden:
                probs[STRATEGIES.index(s)] = 0.0
            probs = probs / probs.sum()
        return probs

    # -- the StrategyPlanner protocol ----------------------------------------------------------
    def plan(self, dialogue: Sequence[Utterance], *, emotion: EmotionReading | None = None,
             cause: CauseReading | None = None, encoding: Any = None, forbidden: Sequence[str] = (),
             previous_strategies: Sequence[str] | None = None) -> StrategyChoice:
        """Choose the strategy of the next supporter turn.

        ``dialogue`` ends with the utterance being answered (usually the user's); a dialogue
        without any assistant turn yet is fine (no strategy history). ``previous_strategies``:
        the strategies of the earlier supporter turns, oldest first (the agent's own choices, as
        the store keeps them); when None, they are tagged from the assistant utterances.
        ``encoding``: a ``TurnEncoding`` whose ``utterances`` are the vectors of the last
        utterances (reused instead of re-encoding). ``cause`` is accepted for the protocol and
        not used by this model. ``forbidden`` strategies are never returned.
        """
        check_dialogue(dialogue)
        banned = check_forbidden(forbidden)
        probs, n_sys = self._distribution(dialogue, emotion, encoding, previous_strategies, banned)
        best = int(np.argmax(probs))
        return StrategyChoice(strategy=STRATEGIES[best], stage=stage_from_distribution(probs, n_sys),
                              distribution=tuple((s, round(float(p), 4)) for s, p in zip(STRATEGIES, probs)),
                              source=self.source)

    def plan_opening(self, *, emotion: EmotionReading | None = None, forbidden: Sequence[str] = ()) -> StrategyChoice:
        """The strategy for a supporter who speaks first (no dialogue at all; ESConv has such
        turns, the agent itself always answers a user turn)."""
        banned = check_forbidden(forbidden)
        x = planner_features(np.zeros((0, 384), np.float32), (), (), None, n_utterances=0)
        probs = self.decode(self.mixed_logits(x, emotion), (), banned)
        best = int(np.argmax(probs))
        return StrategyChoice(strategy=STRATEGIES[best], stage=stage_from_distribution(probs, 0),
                              distribution=tuple((s, round(float(p), 4)) for s, p in zip(STRATEGIES, probs)),
                              source=self.source)

    # -- internals -----------------------------------------------------------------------------
    def _distribution(self, dialogue, emotion, encoding, previous_strategies, banned):
        window = list(dialogue[-self.max_history:])
        need = len(window) if previous_strategies is None else min(SLOTS, len(window))
        vectors = self._vectors(window, need, encoding)
        if previous_strategies is None:
            assistant_rows = [k for k, u in enumerate(window[-need:]) if u.role == "assistant"]
            previous = self.tagger.tag(vectors[assistant_rows]) if assistant_rows else []
        else:
            previous = [normalise_strategy(s) for s in previous_strategies]
        tail = window[-SLOTS:]
        x = planner_features(vectors[-len(tail):], [u.role for u in tail], previous, None,
                             n_utterances=len(dialogue))
        return self.decode(self.mixed_logits(x, emotion, ngram_fields(window)), previous, banned), len(previous)

    def _vectors(self, window: list[Utterance], need: int, encoding: Any) -> np.ndarray:
        """Vectors of the last ``need`` utterances of ``window``: from ``encoding`` where it has
        them (its rows are the last utterances of the dialogue), the rest encoded here."""
        have = getattr(encoding, "utterances", None)
        have = np.asarray(have, np.float32) if have is not None else np.zeros((0, 384), np.float32)
        if have.ndim != 2 or have.shape[1] != 384 or len(have) > len(window):
            have = np.zeros((0, 384), np.float32)  # not an encoding of this dialogue: ignore it
        have = have[-need:] if need else have[:0]
        missing = need - len(have)
        if missing <= 0:
            return have
        texts = [u.text for u in window[-need:][:missing]]
        return np.concatenate([self._encode(texts), have]) if len(have) else self._encode(texts)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            from agent.perception.encoder import MiniLMTurnEncoder

            self._encoder = MiniLMTurnEncoder()
        return np.asarray(self._encoder.encode_texts(texts), np.float32)
