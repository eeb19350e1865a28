"""``python -m eval``: evaluate the whole agent on ESConv or EmpatheticDialogues and write a report.

    python -m eval --dataset esconv --split valid --limit 200 --out runs/eval/esconv-valid
    python -m eval --dataset ed --split valid --backend openai --base-url http://127.0.0.1:8000/v1 \\
        --concurrency 32 --judge
    python -m eval --dataset esconv --file ../shared/data/esconv/FailedESConv.json   # another file
    python -m eval --dataset esconv --split valid --no-planner --no-cause            # ablations
    python -m eval ... --no-perception --no-planner --no-memory --no-transition --no-safety  # LLM only
    python -m eval ... --resume          # continue a crashed run in the same --out
    python -m eval ... --report-only     # recompute the report from predictions.jsonl
    python -m eval component planner --split valid   # a component's own evaluation (eval/planner.py)

Writes into ``--out`` (default ``runs/eval/<dataset>-<split>``): ``run.json`` (the arguments),
``predictions.jsonl`` (one line per finished turn), ``results.json``, ``report.md``, ``plots/``.
Decoding uses the agent's own sampling settings unless ``--temperature`` is given (greedy
decoding makes SmolLM2-135M repeat itself), so figures move slightly between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import runpy
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from eval.datasets import DATASETS, SPLITS, load_items, sample_items, split_file

COMPONENTS = ("detector", "cause", "planner", "transition", "retrieval", "safety")
ABLATIONS = ("planner", "cause", "memory", "transition", "perception", "safety")
# Arguments that change which items run or what the agent does: a resumed run must match them.
_RUN_IDENTITY = ("dataset", "split", "file", "limit", "seed", "backend", "model", "base_url",
                 "temperature", "max_new_tokens", "ablations")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=DATASETS, default="esconv")
    p.add_argument("--split", choices=SPLITS, default="valid")
    p.add_argument("--data-dir", default="../shared/data", help="research data folder (default ../shared/data)")
    p.add_argument("--file", help="evaluate this data file instead of <data-dir>/<dataset>/<split>.*")
    p.add_argument("--skip-malformed", action="store_true",
                   help="count and skip malformed rows instead of stopping at the first one")
    p.add_argument("--backend", choices=["embedded", "openai"], default="embedded")
    p.add_argument("--base-url", help="OpenAI-compatible server (vLLM), e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", help="model name on that server (default: the settings' model)")
    p.add_argument("--config", help="a settings file to start from (default: none, for repeatable runs)")
    p.add_argument("--temperature", type=float,
                   help="sampling temperature (default: the agent's setting, 0.7; 0 = greedy, which "
                        "makes the small model loop)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, help="torch threads for the embedded model")
    for name in ABLATIONS:
        p.add_argument(f"--no-{name}", action="store_true", help=f"switch the {name} off")
    p.add_argument("--limit", type=int, help="evaluate a seeded random sample of this many reply turns")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--concurrency", type=int, help="requests in flight (default: 32 openai, 1 embedded)")
    p.add_argument("--out", help="output folder (default runs/eval/<dataset>-<split>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out, skipping finished turns")
    p.add_argument("--report-only", action="store_true", help="only recompute the report from --out")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    judge = p.add_argument_group("empathy judge (off by default)")
    judge.add_argument("--judge", action="store_true", help="rate every reply with an LLM judge")
    judge.add_argument("--judge-backend", choices=["embedded", "openai"], help="default: --backend")
    judge.add_argument("--judge-base-url", help="default: --base-url")
    judge.add_argument("--judge-model", help="default: --model")
    return p


def run_settings(args: argparse.Namespace, data_file: Path, population: int, load_stats: dict) -> dict[str, Any]:
    """What the report records about the run (and what ``--resume`` checks)."""
    ablations = [name for name in ABLATIONS if getattr(args, f"no_{name}")]
    return {
        "command": "python -m eval " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "dataset": args.dataset, "split": args.split, "file": args.file, "data_file": str(data_file),
        "limit": args.limit, "seed": args.seed, "population": population, "load_stats": load_stats,
        "backend": args.backend, "model": args.model or _default_model(args), "base_url": args.base_url,
        "temperature": args.temperature if args.temperature is not None else _default_llm().temperature,
        "max_new_tokens": args.max_new_tokens,
        "ablations": ablations, "concurrency": args.concurrency,
        "judge": args.judge, "judge_backend": (args.judge_backend or args.backend) if args.judge else None,
        "judge_model": (args.judge_model or args.model or _default_model(args)) if args.judge else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}",
    }


def _default_llm():
    from agent.settings import LLMSettings

    return LLMSettings()


def _default_model(args: argparse.Namespace) -> str:
    return _default_llm().model


def agent_settings(args: argparse.Namespace, home: Path, *, judge: bool = False):
    """The agent's (or the judge's) ``Settings`` from the command line; the store is a throw-away
    SQLite file (``respond`` stores nothing, but the agent is built over a store)."""
    from agent.settings import Settings

    backend = (args.judge_backend or args.backend) if judge else args.backend
    llm: dict[str, Any] = {"backend": backend, "max_new_tokens": args.max_new_tokens}
    if args.temperature is not None:
        llm["temperature"] = args.temperature
    model = (args.judge_model or args.model) if judge else args.model
    base_url = (args.judge_base_url or args.base_url) if judge else args.base_url
    if model:
        llm["model"] = model
    if base_url:
        llm["base_url"] = base_url
    if args.threads:
        llm["threads"] = args.threads
    overrides: dict[str, Any] = {"llm": llm, "data_dir": args.data_dir,
                                 "store": {"url": f"sqlite:///{home / 'eval.db'}"}}
    if args.no_planner:
        overrides["planner"] = {"kind": "off"}
    if args.no_cause:
        overrides["perception"] = {"cause": False}
    if args.no_memory:
        overrides["memory"] = {"enabled": False}
    if args.no_transition:
        overrides["transition"] = {"kind": "off"}
    if args.no_perception:  # emotion detector and cause finder both
        overrides["perception"] = {"enabled": False, "cause": False}
    if args.no_safety:
        overrides["safety"] = {"enabled": False}
    return Settings.load(config_file=args.config, **overrides)


def build_judge(args: argparse.Namespace, agent: Any, home: Path):
    from eval.judge import EmpathyJudge

    same = ((args.judge_backend or args.backend) == args.backend
            and (args.judge_model or args.model) == args.model
            and (args.judge_base_url or args.base_url) == args.base_url)
    if same:
        chat_model = agent.chat_model
    else:
        from agent.llm import make_chat_model

        chat_model = make_chat_model(agent_settings(args, home, judge=True))
    settings = agent_settings(args, home, judge=True)
    name = settings.llm.model + (" (embedded)" if settings.llm.backend == "embedded" else f" @ {settings.llm.base_url}")
    return EmpathyJudge(chat_model, name)


def _check_resume(out: Path, settings: dict[str, Any]) -> None:
    saved_path = out / "run.json"
    if not saved_path.exists():
        return
    saved = json.loads(saved_path.read_text(encoding="utf-8"))
    changed = [k for k in _RUN_IDENTITY if saved.get(k) != settings.get(k)]
    if changed:
        raise SystemExit(f"eval: --resume with different settings than the run in {out}: "
                         + ", ".join(f"{k} {saved.get(k)!r} -> {settings.get(k)!r}" for k in changed))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "component":
        return run_component(argv[1:])
    args = parser().parse_args(argv)
    if args.concurrency is None:
        args.concurrency = 32 if args.backend == "openai" else 1
    data_file = Path(args.file) if args.file else split_file(args.data_dir, args.dataset, args.split)
    out = Path(args.out or f"runs/eval/{args.dataset}-{args.split}")

    items, stats = load_items(args.dataset, data_file, skip_malformed=args.skip_malformed, split=args.split)
    sample = sample_items(items, args.limit, args.seed)
    settings = run_settings(args, data_file, len(items), stats.to_dict())

    from eval.report import compute_metrics, write_report
    from eval.runner import read_predictions, run_items

    if args.report_only:
        saved = out / "run.json"
        if saved.exists():
            settings = {**json.loads(saved.read_text(encoding="utf-8")), "command": settings["command"]}
        done = read_predictions(out / "predictions.jsonl")
        records = [done.get(i.item_id, {"item_id": i.item_id, "error": "not run"}) for i in sample]
    else:
        if args.resume:
            _check_resume(out, settings)
        elif (out / "predictions.jsonl").exists() and (out / "predictions.jsonl").stat().st_size:
            raise SystemExit(f"eval: {out} already holds a run; pass --resume to continue it or "
                             "another --out")
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps(settings, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"eval: {len(sample)} of {len(items)} {args.dataset} {args.split} reply turns "
              f"({data_file}); backend {args.backend}, concurrency {args.concurrency}; out {out}",
              file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="kindred-eval-") as tmp:
            from agent import Agent

            agent = Agent.from_settings(agent_settings(args, Path(tmp)))
            judge = build_judge(args, agent, Path(tmp)) if args.judge else None
            if judge:
                settings["judge_model"] = judge.model_name
            try:
                records = asyncio.run(run_items(agent, sample, out / "predictions.jsonl",
                                                concurrency=args.concurrency, resume=args.resume,
                                                judge=judge, progress=not args.no_progress))
            finally:
                agent.close()
    figures = compute_metrics(records, args.dataset)
    paths = write_report(out, figures, settings, plots=not args.no_plots)
    print(paths["markdown"].read_text(encoding="utf-8"))
    print(f"eval: wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0 if figures.get("scored") else 1


def run_component(argv: list[str]) -> int:
    """``python -m eval component NAME [ARGS]``: run ``eval/NAME.py`` with ARGS."""
    if not argv or argv[0] not in COMPONENTS:
        raise SystemExit(f"usage: python -m eval component {{{','.join(COMPONENTS)}}} [ARGS...]")
    name = argv[0]
    try:
        import importlib.util

        if importlib.util.find_spec(f"eval.{name}") is None:
            raise ImportError
    except ImportError:
        raise SystemExit(f"eval: no component evaluation eval/{name}.py in this checkout") from None
    sys.argv = [f"python -m eval.{name}", *argv[1:]]
    runpy.run_module(f"eval.{name}", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
