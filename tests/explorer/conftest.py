"""A tiny trained digits run, an explorer serving it, and a raw HTTP client that controls every header.

The run is trained for 40 steps only: early in training the decoder still depends on every latent, which is what
the tests need (a slider move must change the picture); quality is not under test here.
"""

from __future__ import annotations

import http.client as http_client
from dataclasses import dataclass
from pathlib import Path

import pytest

from shadowplay import api

TINY = {"trainer.max_steps": 40, "model.hidden": [32], "trainer.log_every": 10, "objective.beta": 0.5}


@pytest.fixture(scope="session")
def explore_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return api.train(data="digits", model="beta_vae", latent_dim=4, runs_dir=tmp_path_factory.mktemp("runs"),
                     name="explore", progress=False, overrides=dict(TINY)).path


@pytest.fixture(scope="module")
def server(explore_run: Path):
    with api.explore(explore_run, open_browser=False) as s:
        yield s


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(server, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
            host: str | None = "default") -> Reply:
    """Send exactly ``method path`` (no normalization of the path) with ``Host`` set to the bound address unless
    ``host`` says otherwise (``None``: no Host header at all)."""
    conn = http_client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", f"127.0.0.1:{server.port}" if host == "default" else host)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None and "Content-Length" not in (headers or {}):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


@pytest.fixture
def http(server):
    """``http("GET", "/api/info", body=None, headers=None, host="default")`` against the module's server."""
    return lambda method, path, **kw: request(server, method, path, **kw)


@pytest.fixture(scope="session")
def raw_request():
    """:func:`request` for tests that start their own server: ``raw_request(server, "GET", path, ...)``."""
    return request
