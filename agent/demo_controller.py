"""The demo page's handlers (``DemoController``): what each click, message and page load does to
the agent and the store, returned as a dict of component updates. ``agent.demo`` lays the page
out and wires these handlers to it; they are unit-tested without a browser.

>>> ctl = DemoController(Agent.from_settings())                      # doctest: +SKIP
>>> updates = ctl.new_session(None)                                  # doctest: +SKIP

Every handler catches what can go wrong (an empty or over-long message, an unreachable LLM, an
unknown session) and shows it as a message on the page; none raises.
"""

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from agent.demo_panels import (NO_READING, alert, cause_highlights, cause_note, chat_messages,
                               emotion_confidences, emotion_note, feeling_html, format_experiences,
                               memories_html, off, parse_experiences, safety_html, session_choices,
                               strategy_html)
from agent.demo_plots import trajectory, trajectory_figure
from agent.llm.base import ChatModel, LLMError, LLMUnavailable
from agent.messages import InvalidMessage, clean_message
from agent.records import (VAD, CauseReading, Character, EmotionReading, RecalledMemory,
                           SafetyVerdict, SessionInfo, StrategyChoice, TurnResult, BIG_FIVE)
from agent.sdk import Agent
from agent.settings import Settings
from agent.store.base import NotFound, StoreError

DEMO_USER = "demo"
"""The user id the demo's sessions are stored under."""

ChatModelFactory = Callable[[Settings], ChatModel]


