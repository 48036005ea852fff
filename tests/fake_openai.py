"""A fake OpenAI-compatible server on 127.0.0.1 for offline tests and benchmarks.

With a model and tokenizer it answers from the model's logits as vLLM would: completions
(``echo`` + ``logprobs`` with ``text_offset``, or one greedy token) and chat (one greedy token,
``top_logprobs``). Without a model it answers a fixed token after ``latency`` seconds. Failure
modes are switched on per test: 429s, 5xx, stalls (timeouts), malformed replies, no logprobs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    def __init__(self, model=None, tokenizer=None, *, name: str = "tiny", latency: float = 0.0):
        self.model, self.tokenizer, self.name, self.latency = model, tokenizer, name, latency
        self.too_many = 0  # next N requests answer 429
        self.server_errors = 0  # next N requests answer 503
        self.stalls = 0  # next N requests sleep stall_s before answering
        self.stall_s = 2.0
        self.malformed = 0  # next N requests answer non-JSON
        self.unauthorized = False  # answer 401, echoing the key it got (as some servers do)
        self.logprobs = True  # False: completions logprobs null, chat logprobs rejected with 400
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        # shutdown() waits for the serve loop's next poll: 0.5 s by default, paid by every test using a server
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _take(self, counter: str) -> bool:
        with self._lock:
            if getattr(self, counter) > 0:
                setattr(self, counter, getattr(self, counter) - 1)
                return True
        return False

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()  # headers and body go out as separate writes: without this, Nagle + delayed ACK add 40 ms
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, payload: Any, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._reply(200, {"object": "list", "data": [{"id": fake.name, "object": "model"}]})
                else:
                    self._reply(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.requests.append(body)
                    fake.headers.append(dict(self.headers))
                if fake.latency:
                    time.sleep(fake.latency)
                if fake.unauthorized:
                    return self._reply(401, {"error": {"message": f"Incorrect API key provided: {self.headers.get('Authorization')}"}})
                if fake._take("stalls"):
                    time.sleep(fake.stall_s)
                if fake._take("too_many"):
                    return self._reply(429, {"error": {"message": "rate limited"}})
                if fake._take("server_errors"):
                    return self._reply(503, {"error": {"message": "overloaded"}})
                if fake._take("malformed"):
                    return self._reply(200, None, raw=b"<html>proxy error</html>")
                if "TOO LONG" in json.dumps(body):
                    return self._reply(400, {"error": {"message": "This model's maximum context length is 4096 tokens"}})
                if body.get("model") != fake.name:
                    return self._reply(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                if self.path == "/v1/completions":
                    return self._reply(200, fake.completions(body))
                if self.path == "/v1/chat/completions":
                    if body.get("logprobs") and not fake.logprobs:
                        return self._reply(400, {"error": {"message": "logprobs is not supported by this server"}})
                    return self._reply(200, fake.chat(body))
                self._reply(404, {"error": {"message": "no such route"}})

        return Handler

    # --- answers from the model ---

    def _log_softmax(self, ids: list[int]):
        import torch

        with self._model_lock, torch.inference_mode():
            logits = self.model(torch.tensor([ids])).logits[0].float()
        return torch.log_softmax(logits, dim=-1)

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        choices = []
        for index, prompt in enumerate(prompts):
            if self.model is None:
                choices.append({"index": index, "text": " A", "logprobs": None, "finish_reason": "length"})
                continue
            encoded = self.tokenizer(prompt, return_offsets_mapping=True)
            ids, spans = encoded["input_ids"], encoded["offset_mapping"]
            logp = self._log_softmax(ids)
            token = int(logp[-1].argmax())
            text = self.tokenizer.decode([token])
            choice: dict[str, Any] = {"index": index, "text": (prompt + text) if body.get("echo") else text, "finish_reason": "length"}
            if body.get("logprobs") is not None and self.logprobs:
                tokens, values, offsets = [], [], []
                if body.get("echo"):
                    for position, (tid, (start, _)) in enumerate(zip(ids, spans)):
                        tokens.append(self.tokenizer.decode([tid]))
                        values.append(None if position == 0 else float(logp[position - 1, tid]))
                        offsets.append(start)
                tokens.append(text)
                values.append(float(logp[-1, token]))
                offsets.append(len(prompt))
                choice["logprobs"] = {"tokens": tokens, "token_logprobs": values, "text_offset": offsets, "top_logprobs": None}
            else:
                choice["logprobs"] = None
            choices.append(choice)
        return {"id": "cmpl-fake", "object": "text_completion", "model": self.name, "choices": choices}

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = body["messages"][-1]["content"]
        if self.model is None:
            return {"choices": [{"index": 0, "message": {"role": "assistant", "content": "A"}, "logprobs": None}]}
        logp = self._log_softmax(self.tokenizer(prompt)["input_ids"])[-1]
        token = int(logp.argmax())
        content = self.tokenizer.decode([token])
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": content}, "logprobs": None}
        if body.get("logprobs"):
            top = logp.topk(int(body.get("top_logprobs", 1)))
            entries = [{"token": self.tokenizer.decode([int(i)]), "logprob": float(v)} for v, i in zip(top.values, top.indices)]
            choice["logprobs"] = {"content": [{"token": content, "logprob": float(logp[token]), "top_logprobs": entries}]}
        return {"id": "chat-fake", "object": "chat.completion", "model": self.name, "choices": [choice]}
