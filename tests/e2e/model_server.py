"""A scripted stand-in for the model APIs the real agent clients talk to.

One ``ModelServer`` per test, bound to 127.0.0.1 on an ephemeral port. It
answers three wire formats:

* Anthropic  ``POST /v1/messages`` (SSE when ``stream`` is set, else JSON):
             Claude Code, and also Copilot CLI (COPILOT_PROVIDER_TYPE=anthropic),
             Qwen Code (--auth-type anthropic) and opencode (provider.anthropic
             baseURL .../v1); requests without ``tools`` (titles) answer "ok";
* Gemini     ``POST /v1beta/models/<m>:streamGenerateContent?alt=sse`` and
             ``:generateContent`` (the model-router classifier and other
             one-shot helper calls get a JSON answer that satisfies them);
* OpenAI     ``POST /v1/responses`` (Responses API over SSE, for Codex).

The script is a list of steps, each either ``{"text": "..."}`` or
``{"tool": NAME, "input": {...}}`` (Codex extras: ``"namespace"`` for an MCP
tool, ``"custom": True`` for a freeform tool such as apply_patch, whose
``input`` is a string). A step may also carry ``"before": callable``, run once
(in the server thread) just before that step is first served: a test uses
it to act "while the model thinks" (send a message, take a lock). Which step answers a request is decided by the
conversation itself: step *n* answers a request whose history already holds
*n* model turns. Retries and helper requests therefore never shift the
script, and once it is exhausted the server says "done".

Every request is logged (``server.requests``: path, headers, parsed body);
``server.main_requests()`` keeps those that are part of the agent loop, and
``server.text()`` flattens bodies to a string for ``in`` assertions.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DONE = {"text": "done"}
_ids = itertools.count(1)


def _sse(events):
    out = []
    for name, data in events:
        if name:
            out.append(f"event: {name}\n")
        out.append(f"data: {json.dumps(data)}\n\n")
    return "".join(out).encode()


# ---- Anthropic -----------------------------------------------------------


def _anthropic_turns(body):
    return sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")


def _anthropic_block(step):
    if "tool" in step:
        return {
            "type": "tool_use",
            "id": f"toolu_{next(_ids):04d}",
            "name": step["tool"],
            "input": step.get("input", {}),
        }
    return {"type": "text", "text": step["text"]}


def anthropic_reply(body, step):
    block = _anthropic_block(step)
    stop = "tool_use" if block["type"] == "tool_use" else "end_turn"
    usage = {"input_tokens": 10, "output_tokens": 5}
    msg = {
        "id": f"msg_{next(_ids):04d}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude"),
        "stop_reason": None,
        "stop_sequence": None,
    }
    if not body.get("stream"):
        return "application/json", json.dumps(dict(msg, content=[block], stop_reason=stop, usage=usage)).encode()
    if block["type"] == "tool_use":
        start = dict(block, input={})
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
    else:
        start = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": block["text"]}
    return "text/event-stream", _sse(
        [
            ("message_start", {"type": "message_start", "message": dict(msg, content=[], usage=usage)}),
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": start}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 5},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
    )


# ---- Gemini --------------------------------------------------------------

# One answer that satisfies every one-shot JSON helper Gemini CLI runs
# (model router, next-speaker check).
GEMINI_HELPER_JSON = json.dumps(
    {
        "reasoning": "scripted",
        "model_choice": "flash",
        "complexity_reasoning": "scripted",
        "complexity_score": 10,
        "next_speaker": "user",
    }
)


def _gemini_turns(body):
    return sum(1 for c in body.get("contents", []) if c.get("role") == "model")


def gemini_reply(body, step, stream):
    if "tool" in step:
        part = {"functionCall": {"name": step["tool"], "args": step.get("input", {})}}
    else:
        part = {"text": step["text"]}
    chunk = {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
    }
    if stream:
        return "text/event-stream", _sse([(None, chunk)])
    return "application/json", json.dumps(chunk).encode()


# ---- OpenAI Responses (Codex) -------------------------------------------


def _responses_turns(body):
    items = body.get("input", [])
    if not isinstance(items, list):
        return 0
    return sum(
        1
        for i in items
        if i.get("type") in ("function_call", "custom_tool_call")
        or (i.get("type") == "message" and i.get("role") == "assistant")
    )


def responses_reply(body, step):
    rid = f"resp_{next(_ids):04d}"
    if "tool" in step and step.get("custom"):
        item = {
            "type": "custom_tool_call",
            "id": f"ctc_{next(_ids):04d}",
            "status": "completed",
            "call_id": f"call_{next(_ids):04d}",
            "name": step["tool"],
            "input": step["input"],
        }
    elif "tool" in step:
        item = {
            "type": "function_call",
            "id": f"fc_{next(_ids):04d}",
            "status": "completed",
            "call_id": f"call_{next(_ids):04d}",
            "name": step["tool"],
            "arguments": json.dumps(step.get("input", {})),
        }
        if step.get("namespace"):
            item["namespace"] = step["namespace"]
    else:
        item = {
            "type": "message",
            "id": f"msg_{next(_ids):04d}",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": step["text"], "annotations": []}],
        }
    usage = {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 15,
    }
    return "text/event-stream", _sse(
        [
            ("response.created", {"type": "response.created", "response": {"id": rid}}),
            ("response.output_item.added", {"type": "response.output_item.added", "output_index": 0, "item": item}),
            ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}),
            (
                "response.completed",
                {"type": "response.completed", "response": {"id": rid, "usage": usage, "output": [item]}},
            ),
        ]
    )


# ---- server --------------------------------------------------------------


class ModelServer:
    def __init__(self, script=(), respond=None):
        self.script = list(script)
        #: respond(vendor, turns, body) -> step: a reactive model instead of a script
        self.respond = respond
        self.requests = []  # {"path", "headers", "body", "main"}
        self._lock = threading.Lock()
        self._fired = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # keep pytest output clean
                pass

            def do_GET(self):
                outer._record(self.path, self.headers, None, False)
                if "/models" in self.path:  # Codex / Gemini model listings
                    return self._send(200, "application/json", b'{"data": [], "models": []}')
                self._send(404, "application/json", b'{"error": "not scripted"}')

            def do_HEAD(self):
                self._send(200, "text/plain", b"")

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                ctype, payload, status = outer._answer(self.path, self.headers, body)
                self._send(status, ctype, payload)

            def _send(self, status, ctype, payload):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _next(self, vendor, n, body):
        return self.respond(vendor, n, body) if self.respond else self._step(n)

    def _step(self, n):
        step = self.script[n] if n < len(self.script) else DONE
        before = step.get("before")
        with self._lock:
            fire = before is not None and n not in self._fired
            self._fired.add(n)
        if fire:
            before()
        return step

    def _record(self, path, headers, body, main):
        with self._lock:
            self.requests.append({"path": path, "headers": dict(headers), "body": body, "main": main})

    def _answer(self, path, headers, body):
        p = path.split("?")[0]
        if p.endswith("/v1/messages/count_tokens"):
            self._record(path, headers, body, False)
            return "application/json", b'{"input_tokens": 10}', 200
        if p.endswith("/v1/messages"):
            main = bool(body.get("tools"))  # helper calls (titles, quota) carry no tools
            self._record(path, headers, body, main)
            step = self._next("claude", _anthropic_turns(body), body) if main else {"text": "ok"}
            return (*anthropic_reply(body, step), 200)
        if ":streamGenerateContent" in p:
            self._record(path, headers, body, True)
            return (*gemini_reply(body, self._next("gemini", _gemini_turns(body), body), True), 200)
        if ":generateContent" in p:
            self._record(path, headers, body, False)
            return (*gemini_reply(body, {"text": GEMINI_HELPER_JSON}, False), 200)
        if p.endswith("/responses"):
            self._record(path, headers, body, True)
            return (*responses_reply(body, self._next("codex", _responses_turns(body), body)), 200)
        self._record(path, headers, body, False)
        return "application/json", b'{"error": "not scripted"}', 404

    # ---- for tests ----
    def play(self, script):
        """A new script from step 0 (after /clear the history starts over)."""
        with self._lock:
            self.script, self._fired = list(script), set()

    def main_requests(self):
        with self._lock:
            return [r for r in self.requests if r["main"]]

    def text(self, main_only=True):
        reqs = self.main_requests() if main_only else list(self.requests)
        return "\n".join(json.dumps(r["body"]) for r in reqs)

    def dump(self, path):
        with self._lock, open(path, "w") as f:
            json.dump(self.requests, f, indent=1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


if __name__ == "__main__":  # manual poking: python3 model_server.py
    import sys
    import time

    with ModelServer([{"text": " ".join(sys.argv[1:]) or "hello"}]) as s:
        print(s.url, flush=True)
        while True:
            time.sleep(3600)
