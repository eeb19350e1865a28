"""Start the Gradio demo: ``python app.py`` (then open http://127.0.0.1:7860).

    python app.py                                  embedded SmolLM2 (first run converts the model)
    python app.py --backend openai --base-url http://127.0.0.1:8000/v1 --model SmolLM2-135M-Instruct
    python app.py --config kindred.toml --host 0.0.0.0 --port 8080

The example character cards in ``memory/cards/`` are added to the store on start, once (a card
whose character name is already stored is skipped). The page itself is ``agent.demo``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CARDS_DIR = Path(__file__).parent / "memory" / "cards"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="app.py", description="The Kindred demo: an empathetic "
                                     "agent that shows what it perceives, remembers and chooses.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--config", help="settings file (TOML or YAML)")
    parser.add_argument("--backend", choices=["embedded", "openai"], help="LLM backend (default: settings)")
    parser.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", help="model name on that server")
    parser.add_argument("--home", help="folder for the database, indexes and models")
    parser.add_argument("--no-seed", action="store_true", help="do not add the example characters")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace):
    from agent.settings import Settings

    overrides: dict[str, Any] = {}
    llm = {k: v for k, v in (("backend", args.backend), ("base_url", args.base_url),
                             ("model", args.model)) if v}
    if llm:
        overrides["llm"] = llm
    if args.home:
        overrides["home"] = Path(args.home)
    return Settings.load(config_file=args.config or "auto", **overrides)


COMPONENTS = ("encoder", "detector", "cause_finder", "memory", "transition", "planner", "safety")


def build_agent(settings):
    """The agent the settings describe; a component that cannot be built (say, a trained artefact
    not there yet) is switched off with a warning on stderr, so the demo still starts.
    Returns the agent and the names of the components switched off."""
    from agent.sdk import Agent

    off: dict[str, None] = {}
    notes: list[str] = []
    while True:
        try:
            return Agent.from_settings(settings, **off), notes
        except Exception as exc:
            name = _failed_component(exc)
            if name is None or name in off:
                raise
            off[name] = None
            notes.append(name)
            print(f"kindred: warning: {name} switched off: {exc}", file=sys.stderr, flush=True)


def _failed_component(exc: BaseException) -> str | None:
    """Which of agent.assembly's component factories raised ``exc`` (None: something else)."""
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if Path(code.co_filename).name == "assembly.py" and code.co_name.lstrip("_") in COMPONENTS:
            return code.co_name.lstrip("_")
        tb = tb.tb_next
    return None


def seed_characters(agent, cards_dir: Path = CARDS_DIR) -> list[str]:
    """Add the example cards whose character is not stored yet; returns the names added.
    A broken card is reported on stderr and skipped: the demo still starts."""
    from memory.cards import read_card

    known = {c.name.lower() for c in agent.list_characters()}
    added = []
    for path in sorted(cards_dir.glob("*.yaml")) + sorted(cards_dir.glob("*.json")):
        try:
            name = str(read_card(path).get("name", "")).strip()
            if not name or name.lower() in known:
                continue
            agent.create_character(path)  # character, facts and experiences in one go
        except Exception as exc:  # an example card must not stop the demo
            print(f"kindred: skipped example card {path.name}: {exc}", file=sys.stderr)
            continue
        known.add(name.lower())
        added.append(name)
    return added


def warm_up(agent) -> None:
    """Load the embedded model before serving, saying why the first start is slow."""
    settings = agent.settings
    if settings.llm.backend != "embedded":
        return
    if not settings.model_dir.exists():
        print(f"kindred: first run: converting the embedded model into {settings.model_dir} "
              "(once; about a minute)...", file=sys.stderr, flush=True)
    load = getattr(agent.chat_model, "load", None)
    if load is not None:
        load()


def main(argv: Sequence[str] | None = None, *, settings=None) -> int:
    args = parse_args(argv)
    from agent.demo import build_demo, page_style

    settings = settings or settings_from(args)
    print(f"kindred: starting (backend: {settings.llm.backend}, store: {settings.store_url})",
          file=sys.stderr, flush=True)
    agent, notes = build_agent(settings)
    if not args.no_seed:
        added = seed_characters(agent)
        if added:
            print(f"kindred: added example characters: {', '.join(added)}", file=sys.stderr)
    try:
        warm_up(agent)
    except Exception as exc:  # the page shows LLM errors per message; serving still works
        print(f"kindred: the LLM is not ready ({exc}); the page will say so", file=sys.stderr)
    notice = (f"Switched off because they could not be loaded: {', '.join(notes)} "
              "(the terminal says why and how to build them)." if notes else "")
    demo = build_demo(agent, notice=notice)
    demo.queue().launch(server_name=args.host, server_port=args.port, share=False,
                        ssr_mode=False, show_error=False, **page_style())
    return 0


if __name__ == "__main__":
    sys.exit(main())
