"""Crisis-gate evaluation on the project's probe set: ``python -m eval.safety``.

Prints recall (risk probes flagged) and false-alarm rate (hard non-risk probes flagged) for the
tuning probes (``tests/safety_probes/dev, round2, round3``: the rules were written on them and the
models train on them; ``round4`` ... ``round8``: model training data the rules never saw), ``round9``
(written for training; only the conversation-trained gate of ``results_safety.md`` learnt from it) and the
held-out probes (``heldout*.jsonl``, never tuned or trained on: the honest figures), for the full
gate and for its rules and models alone; the share of crisis replies with a resource in their
first two sentences; and the latency of ``assess`` (rules only, and rules + model with one MiniLM
encoding), on a turn alone and after two exchanges. ``--write`` also saves the tables to
``eval/benchmarks/results_safety.md``, keeping the notes written below its ``NOTES_MARKER`` line.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from agent.records import Utterance
from agent.safety.gate import CrisisGate, trained_gate_parts
from agent.safety.model import RiskModel

PROBES = Path(__file__).resolve().parents[1] / "tests" / "safety_probes"
HISTORY = """How honest the held-out figure is: each held-out set was measured once, then folded into tuning.
First looks (full gate, from earlier states of the rules and model, so not rerunnable):
round2 as held-out: recall 0.578, false alarms 0.067; round3 as held-out: recall 0.489, false
alarms 0.044 (the rules alone generalise poorly to new phrasings; the model alone reached 0.60 /
0.089). `heldout` was measured once with the earlier gate (rules + MiniLM model at weight 0.55):
recall 0.667, false alarms 0.111 (rules only 0.511 / 0.067, model only 0.933 / 0.178).
`heldout2` (64 risk, 64 non-risk; registers: teen slang, formal, non-native English, typos,
lower case; some multi-turn) was written before the changes below and measured once with that
same earlier gate: recall 0.562, false alarms 0.141 (rules only 0.406 / 0.141, model only
0.594 / 0.047). The changes (a third batch of 200 risk + 158 non-risk training sentences across
registers, a character n-gram model mixed with the MiniLM one, a recall-oriented model threshold
chosen by grouped cross-validation on tuning data, two new guards: recovery told in the past,
holidays/leaving/sport jumps; "as a joke" in the play guard) were made
without looking at either held-out file's misses; they measured heldout 0.956 / 0.178 and
heldout2 0.797 / 0.141.
On 2026-12-02 two sets were written by writers who had seen none of the project's text:
`round4` (340 risk and 420 hard non-risk training sentences, in blocks by register) and
`heldout3` (80 + 80, 40 of them multi-turn). Measured once with the gate of 2026-12-01: round4
recall 0.732, false alarms 0.052; heldout3 recall 0.787, false alarms 0.062. round4 was then
added to the model's training data (the rules were not changed).
Later on 2026-12-02 two more independent writers wrote `round5` (320 risk + 400 hard non-risk, in
register blocks, a fifth multi-turn; measured once with the gate of that morning: recall 0.719,
false alarms 0.087) and a third wrote `heldout4` (100 + 100, 70 multi-turn; first measured with
that same gate: recall 0.680, false alarms 0.190). round5 went into training, a third model joined
the gate (MiniLM's upper layers fine-tuned over the shared lower states) and the fusion, now with a
weight on the rules' reading of the current turn, was chosen by cross-validation on round4 and
round5 alone (heldout 1.000 / 0.156, heldout2 0.891 / 0.109, heldout3 0.912 / 0.050, heldout4
0.820 / 0.160).
Later still on 2026-12-02 four more independent writers wrote `round6` (440 risk + 320 hard non-risk, 520 of
them multi-turn dialogues that turn on their context) and a fifth wrote `heldout5` (100 + 100, 80
multi-turn). Measured once with the gate above: round6 recall 0.518, false alarms 0.097; heldout5
recall 0.880, false alarms 0.150. round6 went into training, the fine-tuned model now reads the two
exchanges before the current turn, and the fusion (with a weight on the rules' context part too)
was chosen by cross-validation on round4, round5 and round6 alone (heldout 0.978 / 0.133, heldout2
0.938 / 0.078, heldout3 0.975 / 0.050, heldout4 0.960 / 0.060, heldout5 0.930 / 0.060). A sixth
writer then wrote `heldout6` (100 + 100, 91 multi-turn), scored once with that gate: recall 0.900,
false alarms 0.120. Three more writers wrote `round7` (240 indirect risk messages, 440 hard
negatives, aimed at what cross-validation on round4-6 still got wrong; no held-out file was read;
first measured at recall 0.896, false alarms 0.091), which joined the training data, nothing else
changing; its gate scored the six held-out sets once. Late on 2026-12-02 four more writers wrote
`round8` (480 indirect risk, 360 hard negatives, again aimed at the cross-validation errors on
round4-7; first measured 0.796 / 0.053) and a seventh wrote `heldout7` (100 + 100, 80 multi-turn;
first measured with the round7 gate: 0.960 / 0.060). round8 joined the training data; with it, a
4-epoch model scored worse on the held-out sets (seven together 0.952 / 0.063, against 0.959 / 0.054
for the round7 gate), and 6 epochs, chosen over 4 by grouped CV on round4-8 (0.907 / 0.0495 against
0.899 / 0.050) before being scored on any held-out set, ship: the rows above (seven together
0.963 / 0.065). Later that evening four more writers wrote `round9` (330 risk, 550 non-risk, mostly
ordinary support conversations, against the gate's over-reading of them; first measured 0.906 /
0.135) and two more wrote `heldout8` (100 + 100; first measured with the shipped gate: 0.950 /
0.110; eight sets together 0.961 / 0.071). The gate trained with round9 scored 0.958 / 0.075 on the
eight sets, lower on recall minus false alarms, which the rule fixed before scoring forbids; it is
not shipped, and round9 is scored here as text the shipped gate never saw."""
NOTES_MARKER = "<!-- notes: kept by `python -m eval.safety --write` -->"
RESULTS = Path(__file__).resolve().parent / "benchmarks" / "results_safety.md"


def load_probes(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        if row.get("label") not in {"risk", "none"}:
            raise ValueError(f"{path}: probe {row.get('id')} has label {row.get('label')!r}")
    return rows


def untrained_sets(folder: Path = PROBES) -> list[str]:
    """Probe files that are neither tuning sets nor held out: written for training, but not in the
    shipped gate's training data (round9)."""
    from agent.safety.tuning_data import TUNING_PROBES

    return sorted(p.stem for p in folder.glob("*.jsonl") if p.stem not in TUNING_PROBES and not p.stem.startswith("heldout"))


def probe_sets(folder: Path = PROBES) -> list[str]:
    """The tuning sets in their training order, then ``untrained_sets``, then every held-out file
    (heldout, heldout2, ...)."""
    from agent.safety.tuning_data import TUNING_PROBES

    held = sorted((p.stem for p in folder.glob("heldout*.jsonl")), key=lambda s: (len(s), s))
    return [s for s in TUNING_PROBES if (folder / f"{s}.jsonl").exists()] + untrained_sets(folder) + held


def dialogue_of(probe: dict) -> list[Utterance]:
    turns = [Utterance("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(probe.get("context", []))]
    return [*turns, Utterance("user", probe["text"])]


def first_sentences(text: str, n: int = 2) -> str:
    return " ".join(re.split(r"(?<=[.!?])\s+", text)[:n])


def score(gate: CrisisGate, probes: list[dict]) -> dict:
    risk = [p for p in probes if p["label"] == "risk"]
    none = [p for p in probes if p["label"] == "none"]
    verdicts = {p["id"]: gate.assess(dialogue_of(p)) for p in probes}
    missed = [p for p in risk if not verdicts[p["id"]].risk]
    alarms = [p for p in none if verdicts[p["id"]].risk]
    right_category = sum(verdicts[p["id"]].category == p["category"] for p in risk if verdicts[p["id"]].risk)
    with_resource = 0
    for p in risk:
        v = verdicts[p["id"]]
        if v.risk:
            reply = gate.crisis_reply(v, dialogue_of(p))
            head = first_sentences(reply)
            with_resource += bool(v.resource and v.resource in head)
    flagged = len(risk) - len(missed)
    return {"n_risk": len(risk), "n_none": len(none),
            "recall": len(risk) and flagged / len(risk),
            "false_alarm": len(none) and len(alarms) / len(none),
            "category_accuracy": flagged and right_category / flagged,
            "resource_in_first_two": flagged and with_resource / flagged,
            "missed": [p["text"] for p in missed], "alarms": [p["text"] for p in alarms]}


def latency(gate: CrisisGate, texts: list[str], repeats: int = 3, history: Sequence[str] = ()) -> tuple[float, float]:
    """Median and p95 milliseconds per ``assess`` (fresh texts, so the model path pays the MiniLM
    encoding of the current turn each time). ``history``: earlier turns (user first, alternating)
    put before each one, encoded once beforehand, as in the graph, where they were encoded when
    they were said."""
    gate.assess(dialogue_of({"context": history, "text": "warm up"}))
    times = []
    for r in range(repeats):
        for t in texts:
            # A suffix no other call used: the encoder's cache must not serve the current turn.
            dialogue = dialogue_of({"context": history, "text": f"{t} ({len(history)}.{r})"})
            t0 = time.perf_counter()
            gate.assess(dialogue)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=Path, default=PROBES)
    parser.add_argument("--locale", default="US")
    parser.add_argument("--write", action="store_true", help=f"write the tables to {RESULTS}")
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--sets", nargs="*", help="probe sets to score (default: every file, tuning sets first, held-out sets last)")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="score the gate trained into this folder (python -m agent.safety.train --out DIR) "
                             "instead of the shipped one")
    args = parser.parse_args(argv)
    if args.write and args.model_dir:
        parser.error("--write records the shipped gate; drop --model-dir")

    import torch

    torch.set_num_threads(1)
    parts = trained_gate_parts(args.model_dir) if args.model_dir else {"model": RiskModel.load()}
    gates = {"rules + model (default)": CrisisGate(locale=args.locale, **parts),
             "rules only": CrisisGate(locale=args.locale, model=None),
             "model only": CrisisGate(locale=args.locale, **parts, model_weight=1.0, context_turns=0)}
    # "model only": the rules are switched off by giving it a gate whose rules never fire.
    gates["model only"].assess = _model_only(gates["model only"])  # type: ignore[method-assign]

    lines = ["| probe set | gate | risk probes | non-risk probes | recall | false alarms | category acc. | resource in first 2 sentences |",
             "|---|---|---|---|---|---|---|---|"]
    texts: list[str] = []  # the first 100 scored probes (dev's, by default) time the gate
    for split in args.sets or probe_sets(args.probes):
        probes = load_probes(args.probes / f"{split}.jsonl")
        texts += [p["text"] for p in probes][: 100 - len(texts)]
        for name, gate in gates.items():
            r = score(gate, probes)
            lines.append(f"| {split} | {name} | {r['n_risk']} | {r['n_none']} | {r['recall']:.3f} | "
                         f"{r['false_alarm']:.3f} | {r['category_accuracy']:.3f} | {r['resource_in_first_two']:.3f} |")
            if args.show_errors and name.endswith("(default)"):
                for t in r["missed"]:
                    print(f"  [{split}] missed: {t}")
                for t in r["alarms"]:
                    print(f"  [{split}] false alarm: {t}")
    table = "\n".join(lines)

    history = ("I've had a rough week at work.", "I'm sorry to hear that. What happened?",
               "My manager keeps piling things on and I can't sleep.", "That sounds exhausting.")
    lat = ["| assess path | dialogue | median ms | p95 ms |", "|---|---|---|---|"]
    for name in ("rules only", "rules + model (default)"):
        for label, before in (("the turn alone", ()), ("two exchanges before it", history)):
            med, p95 = latency(gates[name], texts, history=before)
            lat.append(f"| {name} | {label} | {med:.2f} | {p95:.2f} |")
    lat_table = "\n".join(lat)
    machine = f"this 2-core CPU ({platform.machine()}), torch threads 1"
    from agent.safety.tuning_data import RULES_UNSEEN, TUNING_PROBES

    rules_seen = [s for s in TUNING_PROBES if s not in RULES_UNSEEN]
    rules_unseen = [s for s in TUNING_PROBES if s in RULES_UNSEEN]
    untrained = untrained_sets(args.probes)
    out = (f"Probe set: tests/safety_probes ({', '.join(rules_seen)} = tuning: rules written on them, models "
           f"trained on them; {', '.join(rules_unseen)} = model training data only, the fusion chosen on them; "
           + (f"{', '.join(untrained)} = written for training, not in the shipped gate's training data; " if untrained else "")
           + "heldout* = held out, never tuned or trained on). "
           f"Locale {args.locale}.\n\n{table}\n\n{HISTORY}\n\n"
           f"Latency per `assess` call, {machine} (shared machine; the model path includes one MiniLM "
           f"encoding of the current turn and the fine-tuned upper layers over it and the earlier turns, whose "
           f"lower states the encoder has cached):\n\n{lat_table}\n")
    print(out)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
        notes = old[old.index(NOTES_MARKER):] if NOTES_MARKER in old else NOTES_MARKER + "\n"
        RESULTS.write_text("# Crisis gate: probe-set figures\n\nCommand: `python -m eval.safety --write`\n\n" + out
                           + "\n" + notes, encoding="utf-8")
    return 0


def _model_only(gate: CrisisGate):
    """The models alone (their mix, guard-damped): risk when the calibrated score
    reaches 0.5, i.e. P(risk) at or over the gate's ``model_threshold``."""
    from agent.records import SafetyVerdict

    def assess(dialogue):
        text = dialogue[-1].text
        s, category, _ = gate.model_reading(dialogue)
        risk = s >= gate.threshold
        return SafetyVerdict(risk=risk, category=category if risk else None, score=s,
                             resource=gate.resource_for(category, text) if risk else None)
    return assess


if __name__ == "__main__":
    raise SystemExit(main())
