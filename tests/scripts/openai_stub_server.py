"""Test helper process: a minimal server speaking the OpenAI chat-completions API (streaming and
not), slow enough to be killed mid-stream. Used by test_faults.py.

usage: python tests/scripts/openai_stub_server.py PORT [SECONDS_PER_TOKEN]
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
DELAY = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
WORDS = "I am here with you and I am listening to every word you say".split()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]}).encode()
        self._send(200, body, "application/json")

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not request.get("stream"):
            body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "stub",
                               "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": " ".join(WORDS)}}]})
            self._send(200, body.encode(), "application/json")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, word in enumerate(WORDS):
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "stub",
                     "choices": [{"index": 0, "delta": {"content": (" " if i else "") + word},
                                  "finish_reason": None}]}
            self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
            time.sleep(DELAY)
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _chunk(self, data: bytes):
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


print("ready", flush=True)
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