class DemoController:
    """The page's handlers, over one (replaceable) agent. Each returns a dict of updates."""

    def __init__(self, agent: Agent, chat_model_factory: ChatModelFactory | None = None) -> None:
        self.agent = agent
        if chat_model_factory is None:
            from agent.llm import make_chat_model

            chat_model_factory = make_chat_model
        self.chat_model_factory = chat_model_factory
        self.ui: dict[str, Any] = {}  # the components, filled by build_demo

    # -- helpers ----------------------------------------------------------------------------------
    def _c(self, name: str) -> Any:
        return self.ui[name]

    def character_choices(self) -> list[tuple[str, str]]:
        return [(c.name, c.id) for c in self.agent.list_characters()]

    def _baseline(self, character: Character | None) -> VAD | None:
        transition = self.agent.context.transition
        if character is None or transition is None:
            return None
        try:
            return transition.baseline(character.traits)
        except Exception:  # a component's failure must not break the page
            return None

    def plot_for(self, turns: Sequence[TurnResult], character: Character | None):
        import matplotlib.pyplot as plt

        name = character.name if character else "the character"
        fig = trajectory_figure(trajectory(turns, self._baseline(character)),
                                title=f"{name}'s feelings and yours")
        plt.close(fig)  # gr.Plot renders the figure object; closing frees pyplot's registry
        return fig

    def panels(self, turn: TurnResult | None, character: Character | None = None) -> dict:
        """Updates for every panel of the mind view, from a finished turn (None: empty)."""
        import gradio as gr

        ctx = self.agent.context
        c = self._c
        if turn is None:
            return {c("safety"): NO_READING, c("emotion"): None, c("emotion_note"): NO_READING,
                    c("cause"): [], c("cause_note"): "", c("memories"): NO_READING,
                    c("strategy"): NO_READING, c("mind_caption"): gr.update(value=self._caption(None))}
        name = character.name if character else "the character"
        skipped = "<div class='kd-muted'>— skipped: the safety gate answered this turn</div>"
        crisis = turn.safety is not None and turn.safety.risk
        emotion_text = (skipped if crisis else emotion_note(turn.emotion) if ctx.detector is not None
                        else off("the emotion detector"))
        strategy_text = (skipped if crisis else strategy_html(turn.strategy) if ctx.planner is not None
                         or turn.strategy is not None else off("the strategy planner"))
        return {
            c("safety"): safety_html(turn.safety, enabled=ctx.safety is not None),
            c("emotion"): emotion_confidences(turn.emotion),
            c("emotion_note"): emotion_text,
            c("cause"): cause_highlights(turn.user_text, turn.cause),
            c("cause_note"): "" if crisis else cause_note(turn.user_text, turn.cause),
            c("memories"): skipped if crisis else memories_html(turn.memories, enabled=ctx.memory is not None),
            c("strategy"): strategy_text,
            c("mind_caption"): self._caption(turn.turn_index),
            c("feeling"): feeling_html(name, turn.reply_emotion, turn.agent_vad),
        }

    @staticmethod
    def _caption(turn_index: int | None, *, final: bool = True) -> str:
        if turn_index is None:
            return "<div class='kd-muted'>Send a message to see what the agent perceives.</div>"
        if not final:
            return f"<div class='kd-muted'>Turn {turn_index + 1} · perceiving…</div>"
        return (f"<div class='kd-muted'>Turn {turn_index + 1} "
                "· click another message to see its turn</div>")

    def _session_view(self, session: SessionInfo, *, status: str = "") -> dict:
        """Everything the page shows for a stored session."""
        import gradio as gr

        character = self.agent.get_character(session.character_id)
        turns = self.agent.history(session.id)
        c = self._c
        updates = {
            c("character"): gr.update(choices=self.character_choices(), value=character.id),
            c("sessions"): gr.update(choices=session_choices(self.agent.list_sessions(character=character.id)),
                                     value=session.id),
            c("chatbot"): chat_messages(turns),
            c("session_id"): session.id,
            c("plot"): self.plot_for(turns, character),
            c("feeling"): feeling_html(character.name, None, session.agent_vad),
            c("status"): status,
        }
        updates.update(self.panels(turns[-1] if turns else None, character))
        updates.update(self.editor_values(character))
        return updates

    def _fresh_view(self, character: Character | None, *, status: str = "") -> dict:
        """An empty conversation with ``character`` (the session starts with the first message)."""
        import gradio as gr

        c = self._c
        sessions = self.agent.list_sessions(character=character.id) if character else []
        baseline = self._baseline(character)
        updates = {
            c("character"): gr.update(choices=self.character_choices(), value=character.id if character else None),
            c("sessions"): gr.update(choices=session_choices(sessions), value=None),
            c("chatbot"): [],
            c("session_id"): "",
            c("plot"): self.plot_for([], character),
            c("feeling"): feeling_html(character.name if character else "the character", None, baseline),
            c("status"): status,
        }
        updates.update(self.panels(None, character))
        updates.update(self.editor_values(character))
        return updates

    def editor_values(self, character: Character | None) -> dict:
        c = self._c
        if character is None:
            return {c("ed_id"): "", c("ed_name"): "", c("ed_profile"): "", c("ed_experiences"): "",
                    **{c(f"ed_{t}"): 0.5 for t in BIG_FIVE}}
        try:
            experiences = format_experiences(self.agent.list_memories(character.id))
        except (StoreError, NotFound, RuntimeError):
            experiences = ""
        return {c("ed_id"): character.id, c("ed_name"): character.name, c("ed_profile"): character.profile,
                c("ed_experiences"): experiences,
                **{c(f"ed_{t}"): float(getattr(character.traits, t)) for t in BIG_FIVE}}

    # -- handlers ---------------------------------------------------------------------------------
    def on_load(self, stored_session: str | None, request: Any = None) -> dict:
        """Restore the session named in the URL (or local storage), else a fresh page."""
        wanted = None
        if request is not None:
            wanted = dict(request.query_params).get("session")
        wanted = wanted or stored_session
        try:
            if wanted:
                try:
                    return self._session_view(self.agent.get_session(wanted))
                except NotFound:
                    characters = self.agent.list_characters()
                    return self._fresh_view(characters[0] if characters else None,
                                            status=alert("info", "That session no longer exists; "
                                                                 "starting a new one."))
            characters = self.agent.list_characters()
            if not characters:
                return self._fresh_view(None, status=alert("info", "No characters yet: create one on "
                                                                   "the Character tab."))
            return self._fresh_view(characters[0])
        except Exception as exc:  # the page must load whatever the store says
            return {self._c("status"): alert("error", f"Could not load the page's data: {exc}")}

    def pick_character(self, character_id: str | None) -> dict:
        try:
            character = self.agent.get_character(character_id) if character_id else None
        except NotFound as exc:
            return {self._c("status"): alert("error", str(exc))}
        return self._fresh_view(character)

    def new_session(self, character_id: str | None) -> dict:
        return self.pick_character(character_id)

    def pick_session(self, session_id: str | None) -> dict:
        if not session_id:
            return {}
        try:
            return self._session_view(self.agent.get_session(session_id))
        except NotFound as exc:
            return {self._c("status"): alert("error", str(exc))}

    def show_turn(self, session_id: str, index: Any) -> dict:
        """The annotations of the turn holding chat message ``index``."""
        if isinstance(index, (list, tuple)):
            index = index[0] if index else 0
        if not session_id or not isinstance(index, int):
            return {}
        try:
            turns = self.agent.history(session_id)
            session = self.agent.get_session(session_id)
            character = self.agent.get_character(session.character_id)
        except NotFound:
            return {}
        if not 0 <= index // 2 < len(turns):
            return {}
        return self.panels(turns[index // 2], character)

    def send(self, text: str, history: list | None, session_id: str, character_id: str | None) -> Iterator[dict]:
        """Stream one turn: annotations as they arrive, then the reply token by token."""

        c = self._c
        history = list(history or [])
        try:
            cleaned = clean_message(text, max_chars=self.agent.settings.llm.max_message_chars)
        except InvalidMessage as exc:
            yield {c("status"): alert("error", f"Message not sent: {exc}.")}
            return
        if not character_id:
            yield {c("status"): alert("error", "Pick a character first (or create one on the Character tab).")}
            return
        try:
            if session_id:
                session = self.agent.get_session(session_id)
            else:
                session = self.agent.start_session(character_id, user_id=DEMO_USER, title=cleaned[:48])
            character = self.agent.get_character(session.character_id)
        except (NotFound, StoreError) as exc:
            yield {c("status"): alert("error", f"Message not sent: {exc}")}
            return

        # The store, not the browser's copy, is the truth: a message queued behind another one
        # was sent with a chat that lacked the previous turn.
        with contextlib.suppress(NotFound, StoreError):
            history = chat_messages(self.agent.history(session.id))
        history += [{"role": "user", "content": cleaned}, {"role": "assistant", "content": ""}]
        pending = "<div class='kd-muted'>…</div>"
        yield {c("chatbot"): history, c("message"): "", c("status"): "", c("session_id"): session.id,
               c("safety"): pending, c("emotion"): None, c("emotion_note"): pending, c("cause"): [],
               c("cause_note"): "", c("memories"): pending, c("strategy"): pending,
               c("mind_caption"): self._caption(session.turn_count, final=False)}

        reply, replaced, result = "", None, None
        try:
            for event in self.agent.stream(session.id, cleaned):
                kind = event.get("type")
                if kind == "token":
                    reply += event.get("text", "")
                    history[-1] = {"role": "assistant", "content": reply}
                    yield {c("chatbot"): history}
                elif kind == "safety":
                    yield {c("safety"): safety_html(SafetyVerdict.from_dict(event.get("safety")))}
                elif kind == "emotion":
                    emotion = EmotionReading.from_dict(event.get("emotion"))
                    yield {c("emotion"): emotion_confidences(emotion), c("emotion_note"): emotion_note(emotion)}
                elif kind == "cause":
                    cause = CauseReading.from_dict(event.get("cause"))
                    yield {c("cause"): cause_highlights(cleaned, cause), c("cause_note"): cause_note(cleaned, cause)}
                elif kind == "memories":
                    memories = [RecalledMemory.from_dict(m) for m in event.get("memories") or ()]
                    yield {c("memories"): memories_html(memories)}
                elif kind == "strategy":
                    yield {c("strategy"): strategy_html(StrategyChoice.from_dict(event.get("strategy")))}
                elif kind == "agent_emotion":
                    vad = VAD.from_dict(event.get("vad"))
                    yield {c("feeling"): feeling_html(character.name, event.get("label"), vad)}
                elif kind == "replaced":
                    replaced = event.get("reason") or "unsafe"
                    reply = event.get("reply", reply)
                elif kind == "done":
                    result = event["result"]
        except Exception as exc:  # shown on the page; the SDK stored nothing of this turn
            history = history[:-2]
            yield {c("chatbot"): history, c("message"): text, c("status"): alert("error", _explain(exc)),
                   **self._session_refresh(session.id, character)}
            return

        if result is None:
            return
        history[-1] = {"role": "assistant", "content": result.reply}
        updates = self.panels(result, character)
        updates[c("safety")] = safety_html(result.safety, replaced=replaced,
                                           enabled=self.agent.context.safety is not None)
        updates.update(self._session_refresh(session.id, character))
        updates[c("chatbot")] = history
        yield updates

    def _session_refresh(self, session_id: str, character: Character) -> dict:
        import gradio as gr

        try:
            turns = self.agent.history(session_id)
            sessions = self.agent.list_sessions(character=character.id)
        except (NotFound, StoreError):
            return {}
        sessions = [s for s in sessions if s.turn_count or s.id == session_id]
        return {self._c("plot"): self.plot_for(turns, character),
                self._c("sessions"): gr.update(choices=session_choices(sessions),
                                               value=session_id if turns else None)}

    def new_character(self) -> dict:
        updates = self.editor_values(None)
        updates[self._c("ed_status")] = alert("info", "Fill in the new character and press Save.")
        return updates

    def save_character(self, character_id: str, name: str, profile: str, *rest: Any) -> dict:
        import gradio as gr

        c = self._c
        *traits, experiences_text = rest
        name = (name or "").strip()
        if not name:
            return {c("ed_status"): alert("error", "A character needs a name.")}
        try:
            if not character_id:
                existing = {ch.name.lower() for ch in self.agent.list_characters()}
                if name.lower() in existing:
                    return {c("ed_status"): alert("error", f"A character named {name!r} exists already: "
                                                           "pick it above to edit it.")}
            data = {"name": name, "profile": (profile or "").strip(),
                    "traits": {t: float(v) for t, v in zip(BIG_FIVE, traits)},
                    "experiences": parse_experiences(experiences_text)}
            if character_id:
                data["id"] = character_id
            saved = self.agent.create_character(data)
        except (ValueError, StoreError, RuntimeError) as exc:
            return {c("ed_status"): alert("error", f"Not saved: {exc}")}
        note = "" if self.agent.context.memory is not None or not data["experiences"] else \
            " (memory is switched off, so the experiences were not stored)"
        updates = self._fresh_view(saved) if saved.id != character_id else {
            c("character"): gr.update(choices=self.character_choices(), value=saved.id)}
        updates[c("ed_status")] = alert("success", f"Saved {saved.name}{note}.")
        return updates

    def connect(self, backend: str, base_url: str, model: str) -> dict:
        """Switch the LLM backend after a probe; keep the old one when the probe fails."""
        c = self._c
        current = self.agent.settings
        llm = {"backend": backend or "embedded"}
        if llm["backend"] == "openai":
            base_url = (base_url or "").strip()
            if not re.match(r"^https?://", base_url):
                return {c("backend_status"): alert("error", "The server URL must start with http:// or https://, "
                                                             "e.g. http://127.0.0.1:8000/v1")}
            llm["base_url"] = base_url
            if (model or "").strip():
                llm["model"] = model.strip()
        settings = current.model_copy(update={"llm": current.llm.model_copy(update=llm)})
        try:
            chat_model = self.chat_model_factory(settings)
            chat_model.complete([{"role": "user", "content": "Hello"}], max_new_tokens=1)
        except LLMUnavailable as exc:
            where = settings.llm.base_url if llm["backend"] == "openai" else "the embedded model"
            return {c("backend_status"): alert("error", f"Unreachable: {where} did not answer ({exc}). "
                                                        f"Still using {self.backend_label()}.")}
        except (LLMError, ImportError, OSError, ValueError, RuntimeError) as exc:
            return {c("backend_status"): alert("error", f"That backend failed: {exc}. "
                                                        f"Still using {self.backend_label()}.")}
        self.agent = rebuild_agent(self.agent, settings, chat_model)
        return {c("backend_status"): alert("success", f"Connected: now using {self.backend_label()}.")}

    def backend_label(self) -> str:
        llm = self.agent.settings.llm
        if llm.backend == "openai":
            return f"{llm.model} at {llm.base_url}"
        return f"the embedded {llm.model}"


def rebuild_agent(agent: Agent, settings: Settings, chat_model: ChatModel) -> Agent:
    """A new agent with another chat model, reusing the store and the loaded components."""
    ctx = agent.context
    components: dict[str, Any] = dict(encoder=ctx.encoder, detector=ctx.detector,
                                      cause_finder=ctx.cause_finder, memory=ctx.memory,
                                      transition=ctx.transition, safety=ctx.safety)
    if settings.planner.kind != "llm":  # an LLM planner is rebuilt over the new model
        components["planner"] = ctx.planner
    return Agent.from_settings(settings, chat_model=chat_model, store=ctx.store, **components)


def _explain(exc: Exception) -> str:
    if isinstance(exc, InvalidMessage):
        return f"Message not sent: {exc}."
    if isinstance(exc, LLMUnavailable):
        return (f"The language model is unreachable ({exc}). Nothing was stored; try again, or "
                "switch the backend on the Backend tab.")
    if isinstance(exc, LLMError):
        return f"The language model failed ({exc}). Nothing was stored; try again."
    if isinstance(exc, NotFound):
        return f"{exc}. Start a new session."
    return f"Something went wrong ({type(exc).__name__}: {exc}). Nothing was stored."
