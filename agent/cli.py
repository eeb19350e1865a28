"""The ``kindred`` command line (also ``python -m agent``).

    kindred chat --character Ada            chat in the terminal (streams the reply)
    kindred character create card.yaml      create a character from a YAML/JSON card
    kindred character list
    kindred memory add Ada "I grew up by the sea." --emotion nostalgic
    kindred memory list Ada
    kindred memory rebuild Ada              rebuild the character's faiss indexes from the store
    kindred sessions [--character Ada]
    kindred export-model DEST               write the embedded model's Hugging Face folder (for vLLM)
    kindred demo [--port 7860]              the Gradio demo (same as ``python app.py``)
    kindred eval --dataset esconv ...       the offline evaluation (same as ``python -m eval``)

Global options (before the command): ``--config FILE``, ``--backend embedded|openai``,
``--base-url URL``, ``--model NAME``, ``--home DIR``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agent.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kindred", description="An empathetic dialogue agent.")
    parser.add_argument("--config", help="settings file (TOML or YAML)")
    parser.add_argument("--backend", choices=["embedded", "openai"], help="LLM backend")
    parser.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://localhost:8000/v1")
    parser.add_argument("--model", help="model name on that server")
    parser.add_argument("--home", help="folder for the database, indexes and models")
    commands = parser.add_subparsers(dest="command", required=True)

    chat = commands.add_parser("chat", help="chat in the terminal")
    chat.add_argument("--character", default=None, help="character name or id (default: the first one)")
    chat.add_argument("--session", help="continue this session id")
    chat.add_argument("--user", default="default", help="user id")
    chat.add_argument("--annotations", action="store_true", help="print emotion, strategy, ... per turn")

    character = commands.add_parser("character", help="create or list characters")
    character_cmds = character.add_subparsers(dest="action", required=True)
    create = character_cmds.add_parser("create", help="create a character from a card file")
    create.add_argument("card")
    character_cmds.add_parser("list")

    memory = commands.add_parser("memory", help="add, list or re-index memories")
    memory_cmds = memory.add_subparsers(dest="action", required=True)
    add = memory_cmds.add_parser("add")
    add.add_argument("character")
    add.add_argument("text")
    add.add_argument("--kind", default="experience", choices=["profile", "experience"])
    add.add_argument("--emotion")
    listing = memory_cmds.add_parser("list")
    listing.add_argument("character")
    listing.add_argument("--user")
    rebuild = memory_cmds.add_parser("rebuild")
    rebuild.add_argument("character")

    sessions = commands.add_parser("sessions", help="list sessions")
    sessions.add_argument("--character")
    sessions.add_argument("--user")

    export = commands.add_parser("export-model", help="write the embedded model as a Hugging Face folder")
    export.add_argument("dest")

    demo = commands.add_parser("demo", help="start the Gradio demo")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=7860)

    evaluation = commands.add_parser("eval", add_help=False,
                                     help="the offline evaluation on ESConv or ED (python -m eval --help)")
    evaluation.add_argument("eval_args", nargs=argparse.REMAINDER)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings with the command line on top (arguments outrank file and environment)."""
    overrides: dict[str, Any] = {}
    llm = {k: v for k, v in (("backend", args.backend), ("base_url", args.base_url),
                             ("model", args.model)) if v}
    if llm:
        overrides["llm"] = llm
    if args.home:
        overrides["home"] = args.home
    return Settings.load(args.config or "auto", **overrides)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["eval"]:  # its own options and settings (python -m eval); passed through whole
        from eval.__main__ import main as eval_main

        return eval_main(argv[1:])
    args = _parser().parse_args(argv)
    settings = settings_from_args(args)
    from agent.llm.base import LLMError
    from agent.store.base import StoreError

    try:
        return _run(args, settings)
    except KeyboardInterrupt:
        return 130
    except (ValueError, StoreError, LLMError, FileNotFoundError, ImportError) as exc:
        # Expected failures (bad card, unknown character, server down) are one clear line.
        print(f"kindred: error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "export-model":
        from agent.llm.export import export_model

        print(export_model(settings, args.dest))
        return 0
    if args.command == "demo":
        import app

        return app.main(["--host", args.host, "--port", str(args.port)], settings=settings)

    from agent.sdk import Agent

    light = args.command in {"character", "sessions"} or (args.command == "memory" and args.action == "list")
    # Listing needs no models: build the agent without the LLM-facing components.
    bot = _light_agent(settings) if light else Agent.from_settings(settings)
    try:
        if args.command == "chat":
            return _chat(bot, args)
        if args.command == "character":
            if args.action == "create":
                created = bot.create_character(args.card)
                print(f"created {created.name} ({created.id})")
            else:
                for c in bot.list_characters():
                    traits = " ".join(f"{k[0].upper()}={v:.2f}" for k, v in c.traits.to_dict().items())
                    print(f"{c.name}\t{c.id}\t{traits}")
            return 0
        if args.command == "memory":
            if args.action == "add":
                added = bot.add_memory(args.character, args.text, kind=args.kind, emotion=args.emotion)
                print("added" if added else "already remembered")
            elif args.action == "list":
                for m in bot.list_memories(args.character, user_id=args.user):
                    print(f"{m.kind}\t{m.emotion or '-'}\t{m.text}")
            else:
                print(f"indexed {bot.rebuild_index(args.character)} memories")
            return 0
        if args.command == "sessions":
            for s in bot.list_sessions(character=args.character, user_id=args.user):
                print(f"{s.id}\t{s.user_id}\t{s.turn_count} turns\t{s.title}")
            return 0
    finally:
        bot.close()
    raise AssertionError(args.command)


def _light_agent(settings: Settings):
    from agent.graph import TurnContext
    from agent.generator import ResponseGenerator
    from agent.sdk import Agent
    from agent.store import open_store

    context = TurnContext(store=open_store(settings.store_url), generator=ResponseGenerator(None),
                          settings=settings)
    if settings.memory.enabled:
        from memory import CharacterMemory

        context.memory = CharacterMemory.from_settings(context.store, settings)
    return Agent(context)


def _chat(bot, args: argparse.Namespace) -> int:
    from agent.messages import InvalidMessage

    if args.session:
        session = bot.get_session(args.session)
    else:
        characters = bot.list_characters()
        if not characters:
            raise ValueError("no character yet: create one with `kindred character create CARD`")
        name = args.character or characters[0].name
        session = bot.start_session(name, user_id=args.user)
    character = bot.get_character(session.character_id)
    print(f"Talking with {character.name} (session {session.id}). Ctrl-D to leave.", file=sys.stderr)
    while True:
        try:
            text = input("you> ")
        except EOFError:
            print(file=sys.stderr)
            return 0
        try:
            print(f"{character.name}> ", end="", flush=True)
            for event in bot.stream(session.id, text):
                if event["type"] == "token":
                    print(event["text"], end="", flush=True)
                elif event["type"] == "done":
                    print()
                    if args.annotations:
                        _print_annotations(event["result"])
        except InvalidMessage as exc:
            print(f"\n({exc})", file=sys.stderr)


def _print_annotations(result) -> None:
    parts = []
    if result.emotion:
        parts.append(f"emotion={result.emotion.label} ({result.emotion.confidence:.0%})")
    if result.cause and result.cause.spans:
        parts.append(f"cause={'; '.join(result.cause.spans)!r}")
    if result.strategy:
        parts.append(f"strategy={result.strategy.strategy} [{result.strategy.stage}]")
    if result.agent_vad:
        v = result.agent_vad
        parts.append(f"feels={result.reply_emotion} V={v.valence:+.2f} A={v.arousal:+.2f} D={v.dominance:+.2f}")
    if result.safety.risk:
        parts.append(f"SAFETY={result.safety.category}")
    print("   [" + " | ".join(parts) + "]", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
