"""LLM backends: the base class with a fake, the OpenAI-compatible client's error mapping against
a tiny local HTTP server started here, the LangChain adapters, the export, and (marked ``slow``)
the real embedded SmolLM2."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.llm.base import ChatModel, LLMError, LLMUnavailable, MalformedOutput
from agent.llm.embedded import EmbeddedChatModel, _first_stop, _is_flat_object, _sample, _stop_prefix_len
from agent.llm.weights import ensure_model_folder
from agent.llm.openai_compat import OpenAIChatModel
from agent.planner.strategies import STRATEGIES

USER = [{"role": "user", "content": "I failed my exam."}]


# -- the base class, with a fake -----------------------------------------------------------------

class Scripted(ChatModel):
    """Answers with a fixed text and records the options it was called with."""

    name = "scripted"

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list = []

    def _complete(self, messages, options):
        self.calls.append(options)
        return self.answer

    def _stream(self, messages, options):
        self.calls.append(options)
        yield from self.answer.split(" ")


def test_sync_async_and_streams_agree():
    model = Scripted("I hear you")
    assert model.complete(USER) == "I hear you"
    assert list(model.stream(USER)) == ["I", "hear", "you"]
    assert asyncio.run(model.acomplete(USER)) == "I hear you"

    async def collect():
        return [p async for p in model.astream(USER)]

    assert asyncio.run(collect()) == ["I", "hear", "you"]


def test_astream_forwards_errors():
    class Broken(Scripted):
        def _stream(self, messages, options):
            yield "half"
            raise LLMUnavailable("gone")

    async def collect():
        return [p async for p in Broken("x").astream(USER)]

    with pytest.raises(LLMUnavailable, match="gone"):
        asyncio.run(collect())


def test_choose_returns_exactly_one_choice_and_passes_choices():
    model = Scripted(" Question.")
    assert model.choose(USER, ["Question", "Others"]) == "Question"
    assert model.calls[-1].choices == ("Question", "Others")
    with pytest.raises(MalformedOutput):
        Scripted("Question or Others").choose(USER, ["Question", "Others"])
    with pytest.raises(MalformedOutput):
        Scripted("banana").choose(USER, ["Question", "Others"])


def test_complete_json_parses_and_checks_required_fields():
    schema = {"type": "object", "properties": {"emotion": {"type": "string"}}, "required": ["emotion"]}
    assert Scripted('Sure: {"emotion": "sad"}').complete_json(USER, schema) == {"emotion": "sad"}
    with pytest.raises(MalformedOutput, match="required"):
        Scripted('{"mood": "sad"}').complete_json(USER, schema)
    with pytest.raises(MalformedOutput):
        Scripted("no json here").complete_json(USER, schema)


# -- a tiny OpenAI-compatible server ---------------------------------------------------------------

def _completion(text: str) -> dict:
    return {"id": "c1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}]}


def _chunk(text: str) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return f"data: {json.dumps(body)}\n\n".encode()


class FakeServer:
    """A local HTTP server whose behaviour each test sets: ``mode`` is one of ok, error500,
    malformed, hang, stream, broken_stream, stalled_stream, slow_ok."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    server.handle(self, body)
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, h: BaseHTTPRequestHandler, body: dict) -> None:
        def send(status: int, payload: bytes, ctype: str = "application/json") -> None:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)

        mode = self.mode
        if mode == "hang":
            self.release.wait(10)
            return
        if mode == "slow_ok":
            time.sleep(0.4)
        if mode in ("ok", "slow_ok") and not body.get("stream"):
            answer = (body.get("structured_outputs") or {}).get("choice", ["fine"])[0]
            send(200, json.dumps(_completion(answer)).encode())
        elif mode == "error500":
            send(500, json.dumps({"error": {"message": "boom", "type": "server_error"}}).encode())
        elif mode == "malformed":
            send(200, b'{"this is": "not a completion"')
        elif mode in ("stream", "ok", "broken_stream", "stalled_stream"):
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()

            def chunk(data: bytes) -> None:
                h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                h.wfile.flush()

            chunk(_chunk("Hello"))
            chunk(_chunk(" there"))
            if mode == "broken_stream":
                h.wfile.write(b"ff\r\npartial")  # a chunk cut short, then the socket closes
                h.wfile.flush()
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            if mode == "stalled_stream":
                self.release.wait(10)
                return
            chunk(b"data: [DONE]\n\n")
            h.wfile.write(b"0\r\n\r\n")

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    s = FakeServer()
    yield s
    s.close()


def _client(server: FakeServer, **kw) -> OpenAIChatModel:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout_s", 5.0)
    return OpenAIChatModel(server.url, "SmolLM2-135M-Instruct", **kw)


