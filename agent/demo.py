"""The Gradio demo: a streaming chat with a character, and the agent's mind on show beside it.

``build_demo(agent)`` returns the page (a ``gr.Blocks``); launch it with the page's look:

>>> demo = build_demo(Agent.from_settings())                        # doctest: +SKIP
>>> demo.launch(server_port=7860, **page_style())                  # doctest: +SKIP

What the page does, and the contract the browser tests check:

- The chat streams the reply from ``agent.stream``; annotation events fill the side panel as they
  arrive (safety verdict, the user's emotion with its top-k bars, the cause words highlighted in
  the message, recalled memories, strategy and stage), and the plot of the character's VAD
  trajectory against the user's detected valence is redrawn after each turn.
- A session is created on the first message and its id is put in the page's URL
  (``?session=<id>``) and in the browser's local storage; loading the page with it reads the
  history back from the store, so a reload restores the conversation.
- Clicking a message shows the annotations of that turn.
- Characters are picked from the store and edited on the "Character" tab (saved through
  ``agent.create_character``); the LLM backend is switched on the "Backend" tab, which probes the
  new backend before using it and says so clearly when the server is unreachable.
- Every error (an empty or over-long message, an unreachable LLM, an unknown session) is shown as
  a message on the page; no handler raises.

The handlers live in ``agent.demo_controller``; this module lays the page out and wires them.
One agent serves every browser tab of the process: switching the backend switches it for all.
Panels show "—" where a component is switched off (its field is None).
"""

from pathlib import Path
from typing import Any

from agent.demo_controller import ChatModelFactory, DemoController
from agent.demo_panels import NO_READING, alert
from agent.records import BIG_FIVE
from agent.sdk import Agent

ASSETS = Path(__file__).resolve().parent / "demo_assets"
"""The page's static text and style: ``header.html``, ``plot_legend.html``, ``page.css``."""
HEADER = (ASSETS / "header.html").read_text(encoding="utf-8")
PLOT_LEGEND = (ASSETS / "plot_legend.html").read_text(encoding="utf-8")
CSS = (ASSETS / "page.css").read_text(encoding="utf-8")

EXAMPLES = [
    "I failed my driving test again and I feel so stupid.",
    "My best friend moved away last month and the flat feels empty.",
    "I got the job! I start on Monday.",
]


def page_style() -> dict[str, Any]:
    """The ``launch`` keywords that give the page its look (theme and CSS moved to ``launch``
    in Gradio 6). The theme's fonts are served by Gradio itself: the page needs no network."""
    import gradio as gr

    theme = gr.themes.Soft(primary_hue="teal", secondary_hue="amber", neutral_hue="slate")
    return {"theme": theme, "css": CSS}


# -- the page -------------------------------------------------------------------------------------
_URL_JS = """
(sid) => {
  const url = new URL(window.location.href);
  if (sid) { url.searchParams.set("session", sid); } else { url.searchParams.delete("session"); }
  window.history.replaceState(null, "", url.toString());
  return sid;
}
"""


