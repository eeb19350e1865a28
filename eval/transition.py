"""Evaluate the character's emotion transition on PELD: ``python -m eval.transition --split valid``.

Scores the response emotion (Emotion_3, Ekman-7) by macro-F1 and weighted-F1 for:

- the personality-conditioned model (``agent/artefacts/transition``), by its classification head
  and by the nearest Ekman point to its VAD state;
- (a) a text-only classifier: logistic regression on the MiniLM vectors of U1 and U2, ignoring
  personality and the previous emotion; class weights, C and per-class logit bias chosen on PELD
  valid exactly as for the model (so on ``--split test`` nothing is tuned on test);
- (b) the previous-emotion baseline: predict Emotion_1, the same speaker's previous emotion;
- the rule-based transition, given the gold Emotion_2 as the "user emotion" (a reference only);
- the majority class.

Then a behavioural check: two characters with opposite traits hear the same bad news, and the
script prints their VAD trajectories (trained model and rules).

    python -m eval.transition --split valid [--data-dir ../shared/data] [--no-behaviour]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from agent.emotion_space import vad_of
from agent.emotions import EKMAN7
from agent.records import VAD, EmotionReading, Traits, Utterance
from agent.transition import RuleBasedTransition, TrainedTransition
from agent.transition.model import EKMAN_POINTS
from agent.transition.peld import peld_arrays, read_peld
from agent.transition.train import macro_weighted_f1, temperaments, text_only_baseline

CALM_AGREEABLE = Traits(openness=0.6, conscientiousness=0.7, extraversion=0.5, agreeableness=0.9, neuroticism=0.1)
ANXIOUS_NEUROTIC = Traits(openness=0.4, conscientiousness=0.3, extraversion=0.5, agreeableness=0.3, neuroticism=0.9)
BAD_NEWS = [("I just got a call from the hospital.", "afraid"),
            ("They said my dad had a heart attack this morning.", "terrified"),
            ("The doctors don't know if he will make it through the night.", "devastated")]


def rules_with_gold_user_emotion(rows) -> np.ndarray:
    rules, index = RuleBasedTransition(), {e: i for i, e in enumerate(EKMAN7)}
    preds = []
    for r in rows:
        reading = rules.read(VAD(*vad_of(r.emotions[0])), Traits(*r.personality),
                             user_emotion=EmotionReading(label=r.emotions[1], confidence=1.0))
        preds.append(index[reading.label])
    return np.array(preds)


def behaviour(model) -> list[str]:
    """Markdown lines: both characters' trajectories over ``BAD_NEWS``."""
    lines = ["| model | character | turn | valence | arousal | dominance | emotion (reply) |",
             "|---|---|---|---|---|---|---|"]
    for name, transition in (("trained", model), ("rules", RuleBasedTransition())):
        for who, traits in (("calm agreeable", CALM_AGREEABLE), ("anxious neurotic", ANXIOUS_NEUROTIC)):
            state, dialogue = transition.baseline(traits), []
            lines.append(f"| {name} | {who} | 0 (baseline) | {state.valence:+.3f} | {state.arousal:+.3f} "
                         f"| {state.dominance:+.3f} | |")
            for turn, (text, emotion) in enumerate(BAD_NEWS, start=1):
                dialogue.append(Utterance("user", text))
                reading = transition.read(state, traits, dialogue,
                                          user_emotion=EmotionReading(label=emotion, confidence=1.0))
                state = reading.vad
                lines.append(f"| {name} | {who} | {turn} | {state.valence:+.3f} | {state.arousal:+.3f} "
                             f"| {state.dominance:+.3f} | {reading.label} ({reading.reply_label}) |")
                dialogue.append(Utterance("assistant", "I'm here with you."))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.transition")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--split", default="valid", help="split to score (train/valid/test)")
    parser.add_argument("--cache-dir", default=".cache/embeddings")
    parser.add_argument("--no-behaviour", action="store_true", help="skip the trajectory check")
    args = parser.parse_args(argv)

    rows = read_peld(args.data_dir, args.split)
    train = peld_arrays(read_peld(args.data_dir, "train"), args.cache_dir)
    valid = peld_arrays(read_peld(args.data_dir, "valid"), args.cache_dir)
    test = peld_arrays(rows, args.cache_dir)
    y = test.target

    model = TrainedTransition.from_artefact()
    out = model.net.forward(test.u1, test.u2, test.e_prev, temperaments(test.traits))
    nearest = np.argmin(((out["vad"][:, None] - EKMAN_POINTS[None]) ** 2).sum(2), axis=1)
    text_pred, text_cfg = text_only_baseline(train, valid, test)
    print(f"text-only baseline tuned on valid: {text_cfg}", file=sys.stderr)
    majority = np.full_like(y, int(np.bincount(train.target).argmax()))

    systems = [("personality-conditioned transition (head)", out["probs"].argmax(1)),
               ("personality-conditioned transition (nearest VAD point)", nearest),
               ("(a) text-only classifier (U1+U2 MiniLM, LR)", text_pred),
               ("(b) previous emotion (Emotion_1)", test.prev_label),
               ("rules, gold Emotion_2 as user emotion (reference)", rules_with_gold_user_emotion(rows)),
               ("majority class (neutral)", majority)]
    print(f"PELD {args.split} ({len(y)} triples), response emotion Emotion_3, 7 classes\n")
    print("| system | macro-F1 | weighted-F1 |\n|---|---|---|")
    for name, pred in systems:
        macro, weighted = macro_weighted_f1(y, pred)
        print(f"| {name} | {100 * macro:.2f} | {100 * weighted:.2f} |")
    if not args.no_behaviour:
        print("\nSame bad news, opposite characters (user emotions afraid -> terrified -> devastated):\n")
        print("\n".join(behaviour(model)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