def test_openai_complete_sends_settings_and_structured_outputs(server):
    model = _client(server, max_new_tokens=17, temperature=0.2, top_p=0.5)
    assert model.complete(USER, stop=["\n"]) == "fine"
    sent = server.requests[-1]
    assert sent["model"] == "SmolLM2-135M-Instruct"
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"], sent["stop"]) == (17, 0.2, 0.5, ["\n"])
    assert model.choose(USER, ["Question", "Others"]) == "Question"
    assert server.requests[-1]["structured_outputs"] == {"choice": ["Question", "Others"]}
    assert "guided_choice" not in server.requests[-1]
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    server.mode = "malformed"  # only the request body matters here
    with pytest.raises(LLMError):
        model.complete_json(USER, schema)
    assert server.requests[-1]["structured_outputs"] == {"json": schema}


def test_openai_streams_sync_and_async(server):
    server.mode = "stream"
    model = _client(server)
    assert list(model.stream(USER)) == ["Hello", " there"]

    async def collect():
        return [p async for p in model.astream(USER)]

    assert asyncio.run(collect()) == ["Hello", " there"]


def test_openai_http_error_keeps_status_and_is_retried(server):
    server.mode = "error500"
    with pytest.raises(LLMError, match="HTTP 500") as info:
        _client(server, max_retries=1).complete(USER)
    assert info.value.status_code == 500
    assert not isinstance(info.value, LLMUnavailable)
    assert len(server.requests) == 2  # one retry, with backoff


def test_openai_malformed_body_is_an_llm_error(server):
    server.mode = "malformed"
    with pytest.raises(LLMError, match=r"127\.0\.0\.1"):
        _client(server).complete(USER)


def test_openai_hang_times_out_as_unavailable(server):
    server.mode = "hang"
    started = time.perf_counter()
    with pytest.raises(LLMUnavailable, match=r"did not answer within 0\.5 s"):
        _client(server, timeout_s=0.5).complete(USER)
    assert time.perf_counter() - started < 5


def test_openai_connection_refused_names_the_url():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    model = OpenAIChatModel(url, "m", max_retries=0)
    with pytest.raises(LLMUnavailable, match=f"127.0.0.1:{port}"):
        model.complete(USER)
    with pytest.raises(LLMUnavailable):
        list(model.stream(USER))
    with pytest.raises(LLMUnavailable):
        asyncio.run(model.acomplete(USER))


def test_openai_stream_broken_midway_is_unavailable(server):
    server.mode = "broken_stream"
    pieces: list[str] = []
    with pytest.raises(LLMUnavailable, match="broke"):
        for piece in _client(server).stream(USER):
            pieces.append(piece)
    assert pieces == ["Hello", " there"]


def test_openai_stalled_stream_times_out(server):
    server.mode = "stalled_stream"

    async def collect():
        return [p async for p in _client(server, timeout_s=0.5).astream(USER)]

    with pytest.raises(LLMUnavailable):
        asyncio.run(collect())


def test_openai_async_requests_are_concurrent(server):
    server.mode = "slow_ok"
    model = _client(server)

    async def many():
        return await asyncio.gather(*(model.acomplete(USER) for _ in range(8)))

    assert asyncio.run(many()) == ["fine"] * 8
    assert server.max_in_flight >= 6  # not serialised: they were in flight together


def test_openai_bad_settings_are_refused():
    with pytest.raises(ValueError, match="http"):
        OpenAIChatModel("localhost:8000", "m")
    with pytest.raises(ValueError):
        OpenAIChatModel("http://x/v1", "m", timeout_s=0)


def test_make_chat_model_picks_openai_from_settings():
    from agent.llm import make_chat_model
    from agent.settings import Settings

    model = make_chat_model(Settings.load(config_file=None, llm={
        "backend": "openai", "base_url": "http://10.0.0.1:9/v1", "model": "x", "timeout_s": 3}))
    assert isinstance(model, OpenAIChatModel)
    assert (model.base_url, model.model, model.timeout_s) == ("http://10.0.0.1:9/v1", "x", 3)


# -- LangChain adapters -------------------------------------------------------------------------

def test_langchain_model_as_backend():
    from langchain_core.language_models.fake_chat_models import (FakeListChatModel,
                                                                 GenericFakeChatModel)

    from agent.llm.langchain import LangChainChatModel

    assert LangChainChatModel(FakeListChatModel(responses=["hi there"])).complete(USER) == "hi there"
    streamed = LangChainChatModel(GenericFakeChatModel(messages=iter(["so sorry to hear"])))
    assert "".join(streamed.stream(USER)) == "so sorry to hear"
    chooser = LangChainChatModel(FakeListChatModel(responses=["Question"]))
    assert chooser.choose(USER, ["Question", "Others"]) == "Question"
    assert asyncio.run(LangChainChatModel(FakeListChatModel(responses=["a"])).acomplete(USER)) == "a"
    # A LangChain model without with_structured_output: instruction + validation.
    as_json = LangChainChatModel(FakeListChatModel(responses=['{"emotion": "sad"}']))
    assert as_json.complete_json(USER, {"type": "object", "required": ["emotion"]}) == {"emotion": "sad"}


