"""Crisis-gate evaluation on the project's probe set: ``python -m eval.safety``.

Prints recall (risk probes flagged) and false-alarm rate (hard non-risk probes flagged) for the
tuning probes (``tests/safety_probes/dev, round2, round3``: the rules were written on them and the
models train on them; ``round4`` ... ``round9`` and the retired held-out sets ``heldout`` ...
``heldout12``: model training data the rules never saw), any set written for training that the
shipped gate has not learnt from (none at present) and the held-out probes (``heldout13.jsonl`` on,
never tuned or trained on: the honest figures), for the full
gate and for its rules and models alone, with every held-out probe scored counted together (pooled
counts, not a mean of the sets' rates); the share of crisis replies with a resource in their
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
    shipped gate's training data (a new ``roundN`` before it is trained on)."""
    from agent.safety.tuning_data import TUNING_PROBES, is_held_out

    return sorted(p.stem for p in folder.glob("*.jsonl") if p.stem not in TUNING_PROBES and not is_held_out(p.stem))


def probe_sets(folder: Path = PROBES) -> list[str]:
    """The tuning sets in their training order, then ``untrained_sets``, then every held-out file
    (heldout, heldout2, ...)."""
    from agent.safety.tuning_data import TUNING_PROBES, is_held_out

    held = sorted((p.stem for p in folder.glob("*.jsonl") if is_held_out(p.stem)), key=lambda s: (len(s), s))
    return [s for s in TUNING_PROBES if (folder / f"{s}.jsonl").exists()] + untrained_sets(folder) + held


def dialogue_of(probe: dict) -> list[Utterance]:
    turns = [Utterance("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(probe.get("context", []))]
    return [*turns, Utterance("user", probe["text"])]


def first_sentences(text: str, n: int = 2) -> str:
    return " ".join(re.split(r"(?<=[.!?])\s+", text)[:n])


COUNTS = ("n_risk", "n_none", "flagged", "n_alarms", "right_category", "with_resource")
"""What ``score`` counts; sets are pooled by adding these up."""


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
    counts = {"n_risk": len(risk), "n_none": len(none), "flagged": len(risk) - len(missed), "n_alarms": len(alarms),
              "right_category": right_category, "with_resource": with_resource}
    return {**rates(counts), "missed": [p["text"] for p in missed], "alarms": [p["text"] for p in alarms]}


def rates(counts: dict) -> dict:
    """Recall, false-alarm rate, category accuracy and resource share from a ``score``'s counts
    (or from several added up: pooled sets are counted, not averaged)."""
    flagged = counts["flagged"]
    return {**counts, "recall": counts["n_risk"] and flagged / counts["n_risk"],
            "false_alarm": counts["n_none"] and counts["n_alarms"] / counts["n_none"],
            "category_accuracy": flagged and counts["right_category"] / flagged,
            "resource_in_first_two": flagged and counts["with_resource"] / flagged}


def row(name: str, gate: str, r: dict) -> str:
    return (f"| {name} | {gate} | {r['n_risk']} | {r['n_none']} | {r['recall']:.3f} | {r['false_alarm']:.3f} | "
            f"{r['category_accuracy']:.3f} | {r['resource_in_first_two']:.3f} |")


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

    from agent.safety.tuning_data import RETIRED_HELD_OUT, RULES_UNSEEN, TUNING_PROBES, is_held_out

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
    splits = args.sets or probe_sets(args.probes)
    held = [s for s in splits if is_held_out(s)]
    held_counts = {name: dict.fromkeys(COUNTS, 0) for name in gates}
    for split in splits:
        probes = load_probes(args.probes / f"{split}.jsonl")
        texts += [p["text"] for p in probes][: 100 - len(texts)]
        for name, gate in gates.items():
            r = score(gate, probes)
            lines.append(row(split, name, r))
            if split in held:
                held_counts[name] = {k: held_counts[name][k] + r[k] for k in COUNTS}
            if args.show_errors and name.endswith("(default)"):
                for t in r["missed"]:
                    print(f"  [{split}] missed: {t}")
                for t in r["alarms"]:
                    print(f"  [{split}] false alarm: {t}")
    if len(held) > 1:  # the honest figure, counted over every held-out probe scored
        lines += [row(f"{len(held)} held-out sets together", name, rates(c)) for name, c in held_counts.items()]
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
    rules_seen = [s for s in TUNING_PROBES if s not in RULES_UNSEEN and s not in RETIRED_HELD_OUT]
    retired_only = [s for s in TUNING_PROBES if s not in RULES_UNSEEN and s in RETIRED_HELD_OUT]
    rules_unseen = [s for s in TUNING_PROBES if s in RULES_UNSEEN]
    untrained = untrained_sets(args.probes)
    out = (f"Probe set: tests/safety_probes ({', '.join(rules_seen)} = tuning: rules written on them, models "
           f"trained on them; {', '.join(retired_only)} = retired held-out sets, models trained on them; "
           f"{', '.join(rules_unseen)} = model training data only, the fusion chosen on them; "
           + (f"{', '.join(untrained)} = written for training, not in the shipped gate's training data; " if untrained else "")
           + f"{', '.join(held) or 'none'} = held out, never tuned or trained on). "
           f"Locale {args.locale}.\n\n{table}\n\n"
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
