"""The explorer's HTTP server: the standard library's ``ThreadingHTTPServer``, one handler, no framework.

Routes (GET unless said): ``/`` and ``/static/<file>`` (the page), ``/api/info``, ``/api/decode?z=…`` (PNG),
``/api/input.png?split=&index=``, ``/api/input?split=&index=`` (code and ELBO), ``/api/interpolate?a=split:i&b=
split:j&t=&path=``, ``POST /api/upload`` (the raw image bytes as the body).

Security, because a local server is reachable by every web page the user's browser opens:

* It binds loopback unless told otherwise (the caller warns then).
* DNS rebinding: a hostile page can point its own domain at 127.0.0.1, and the browser then sends it here as
  same-origin; every request whose ``Host`` header is not the bound address is refused (403). On a wildcard bind
  (``0.0.0.0``/``::``) only IP literals and ``localhost`` are accepted, which no rebinding domain can be.
* Static files come from a table of the package's ``static/`` folder made at start; a path is looked up in it as a
  name and never joined to a folder, so ``..`` (plain or percent-encoded) cannot leave it.
* Bodies need a Content-Length within the upload limit; uploads are checked by :mod:`.uploads`.
* Every refusal is a 4xx with one short plain-text line; an unexpected failure is a 500 saying only that, and the
  traceback goes to the server's terminal, never to the client.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from ..errors import ShadowplayError
from .session import Explorer
from .uploads import MAX_UPLOAD_BYTES, UploadError, decode_upload

MIME = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
SECURITY_HEADERS = {
    # the page needs nothing outside this server; data:/blob: carry the pictures the API returns
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
    "Cache-Control": "no-store"}


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def static_files() -> dict[str, tuple[bytes, str]]:
    """Name → (bytes, content type) of every file directly in the package's ``static/`` folder."""
    folder = resources.files(__package__).joinpath("static")
    out = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and suffix in MIME:
            out[entry.name] = (entry.read_bytes(), MIME[suffix])
    return out


def allowed_host(host_header: str | None, bound: str, port: int) -> bool:
    """Whether a request's ``Host`` header names the address the server is bound to (see the module docstring)."""
    if not host_header:
        return False
    h = host_header.strip().lower()
    name, _, p = h.rpartition(":") if not h.endswith("]") else (h, "", "")
    if not name or (p and p != str(port)) or not p:
        return False  # browsers always send the port of a non-default-port origin
    name = name.strip("[]")
    bound = bound.lower().strip("[]")
    loopback = {"127.0.0.1", "localhost", "::1"}
    if bound in ("0.0.0.0", "::", ""):
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return name == "localhost"
    if bound in loopback:
        return name in ({"localhost", bound})
    return name == bound


def _one(query: dict[str, list[str]], key: str) -> str:
    values = query.get(key)
    if not values or len(values) != 1:
        raise HttpError(400, f"give exactly one {key}= parameter")
    return values[0]


def _int(query: dict[str, list[str]], key: str) -> int:
    try:
        return int(_one(query, key))
    except ValueError:
        raise HttpError(400, f"{key} must be an integer") from None


def _ref(query: dict[str, list[str]], key: str) -> tuple[str, int]:
    split, _, i = _one(query, key).partition(":")
    try:
        return split, int(i)
    except ValueError:
        raise HttpError(400, f"{key} must be <split>:<index>, e.g. test:3") from None


