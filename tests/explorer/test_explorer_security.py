"""What the explorer refuses: foreign Host headers (DNS rebinding), paths outside its static folder, unsafe or
malformed uploads and requests. Every refusal is a 4xx with one short line and no traceback."""

from __future__ import annotations

import io
import socket
import struct
import warnings
import zlib

import pytest
from PIL import Image

from shadowplay import api
from shadowplay.errors import ShadowplayError
from shadowplay.explorer import MAX_UPLOAD_BYTES, UploadError, allowed_host, decode_upload


def short_refusal(r, status: int) -> None:
    assert r.status == status, (r.status, r.text)
    assert "Traceback" not in r.text and "File \"" not in r.text
    assert len(r.text.strip().splitlines()) == 1 and len(r.text) < 300


# ------------------------------------------------------------------ Host header
@pytest.mark.parametrize("host", ["evil.example:{port}", "localhost.evil.example:{port}", "127.0.0.1:1",
                                  "127.0.0.1", "attacker.test", "", "127.0.0.1:{port}@evil.example"])
def test_foreign_host_headers_are_refused(http, server, host):
    short_refusal(http("GET", "/api/info", host=host.format(port=server.port)), 403)


def test_missing_host_header_is_refused(http):
    short_refusal(http("GET", "/api/info", host=None), 403)


def test_localhost_names_the_loopback_server(http, server):
    assert http("GET", "/api/info", host=f"localhost:{server.port}").status == 200
    assert http("GET", "/api/info", host=f"LOCALHOST:{server.port}").status == 200


def test_allowed_host_rules():
    assert allowed_host("127.0.0.1:80", "127.0.0.1", 80) and allowed_host("localhost:80", "127.0.0.1", 80)
    assert allowed_host("[::1]:80", "::1", 80) and not allowed_host("[::1]:80", "127.0.0.1", 80)
    assert allowed_host("10.0.0.5:80", "0.0.0.0", 80) and allowed_host("[fe80::1]:80", "::", 80)
    assert not allowed_host("rebind.example:80", "0.0.0.0", 80)  # a wildcard bind still refuses domain names
    assert allowed_host("box.lan:80", "box.lan", 80) and not allowed_host("other.lan:80", "box.lan", 80)
    assert not allowed_host("127.0.0.1:81", "127.0.0.1", 80) and not allowed_host(None, "127.0.0.1", 80)


# ------------------------------------------------------------------ static files
@pytest.mark.parametrize("path", [
    "/static/../server.py", "/static/../../run.py", "/static/%2e%2e/server.py", "/static/%2E%2E%2Fserver.py",
    "/static/..%2fsession.py", "/static/%252e%252e/server.py", "/static/..\\server.py", "/static//etc/passwd",
    "/static/%2fetc%2fpasswd", "/../../../../etc/passwd", "/static/", "/static/.", "/static/app.js/../../__init__.py",
    "/static/app.js%00.png", "//etc/passwd", "/etc/passwd", "/static/__init__.py"])
def test_no_file_outside_the_static_folder(http, path):
    r = http("GET", path)
    short_refusal(r, 404)
    assert b"import" not in r.body and b"root:" not in r.body


# ------------------------------------------------------------------ malformed requests
@pytest.mark.parametrize("path", [
    "/api/decode", "/api/decode?z=", "/api/decode?z=a,b,c,d", "/api/decode?z=1,2,3", "/api/decode?z=nan,0,0,0",
    "/api/decode?z=inf,0,0,0", "/api/decode?z=1e300,0,0,0", "/api/decode?z=0,0,0,0&z=1,1,1,1",
    "/api/input?split=test", "/api/input?split=test&index=x", "/api/input?split=test&index=-1",
    "/api/input?split=test&index=99999", "/api/input?split=../../etc&index=0", "/api/input.png?split=val&index=0",
    "/api/interpolate?a=test:0&b=test:1&t=2&path=slerp", "/api/interpolate?a=test:0&b=test:1&t=0.5&path=cubic",
    "/api/interpolate?a=test&b=test:1&t=0.5&path=slerp", "/api/interpolate?a=test:0&b=test:1&t=x&path=slerp",
    "/api/decode?" + "&".join(f"k{i}=1" for i in range(40))])
def test_malformed_queries_get_a_short_400(http, path):
    short_refusal(http("GET", path), 400)


def test_unknown_routes_and_methods(http):
    short_refusal(http("GET", "/api/nothing"), 404)
    short_refusal(http("PUT", "/api/info"), 405)
    short_refusal(http("DELETE", "/"), 405)
    short_refusal(http("BREW", "/"), 405)
    short_refusal(http("POST", "/api/info", body=b""), 405)