def build_demo(agent: Agent, *, chat_model_factory: ChatModelFactory | None = None, notice: str = ""):
    """The demo page over ``agent``. ``chat_model_factory(settings)`` builds the chat model when the
    backend is switched on the page (default: ``agent.llm.make_chat_model``); ``notice`` is shown
    under the header (e.g. which components are switched off)."""
    import gradio as gr

    ctl = DemoController(agent, chat_model_factory)
    ui = ctl.ui
    with gr.Blocks(title="Kindred · empathetic agent demo", analytics_enabled=False) as demo:
        demo.controller = ctl  # for tests and embedding applications
        gr.HTML(HEADER)
        if notice:
            gr.HTML(alert("info", notice), elem_id="kd-notice")
        ui["session_id"] = gr.Textbox(visible=False, elem_id="kd-session-id")
        stored_session = gr.BrowserState("", storage_key="kindred-demo-session")
        with gr.Row(equal_height=False):
            ui["character"] = gr.Dropdown(label="Character", choices=[], scale=2, min_width=160,
                                          elem_id="kd-character")
            ui["sessions"] = gr.Dropdown(label="Past sessions", choices=[], scale=3, min_width=200,
                                         elem_id="kd-sessions")
            new_session = gr.Button("New session", variant="secondary", scale=1, min_width=120,
                                    elem_id="kd-new-session")
        with gr.Tabs():
            with gr.Tab("Conversation", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=320):
                        ui["chatbot"] = gr.Chatbot(label="Conversation", show_label=False, height=470, elem_id="kd-chat",
                                                   buttons=["copy"], feedback_options=None,
                                                   placeholder="Say how your day went…")
                        with gr.Row(equal_height=True):
                            ui["message"] = gr.Textbox(show_label=False, placeholder="Type a message and press Enter",
                                                       scale=5, min_width=180, lines=1, max_lines=6,
                                                       elem_id="kd-message", autofocus=True)
                            send = gr.Button("Send", variant="primary", scale=1, min_width=80,
                                             elem_id="kd-send")
                        ui["status"] = gr.HTML("", elem_id="kd-status")
                        gr.Examples(EXAMPLES, inputs=[ui["message"]], label="Try")
                    with gr.Column(scale=2, min_width=300, elem_id="kd-mind"):
                        ui["mind_caption"] = gr.HTML(elem_id="kd-mind-caption")
                        gr.HTML("<div class='kd-title'>Safety</div>")
                        ui["safety"] = gr.HTML(NO_READING, elem_id="kd-safety")
                        ui["emotion"] = gr.Label(label="Your emotion (top guesses)", num_top_classes=3,
                                                 elem_id="kd-emotion")
                        ui["emotion_note"] = gr.HTML(elem_id="kd-emotion-note")
                        ui["cause"] = gr.HighlightedText(label="Why: the cause words in your message",
                                                         color_map={"cause": "#f59e0b"},
                                                         show_legend=False, elem_id="kd-cause")
                        ui["cause_note"] = gr.HTML(elem_id="kd-cause-note")
                        gr.HTML("<div class='kd-title'>Support strategy</div>")
                        ui["strategy"] = gr.HTML(NO_READING, elem_id="kd-strategy")
                        gr.HTML("<div class='kd-title'>What the character remembered</div>")
                        ui["memories"] = gr.HTML(NO_READING, elem_id="kd-memories")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=320):
                        ui["plot"] = gr.Plot(label="Feelings over the turns", show_label=False,
                                             format="png", elem_id="kd-plot")
                    with gr.Column(scale=2, min_width=300):
                        gr.HTML(PLOT_LEGEND)
                        ui["feeling"] = gr.HTML(elem_id="kd-feeling")
            with gr.Tab("Character", id="character"):
                gr.Markdown("Edit the selected character, or press **New character**. "
                            "Experiences: one per line, `emotion: what happened` "
                            "(e.g. `proud: I rowed across the bay`); saving adds new ones to the "
                            "character's memory and keeps the old ones.")
                ui["ed_id"] = gr.Textbox(visible=False)
                with gr.Row():
                    with gr.Column(min_width=300):
                        ui["ed_name"] = gr.Textbox(label="Name", elem_id="kd-ed-name")
                        ui["ed_profile"] = gr.Textbox(label="Profile", lines=4, elem_id="kd-ed-profile")
                        ui["ed_experiences"] = gr.Textbox(label="Experiences", lines=6,
                                                          elem_id="kd-ed-experiences")
                    with gr.Column(min_width=260):
                        for trait in BIG_FIVE:
                            ui[f"ed_{trait}"] = gr.Slider(0.0, 1.0, value=0.5, step=0.05,
                                                          label=trait.capitalize(), elem_id=f"kd-ed-{trait}")
                with gr.Row():
                    new_character = gr.Button("New character", elem_id="kd-ed-new")
                    save_character = gr.Button("Save character", variant="primary", elem_id="kd-ed-save")
                ui["ed_status"] = gr.HTML(elem_id="kd-ed-status")
            with gr.Tab("Backend", id="backend"):
                gr.Markdown("Where replies are generated: **embedded** runs SmolLM2-135M-Instruct in "
                            "this process (the first use converts the model, about a minute); "
                            "**openai** uses any OpenAI-compatible server, such as `vllm serve`. "
                            "The new backend is tried before it replaces the current one.")
                llm = agent.settings.llm
                backend = gr.Radio(["embedded", "openai"], value=llm.backend, label="Backend",
                                   elem_id="kd-backend")
                base_url = gr.Textbox(label="Server URL (openai)", value=llm.base_url, elem_id="kd-base-url")
                model = gr.Textbox(label="Model name on the server", value=llm.model, elem_id="kd-model")
                connect = gr.Button("Connect", variant="primary", elem_id="kd-connect")
                ui["backend_status"] = gr.HTML(alert("info", f"Using {ctl.backend_label()}."),
                                               elem_id="kd-backend-status")

        everything = list(ui.values())
        editor = [ui["ed_id"], ui["ed_name"], ui["ed_profile"], *(ui[f"ed_{t}"] for t in BIG_FIVE),
                  ui["ed_experiences"]]

        def on_load(stored: str, request: gr.Request):
            return ctl.on_load(stored, request)

        def on_select(session_id: str, evt: gr.SelectData):
            return ctl.show_turn(session_id, evt.index)

        demo.load(on_load, inputs=[stored_session], outputs=everything)
        ui["character"].input(ctl.pick_character, inputs=[ui["character"]], outputs=everything)
        ui["sessions"].input(ctl.pick_session, inputs=[ui["sessions"]], outputs=everything)
        new_session.click(ctl.new_session, inputs=[ui["character"]], outputs=everything)
        chat_inputs = [ui["message"], ui["chatbot"], ui["session_id"], ui["character"]]
        # "multiple": a message sent while a reply streams waits for its turn instead of being dropped
        ui["message"].submit(ctl.send, inputs=chat_inputs, outputs=everything, trigger_mode="multiple")
        send.click(ctl.send, inputs=chat_inputs, outputs=everything, trigger_mode="multiple")
        ui["chatbot"].clear(ctl.new_session, inputs=[ui["character"]], outputs=everything)
        ui["chatbot"].select(on_select, inputs=[ui["session_id"]], outputs=everything)
        # The session id goes into the URL (reload-proof, shareable) and the browser's storage.
        ui["session_id"].change(lambda sid: sid, inputs=[ui["session_id"]], outputs=[stored_session],
                                js=_URL_JS)
        new_character.click(ctl.new_character, outputs=everything)
        save_character.click(ctl.save_character, inputs=editor, outputs=everything)
        connect.click(ctl.connect, inputs=[backend, base_url, model], outputs=everything)
    return demo