def make_handler(explorer: Explorer, bound_host: str, port: Callable[[], int], quiet: bool = True) -> type:
    static = static_files()

    class Handler(BaseHTTPRequestHandler):
        server_version = "shadowplay-explorer"
        sys_version = ""  # do not advertise the Python version
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            if not quiet:
                super().log_message(format, *args)

        def __getattr__(self, name: str):
            if name.startswith("do_"):  # any other method (PUT, DELETE, FOO …): 405, not the default 501
                return lambda: self._run(self._refuse_method)
            raise AttributeError(name)

        def _refuse_method(self) -> None:
            raise HttpError(405, f"method {self.command} not allowed; the explorer takes GET and POST")

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            # The base class's HTML error page, replaced by one short line. The base class calls this for requests
            # it cannot parse: those answer as HTTP/1.1 (not as a status-less HTTP/0.9 reply), and a version it does
            # not speak (505) is the client's mistake, so a 400.
            if self.request_version == "HTTP/0.9":
                self.request_version = "HTTP/1.1"
            code = 400 if code == 505 else code
            text = (message or self.responses.get(code, ("error",))[0])[:200]
            self._send(code, text.encode("utf-8", "replace") + b"\n", "text/plain; charset=utf-8", close=True)

        def _send(self, status: int, body: bytes, content_type: str, close: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in SECURITY_HEADERS.items():
                self.send_header(k, v)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, doc: Any) -> None:
            self._send(200, json.dumps(doc).encode(), "application/json")

        def _run(self, action: Callable[[], None]) -> None:
            try:
                if not allowed_host(self.headers.get("Host"), bound_host, port()):
                    raise HttpError(403, "refused: the Host header does not name this server")
                action()
            except HttpError as e:
                self._send(e.status, e.message.encode() + b"\n", "text/plain; charset=utf-8", close=e.status >= 400)
            except UploadError as e:
                self._send(e.status, str(e).encode() + b"\n", "text/plain; charset=utf-8", close=True)
            except ShadowplayError as e:
                self._send(400, str(e).encode() + b"\n", "text/plain; charset=utf-8")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            except Exception:  # a bug: the client learns only that; the terminal gets the traceback
                traceback.print_exc(file=sys.stderr)
                self._send(500, b"internal error in the explorer; the traceback is in its terminal\n",
                           "text/plain; charset=utf-8", close=True)

        def do_GET(self) -> None:
            self._run(self._get)

        def do_HEAD(self) -> None:
            self._run(self._get)

        def do_POST(self) -> None:
            self._run(self._post)

        def _query(self) -> tuple[str, dict[str, list[str]]]:
            parts = urlsplit(self.path)
            try:
                return parts.path, parse_qs(parts.query, keep_blank_values=True, max_num_fields=16)
            except ValueError:
                raise HttpError(400, "malformed query string") from None

        def _get(self) -> None:
            path, q = self._query()
            if path == "/" or path == "/index.html":
                path = "/static/index.html"
            if path.startswith("/static/"):
                hit = static.get(path[len("/static/"):])  # a name lookup: no file-system path is ever built
                if hit is None:
                    raise HttpError(404, "not found")
                return self._send(200, hit[0], hit[1])
            if path == "/api/info":
                return self._json(explorer.info())
            if path == "/api/decode":
                try:
                    z = [float(v) for v in _one(q, "z").split(",")]
                except ValueError:
                    raise HttpError(400, "z must be comma-separated numbers") from None
                return self._send(200, explorer.decode_png(z), "image/png")
            if path == "/api/input.png":
                return self._send(200, explorer.input_png(_one(q, "split"), _int(q, "index")), "image/png")
            if path == "/api/input":
                return self._json(explorer.input_doc(_one(q, "split"), _int(q, "index")))
            if path == "/api/interpolate":
                try:
                    t = float(_one(q, "t"))
                except ValueError:
                    raise HttpError(400, "t must be a number in [0, 1]") from None
                return self._json({"code": explorer.interpolate(_ref(q, "a"), _ref(q, "b"), t, _one(q, "path"))})
            raise HttpError(404, "not found")

        def _post(self) -> None:
            path, _ = self._query()
            if path != "/api/upload":
                raise HttpError(404 if not path.startswith("/api/") else 405, "not found")
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                raise HttpError(411, "send the upload with a Content-Length, not chunked")
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                raise HttpError(411, "a Content-Length header is required") from None
            if length < 0:
                raise HttpError(400, "Content-Length must be >= 0")
            if length > MAX_UPLOAD_BYTES:
                raise HttpError(413, f"the upload is {length} bytes; the limit is {MAX_UPLOAD_BYTES}")
            body = self.rfile.read(length)
            if len(body) != length:
                raise HttpError(400, "the body is shorter than its Content-Length")
            x = decode_upload(body, self.headers.get("Content-Type"), explorer.shape)
            self._json(explorer.upload_doc(x))

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a browser's kept-alive connection must not keep the process alive after close()
    allow_reuse_address = False  # two explorers on one port would split the requests between them


class ExplorerServer:
    """A running explorer: ``url``, ``host``, ``port``; :meth:`close` stops it, :meth:`wait` blocks until then
    (or until Ctrl-C). Usable as a context manager."""

    def __init__(self, explorer: Explorer, host: str = "127.0.0.1", port: int = 0, quiet: bool = True):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_cls = type("_ExplorerHTTPServer", (_Server,), {"address_family": family})
        self.explorer, self.host = explorer, host
        try:
            self._httpd = server_cls((host, port), make_handler(explorer, host, lambda: self.port, quiet))
        except OSError as e:
            raise ShadowplayError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick another --port, or 0 "
                                  "for a free one") from None
        self.port = int(self._httpd.server_address[1])
        self._closed = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="shadowplay-explorer", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else "[::1]" if self.host == "::" else (
            f"[{self.host}]" if ":" in self.host else self.host)
        return f"http://{shown}:{self.port}/"

    def close(self) -> None:
        """Stop serving and release the port (a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def wait(self) -> None:
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def __enter__(self) -> "ExplorerServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