@pytest.mark.parametrize("raw,status", [(b"GARBAGE\r\n\r\n", 400), (b"GET / HTTX/1.1\r\n\r\n", 400),
                                        (b"GET / HTTP/9.9\r\n\r\n", 400), (b"GET /a b HTTP/1.1\r\n\r\n", 400),
                                        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
                                        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", 431)])
def test_unparsable_requests_get_a_short_4xx(server, raw, status):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(raw)
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    head, _, body = reply.decode().partition("\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} "), head
    assert len(body) < 300 and "Traceback" not in body


# ------------------------------------------------------------------ uploads
def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG signature and header that declare ``width × height`` grey pixels, with one tiny data chunk:
    a few dozen bytes that would decode to gigabytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_upload_refusals(http):
    good = png(Image.new("L", (8, 8), 200))
    short_refusal(http("POST", "/api/upload", body=good, headers={"Content-Type": "text/plain"}), 415)
    short_refusal(http("POST", "/api/upload", body=good, headers={"Content-Type": "application/octet-stream"}), 415)
    short_refusal(http("POST", "/api/upload", body=b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                       headers={"Content-Type": "image/png"}), 415)  # the declared type is not trusted alone
    short_refusal(http("POST", "/api/upload", body=b"", headers={"Content-Type": "image/png"}), 400)
    noisy = png(Image.effect_noise((64, 64), 80))
    short_refusal(http("POST", "/api/upload", body=noisy[: len(noisy) // 2], headers={"Content-Type": "image/png"}),
                  400)  # truncated pixel data
    short_refusal(http("POST", "/api/upload", body=bomb_png(100_000, 100_000), headers={"Content-Type": "image/png"}),
                  413)
    short_refusal(http("POST", "/api/upload", body=b"x", headers={"Content-Type": "image/png",
                                                                  "Content-Length": str(MAX_UPLOAD_BYTES + 1)}), 413)
    short_refusal(http("POST", "/api/upload", headers={"Content-Type": "image/png"}), 411)
    short_refusal(http("POST", "/api/upload", body=b"x", headers={"Content-Type": "image/png",
                                                                  "Content-Length": "lots"}), 411)


def test_an_exact_limit_bomb_is_refused_before_decoding():
    with pytest.raises(UploadError) as e:
        decode_upload(bomb_png(5000, 5000), "image/png", (1, 8, 8))
    assert e.value.status == 413


@pytest.mark.parametrize("mode,fmt", [("L", "PNG"), ("RGBA", "PNG"), ("RGB", "JPEG"), ("P", "GIF"), ("RGB", "BMP")])
def test_common_image_kinds_become_model_inputs(mode, fmt):
    buf = io.BytesIO()
    Image.new(mode, (30, 20)).save(buf, fmt)
    x = decode_upload(buf.getvalue(), f"image/{fmt.lower()}", (1, 8, 8))
    assert x.shape == (1, 1, 8, 8) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert decode_upload(buf.getvalue(), f"image/{fmt.lower()}", (3, 16, 16)).shape == (1, 3, 16, 16)


def test_transparent_pixels_become_the_black_background():
    img = Image.new("RGBA", (8, 8), (255, 255, 255, 0))
    img.putpixel((3, 3), (255, 255, 255, 255))
    x = decode_upload(png(img), "image/png", (1, 8, 8))[0, 0]
    assert float(x[3, 3]) == 1.0 and float(x.sum()) == 1.0


def test_tabular_models_refuse_uploads():
    with pytest.raises(UploadError, match="rows of 6 values"):
        decode_upload(png(Image.new("L", (8, 8))), "image/png", (6,))


# ------------------------------------------------------------------ binding
def test_a_non_loopback_host_warns_and_still_checks_host_headers(explore_run, raw_request):
    with pytest.warns(api.ExposedExplorerWarning, match="reachable beyond this machine"):
        s = api.explore(explore_run, host="0.0.0.0", open_browser=False)
    with s:
        assert raw_request(s, "GET", "/api/info").status == 200  # 127.0.0.1:<port> is an IP literal
        assert raw_request(s, "GET", "/api/info", host=f"rebind.example:{s.port}").status == 403


def test_loopback_binds_do_not_warn_and_a_taken_port_is_a_clear_error(explore_run, server):
    with warnings.catch_warnings():
        warnings.simplefilter("error", api.ExposedExplorerWarning)
        with pytest.raises(ShadowplayError, match="pick another --port"):
            api.explore(explore_run, port=server.port, open_browser=False)
    with pytest.raises(ShadowplayError, match="--port"):
        api.explore(explore_run, port=70000, open_browser=False)
