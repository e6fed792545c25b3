"""``shadowplay explore`` as a user runs it: a child process that prints its URL, serves, and stops on Ctrl-C."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path


def url_of(out: Path, child, timeout: float = 60) -> str:
    """The URL the child prints on its ``explorer: <url>`` line, once it has printed it."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for line in out.read_text().splitlines():
            if line.startswith("explorer: http://"):
                return line.split()[1]
        assert child.poll() is None, f"explore exited early: {out.with_suffix('.err').read_text()}"
        time.sleep(0.1)
    raise AssertionError("explore printed no URL")


def test_explore_prints_its_url_serves_and_stops_on_ctrl_c(explore_run, cli_spawn, tmp_path):
    child = cli_spawn("explore", str(explore_run), "--no-browser", log="a")
    try:
        url = url_of(tmp_path / "a.out", child)
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "api/info", timeout=30) as r:
            assert json.loads(r.read())["name"] == "explore"
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()


def test_explore_warns_on_a_non_loopback_host_and_reports_bad_runs(explore_run, cli_spawn, cli, tmp_path):
    child = cli_spawn("explore", str(explore_run), "--no-browser", "--host", "0.0.0.0", log="b")
    try:
        url_of(tmp_path / "b.out", child)
        child.send_signal(signal.SIGINT)
        child.wait(timeout=30)
        assert "warning: the explorer listens on 0.0.0.0" in (tmp_path / "b.err").read_text()
    finally:
        child.kill()
    bad = cli("explore", str(tmp_path / "nope"), "--no-browser")
    assert bad.returncode == 2 and bad.stderr.startswith("error: run folder") and "Traceback" not in bad.stderr


def test_ctrl_c_while_the_explorer_starts_does_not_speak_of_resuming(monkeypatch, capsys, tmp_path):
    from shadowplay import api
    from shadowplay import cli as cli_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the explorer loads the model and encodes the inputs

    monkeypatch.setattr(api, "explore", interrupted)
    assert cli_module.main(["explore", str(tmp_path), "--no-browser"]) == 130
    # it used to say "`shadowplay resume <run>` continues from the last checkpoint", as if a training had stopped
    assert capsys.readouterr().err == "interrupted\n"
