"""How often the crisis gate fires on real support conversations: ``python -m eval.safety_conversations``.

Every seeker turn of ESConv ``--split`` (valid by default; the gate trains on train) is assessed
as the agent sees it: the conversation before it (user and supporter utterances, as written) and
the turn. ESConv seekers bring ordinary troubles (a job, a breakup, exams) and a few disclose abuse
or suicidal thoughts, and the turns carry no risk label, so the figure is a *flag rate*, not a
false-alarm rate: most flags on these conversations are false alarms, some are not. The turn is
also assessed alone, which shows what reading the conversation adds. ``--show N`` prints the
first N flagged turns (id, category, score, the turn) for reading by hand.

    python -m eval.safety_conversations [--split valid] [--limit N] [--show 20] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from agent.records import Utterance


def seeker_turns(data_dir: Path, split: str, limit: int | None = None) -> list[tuple[str, str, list[Utterance]]]:
    """``(turn id, problem type, dialogue ending with the seeker's turn)`` for every seeker turn."""
    from agent.planner.data import esconv_path, esconv_turns, read_esconv_records

    out = []
    for d, (where, record) in enumerate(read_esconv_records(esconv_path(data_dir, split))):
        dialogue = [Utterance(t.role, t.text.strip()) for t in esconv_turns(record, where)]
        for k, u in enumerate(dialogue):
            if u.role == "user" and u.text:
                out.append((f"{d}:{k}", str(record.get("problem_type", "")), dialogue[: k + 1]))
    return out[:limit] if limit else out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--split", default="valid", choices=["train", "valid", "test"])
    parser.add_argument("--limit", type=int, default=None, help="only the first N seeker turns")
    parser.add_argument("--show", type=int, default=0, help="print the first N flagged turns")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="measure the gate trained into this folder (python -m agent.safety.train --out DIR)")
    args = parser.parse_args(argv)

    from agent.safety.gate import load_safety_gate
    from agent.settings import Settings

    try:
        turns = seeker_turns(args.data_dir, args.split, args.limit)
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from exc
    gate = load_safety_gate(Settings.load(config_file=None, safety={"model_dir": str(args.model_dir)})
                            if args.model_dir else None)
    t0 = time.perf_counter()
    flagged, alone, categories, problems = [], 0, Counter(), Counter()
    for i, (turn_id, problem, dialogue) in enumerate(turns):
        if i and i % 500 == 0:
            print(f"  {i}/{len(turns)} turns, {len(flagged)} flagged", flush=True)
        verdict = gate.assess(dialogue)
        alone += gate.assess(dialogue[-1:]).risk
        if verdict.risk:
            flagged.append((turn_id, verdict, dialogue[-1].text))
            categories[verdict.category] += 1
            problems[problem] += 1
    seconds = time.perf_counter() - t0
    n = len(turns)
    print(f"| ESConv {args.split}, every seeker turn | turns | flagged in its conversation | flagged alone |")
    print("|---|---|---|---|")
    print(f"| crisis gate | {n} | {len(flagged)} ({len(flagged) / n:.1%}) | {alone} ({alone / n:.1%}) |")
    print(f"\nflagged by category: {dict(categories.most_common())}")
    print(f"flagged by the dialogue's problem type: {dict(problems.most_common())}")
    print(f"{seconds / n * 1000:.1f} ms per turn (both readings)")
    for turn_id, verdict, text in flagged[: args.show]:
        print(f"  {turn_id} {verdict.category} {verdict.score:.2f}: {text[:160]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