def test_langchain_errors_become_llm_errors():
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from agent.llm.langchain import LangChainChatModel

    class Failing(FakeListChatModel):
        def _call(self, *args, **kwargs):
            raise ConnectionError("provider down")

    with pytest.raises(LLMError, match="provider down"):
        LangChainChatModel(Failing(responses=["x"])).complete(USER)
    with pytest.raises(TypeError):
        LangChainChatModel(object())


def test_our_model_inside_langchain():
    from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage

    from agent.llm.langchain import as_langchain

    scripted = Scripted("you are not alone")
    lc = as_langchain(scripted)
    reply = lc.invoke([SystemMessage(content="be kind"), HumanMessage(content="hi")], max_tokens=5)
    assert reply.content == "you are not alone"
    assert scripted.calls[-1].max_new_tokens == 5
    assert "".join(c.content for c in lc.stream("hi")) == "youarenotalone"
    assert asyncio.run(lc.ainvoke("hi")).content == "you are not alone"

    async def collect():
        return [c.content async for c in lc.astream("hi")]

    assert "".join(asyncio.run(collect())) == "youarenotalone"
    with pytest.raises(ValueError, match="tool"):
        lc.invoke([ToolMessage(content="x", tool_call_id="1")])
    with pytest.raises(ValueError, match="unsupported option"):
        lc.invoke("hi", frobnicate=1)


# -- embedded: pure parts and the model folder ----------------------------------------------------

def test_sampling_and_stop_strings_by_hand():
    import torch

    logits = torch.tensor([0.0, 3.0, 1.0])
    assert _sample(logits, 0.0, 0.9, None) == 1  # greedy
    # top_p tiny keeps only the most likely token, whatever the temperature.
    assert {_sample(logits, 5.0, 1e-6, None) for _ in range(20)} == {1}
    assert _first_stop("Hi.\nUser: x", ("\nUser:",)) == 3
    assert _first_stop("Hi", ("\nUser:",)) is None
    assert _stop_prefix_len("Hi.\nUs", ("\nUser:",)) == 3  # held back: may become a stop
    assert _stop_prefix_len("Hi.", ("\nUser:",)) == 0


def test_flat_schema_detection():
    assert _is_flat_object({"type": "object", "properties": {
        "emotion": {"enum": ["sad", "happy"]}, "intensity": {"type": "integer"},
        "why": {"type": "string"}, "crisis": {"type": "boolean"}}})
    assert not _is_flat_object({"type": "object", "properties": {"xs": {"type": "array"}}})
    assert not _is_flat_object({"type": "array"})


def test_model_folder_conversion_is_atomic(tmp_path, monkeypatch):
    import agent.llm.weights as weights

    def crash(gguf, dest):
        Path(dest).mkdir()
        (Path(dest) / "config.json").write_text("{}")
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(weights, "_convert_gguf", crash)
    target = tmp_path / "models" / "smol"
    with pytest.raises(RuntimeError):
        ensure_model_folder(target, gguf=tmp_path / "x.gguf")
    assert not target.exists() and list((tmp_path / "models").iterdir()) == []

    calls = []

    def convert(gguf, dest):
        calls.append(dest)
        Path(dest).mkdir()
        (Path(dest) / "config.json").write_text(json.dumps(
            {"quantization_config": {"quant_method": "gguf"}, "model_type": "llama"}))
        (Path(dest) / "model.safetensors").write_bytes(b"weights")

    monkeypatch.setattr(weights, "_convert_gguf", convert)
    assert ensure_model_folder(target, gguf=tmp_path / "x.gguf") == target
    assert ensure_model_folder(target, gguf=tmp_path / "x.gguf") == target
    assert len(calls) == 1  # converted once, reused afterwards
    # A folder converted by an older recipe loses the GGUF quantization entry vLLM refuses.
    assert "quantization_config" not in json.loads((target / "config.json").read_text())


def test_model_folder_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(LLMError, match="not a Hugging Face model folder"):
        ensure_model_folder(tmp_path)


