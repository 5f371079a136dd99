"""Headless Chromium driven through its DevTools protocol: set a cookie, open a page, read its DOM,
take a screenshot. Enough for the tests that look at pages as a person would."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--hide-scrollbars",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)


class Chromium:
    def __init__(self, profile: Path, *, width: int = 1280, height: int = 800):
        self.profile = profile
        executable = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port = self._port()
        pages = self._wait(
            lambda: [
                t
                for t in json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
                if t["type"] == "page"
            ],
            "a page target",
        )
        self.socket = connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024)
        self.ids = itertools.count(1)
        self.call("Page.enable")
        self.call("Network.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def _wait(self, probe, what: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if value := probe():
                    return value
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited ({self.process.returncode}) while waiting for {what}")
            time.sleep(0.2)
        raise TimeoutError(f"chromium: no {what} after {timeout}s")

    def _port(self) -> int:
        active = self.profile / "DevToolsActivePort"
        return int(self._wait(lambda: active.exists() and active.read_text().split("\n")[0], "DevTools port"))

    def call(self, method: str, **params) -> dict:
        """Send a command; return its result (events that arrive meanwhile are dropped)."""
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def set_cookie(self, url: str, name: str, value: str) -> None:
        assert self.call("Network.setCookie", url=url, name=name, value=value, path="/").get("success", True)

    def open(self, url: str, timeout: float = 60) -> str:
        """Open `url`, wait until it has loaded; returns the URL the page ended on."""
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": "Page.navigate", "params": {"url": url}}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv(timeout=timeout))
            if message.get("id") == message_id and "error" in message:
                raise RuntimeError(f"navigate {url}: {message['error']}")
            if message.get("method") == "Page.loadEventFired":
                return self.evaluate("location.href")
        raise TimeoutError(f"{url} did not load in {timeout}s")

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def dom(self) -> str:
        return self.evaluate("document.documentElement.outerHTML")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.socket.close()
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
