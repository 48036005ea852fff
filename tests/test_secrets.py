"""No configured secret is ever printed, logged or written, whatever an engine or the Hub says back.

Every web engine is run with fake keys against a local HTTP server on 127.0.0.1 that refuses
each request and quotes back everything it was sent (as a careless API does).
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from typer.testing import CliRunner

from xbench import redact
from xbench.cli import app
from xbench.translation.engines import DEEP_TRANSLATOR_ENGINES
from xbench.translation.translator import Translator

runner = CliRunner()
KEYED_ENGINES = [name for name, spec in DEEP_TRANSLATOR_ENGINES.items() if spec.env]


def fake_secret(var: str) -> str:
    return f"sk-FAKE-{var.lower().replace('_', '-')}-0123456789\n"  # a trailing newline, as `cat keyfile` gives


def forms(secret: str) -> set[str]:
    return {secret, secret.strip(), repr(secret)[1:-1], repr(secret.strip()), json.dumps(secret)[1:-1]}


class Echo(BaseHTTPRequestHandler):
    """403 for everything, quoting the request line, headers and body back."""

    def _refuse(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        echo = json.dumps({"message": f"Unauthorized: {self.requestline} {dict(self.headers)} {body}", "error": {"message": body}}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(echo)))
        self.end_headers()
        self.wfile.write(echo)

    do_GET = do_POST = _refuse

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def local_web(monkeypatch):
    """Every HTTP request of this process goes to the local echo server instead of the Internet."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)  # a fast shutdown()
    thread.start()
    real = requests.sessions.Session.request

    def to_local(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        return real(self, method, urlunsplit(("http", f"127.0.0.1:{server.server_port}", parts.path, parts.query, "")), *args, **kwargs)

    monkeypatch.setattr(requests.sessions.Session, "request", to_local)
    monkeypatch.setattr(Translator, "_wait", lambda self, seconds: None)  # retries without the backoff
    yield server
    server.shutdown()


@pytest.fixture
def fake_keys(monkeypatch):
    secrets = {}
    for spec in DEEP_TRANSLATOR_ENGINES.values():
        for var in (*spec.env.values(), *spec.optional_env.values()):
            if var.endswith("URL"):
                continue
            secrets[var] = fake_secret(var)
            monkeypatch.setenv(var, secrets[var])
    secrets["HF_TOKEN"] = "hf_FAKEtokenFAKEtokenFAKE\n"
    monkeypatch.setenv("HF_TOKEN", secrets["HF_TOKEN"])
    return secrets


def leaks(secrets: dict[str, str], text: str) -> list[str]:
    return [var for var, secret in secrets.items() for form in forms(secret) if form.strip() and form in text]


def everything_written(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("engine", KEYED_ENGINES)
def test_an_engine_refusing_the_key_never_shows_it(tmp_path, mmlu_source, local_web, fake_keys, engine):
    log = tmp_path / "debug.log"
    logging.basicConfig(filename=log, level=logging.DEBUG, force=True)  # urllib3 logs every URL, keys in queries too
    try:
        result = runner.invoke(
            app,
            [
                "build",
                "mmlu_mixup",
                "--source",
                str(mmlu_source),
                "--translator",
                engine,
                "--langs",
                "fr",
                "--formats",
                "full",
                "--out",
                str(tmp_path / "o"),
                "--cache",
                str(tmp_path / "c.sqlite"),
                "--quiet",
            ],
        )
    finally:
        logging.basicConfig(level=logging.WARNING, force=True)
    assert result.exit_code == 1, result.output
    assert "could not be translated" in result.output
    assert leaks(fake_keys, result.output) == []
    assert leaks(fake_keys, everything_written(tmp_path)) == []
    if engine in ("deepl", "libre"):  # deep-translator's AuthorizationException quotes the key
        assert "the API key was refused" in result.output
    if engine in ("deepl", "libre", "baidu"):  # keys sent in the URL reach urllib3's DEBUG log, masked
        assert redact.MASK in log.read_text()


def test_deepl_authorization_error_is_scrubbed_even_for_a_key_passed_in_code(tmp_path, local_web, monkeypatch):
    from xbench.translation import create_engine
    from xbench.translation.engines import DeepTranslatorEngine

    monkeypatch.delenv("DEEPL_API_KEY", raising=False)
    key = "in-code-deepl-key-ABCDEF:fx"
    engine = DeepTranslatorEngine("deepl", environ={"DEEPL_API_KEY": key})
    with pytest.raises(Exception) as raised:
        engine.translate_batch(["hello"], "en", "fr")
    assert str(raised.value) == "deepl: the API key was refused; check DEEPL_API_KEY"
    assert create_engine("pseudo").translate_batch(["a"], "en", "fr") == ["[fr] a"]


def test_hub_token_is_stripped_and_never_printed(tmp_path, mmlu_source, fake_keys, monkeypatch):
    from xbench import hub

    seen = {}
    token = fake_keys["HF_TOKEN"]

    class Refusing:
        def create_repo(self, repo_id, **kwargs):
            seen["token"] = kwargs["token"]
            raise RuntimeError(f"401 Unauthorized for token {token!r} ({token.strip()})")

    monkeypatch.setattr("huggingface_hub.HfApi", lambda: Refusing())
    built = tmp_path / "built"
    result = runner.invoke(
        app,
        [
            "build",
            "mmlu_mixup",
            "--source",
            str(mmlu_source),
            "--translator",
            "pseudo",
            "--langs",
            "fr",
            "--formats",
            "full",
            "--out",
            str(built),
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["push", str(built), "--repo", "org/name", "--force"])  # a pseudo build is pushed only when forced
    assert result.exit_code == 1 and "push to org/name failed" in result.output
    assert seen["token"] == token.strip()
    assert leaks(fake_keys, result.output) == [] and leaks(fake_keys, everything_written(tmp_path)) == []
    assert hub.hub_token(" hf_x_given_in_code \n") == "hf_x_given_in_code"


def test_scrub_covers_raw_stripped_and_repr_forms(monkeypatch):
    monkeypatch.setenv("SOME_SERVICE_API_KEY", "abc\tdef-secret\n")
    text = "raw abc\tdef-secret\n stripped abc\tdef-secret repr 'abc\\tdef-secret\\n' json \"abc\\tdef-secret\\n\""
    assert "secret" not in redact.scrub(text)
    assert redact.scrub("a short KEY=ab stays") == "a short KEY=ab stays"