def test_export_copies_the_folder(tmp_path, monkeypatch):
    import agent.llm.export as export
    from agent.settings import Settings

    source = tmp_path / "src"
    source.mkdir()
    (source / "config.json").write_text("{}")
    (source / "model.safetensors").write_bytes(b"w")
    monkeypatch.setattr(export, "ensure_model_folder", lambda folder: source)
    settings = Settings.load(config_file=None, home=str(tmp_path / "home"))
    dest = export.export_model(settings, tmp_path / "out" / "smol")
    assert sorted(p.name for p in dest.iterdir()) == ["config.json", "model.safetensors"]
    assert export.export_model(settings, dest) == dest  # the same export again: nothing to do
    (dest / "model.safetensors").write_bytes(b"other weights")
    with pytest.raises(FileExistsError):
        export.export_model(settings, dest)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KINDRED_CONFIG", raising=False)
    assert export.main([str(dest)]) == 1  # a different folder is there: a message, status 1


def test_embedded_refuses_bad_options(tmp_path):
    with pytest.raises(ValueError):
        EmbeddedChatModel(tmp_path, max_new_tokens=0)
    with pytest.raises(ValueError):
        EmbeddedChatModel(tmp_path, max_new_tokens=4096, context_window=2048)


# -- embedded: the real model (slow) --------------------------------------------------------------

@pytest.fixture(scope="module")
def smol() -> EmbeddedChatModel:
    from agent.settings import Settings

    settings = Settings.load(config_file=None, llm={"threads": 1, "max_new_tokens": 24})
    return EmbeddedChatModel.from_settings(settings).load()


@pytest.mark.slow
def test_embedded_generates_and_streams(smol):
    messages = [{"role": "system", "content": "You are Ada, a kind friend."},
                {"role": "user", "content": "I failed my exam and I feel awful."}]
    pieces = list(smol.stream(messages, temperature=0.0))
    text = "".join(pieces)
    assert len(pieces) > 3 and text.strip()
    assert smol.complete(messages, temperature=0.0) == text  # greedy: same text either way
    assert "".join(smol.stream(messages, temperature=0.0, stop=(".",))).count(".") == 0


@pytest.mark.slow
def test_embedded_choose_returns_exactly_one_strategy(smol):
    messages = [{"role": "system", "content": "Pick the best support strategy for the reply."},
                {"role": "user", "content": "My dog died yesterday."}]
    choice = smol.choose(messages, STRATEGIES)
    assert choice in STRATEGIES
    yes_no = [{"role": "user", "content": "Is fire hot? Answer yes or no."}]
    assert smol.choose(yes_no, ["yes", "no"]) == "yes"


@pytest.mark.slow
def test_embedded_json_follows_a_flat_schema(smol):
    schema = {"type": "object", "required": ["emotion", "intensity", "reason", "crisis"],
              "properties": {"emotion": {"enum": ["sad", "happy", "angry"]},
                             "intensity": {"type": "integer"},
                             "reason": {"type": "string", "maxLength": 40},
                             "crisis": {"type": "boolean"}}}
    data = smol.complete_json([{"role": "user", "content": "My dog died and I cry all day."}], schema)
    assert data["emotion"] in {"sad", "happy", "angry"}
    assert isinstance(data["intensity"], int) and isinstance(data["crisis"], bool)
    assert isinstance(data["reason"], str) and len(data["reason"]) <= 40


@pytest.mark.slow
def test_embedded_truncates_oldest_context(smol):
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "word " * 300}
               for i in range(12)]
    messages = [{"role": "system", "content": "SYSTEM-PROMPT"}, *history,
                {"role": "user", "content": "LATEST question?"}]
    ids = smol.prompt_ids(messages, 24)
    assert len(ids) <= smol.context_window - 24
    text = smol.tokenizer.decode(ids)
    assert "SYSTEM-PROMPT" in text and "LATEST question?" in text and "turn 0 " not in text
    huge = [{"role": "user", "content": "a" * 1_000_000 + " THE END"}]
    ids = smol.prompt_ids(huge, 24)
    assert len(ids) <= smol.context_window - 24 and "THE END" in smol.tokenizer.decode(ids)


@pytest.mark.slow
def test_embedded_is_thread_safe(smol):
    messages = [{"role": "user", "content": "Say something kind."}]
    expected = smol.complete(messages, temperature=0.0, max_new_tokens=8)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(
        smol.complete(messages, temperature=0.0, max_new_tokens=8))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 3


def test_repetition_penalty_matches_the_ctrl_rule():
    import torch

    from agent.llm.embedded import _penalise

    logits = torch.tensor([2.0, -1.0, 3.0, 0.5])
    with torch.inference_mode():  # as in decoding
        logits = logits * 1
    out = _penalise(logits, torch.tensor([0, 1]), 2.0)
    assert out.tolist() == [1.0, -2.0, 3.0, 0.5]  # seen: 2/2 and -1*2; unseen untouched
