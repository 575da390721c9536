"""A small headless-Chromium driver over the Chrome DevTools protocol, for the viewer's browser test and
``perf/viewer_scale.py``: open a page, evaluate JavaScript, collect console errors, take a screenshot.

The browser is the Debian package ``chromium`` (``.ci/browser.sh`` installs it; ``$SEMTRACE_CHROMIUM`` names
another binary). The protocol client is ``websockets`` (the ``dev`` extra). Both are looked for only when a
``Browser`` starts, and a missing one is ``BrowserUnavailable`` naming how to get it.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from typing_extensions import Self

log = logging.getLogger(__name__)

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserUnavailable(RuntimeError):
    """No Chromium binary or no protocol client here; the message says how to install it."""


class BrowserError(RuntimeError):
    """The page or the protocol failed (an exception in evaluated code, a timeout)."""


def find_chromium() -> str | None:
    env = os.environ.get("SEMTRACE_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    return next((p for p in map(shutil.which, NAMES) if p), None)


class Browser:
    """One headless Chromium with one page. Use as a context manager; ``errors`` lists every console error,
    uncaught exception and failed resource load the page reported."""

    def __init__(self, width: int = 1400, height: int = 900, timeout: float = 30.0) -> None:
        self.width, self.height, self.timeout = width, height, timeout
        self.errors: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._profile: str | None = None
        self._ws: Any = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        binary = find_chromium()
        if binary is None:
            raise BrowserUnavailable("no Chromium found: run `bash .ci/browser.sh` (installs the Debian package "
                                     "`chromium`) or set SEMTRACE_CHROMIUM to a browser binary")
        try:
            from websockets.sync.client import connect
        except ImportError as exc:
            raise BrowserUnavailable("the `websockets` package is missing: pip install 'semtrace[dev]'") from exc
        self._profile = tempfile.mkdtemp(prefix="semtrace-chromium-")
        args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
                "--disable-background-networking", "--remote-debugging-port=0", f"--user-data-dir={self._profile}",
                f"--window-size={self.width},{self.height}", "about:blank"]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port = self._devtools_port()
        page = self._page_target(port)
        self._ws = self._stack.enter_context(
            connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=self.timeout))
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                  deviceScaleFactor=1, mobile=False)

    def _devtools_port(self) -> int:
        """Chromium writes ``DevToolsActivePort`` into its profile once it listens."""
        assert self._profile is not None and self._proc is not None
        path = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = (self._proc.stderr.read() if self._proc.stderr else b"").decode(errors="replace")
                raise BrowserUnavailable(f"Chromium exited ({self._proc.returncode}) at start: {err[-500:]}")
            if path.is_file():
                first = path.read_text().splitlines()[:1]
                if first and first[0].isdigit():
                    return int(first[0])
            time.sleep(0.05)
        raise BrowserUnavailable(f"Chromium did not open its DevTools port within {self.timeout:.0f} s")

    def _page_target(self, port: int) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:
                pages = [t for t in json.load(resp) if t.get("type") == "page"]
            if pages:
                return pages[0]
            time.sleep(0.05)
        raise BrowserUnavailable("Chromium has no page target")

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._stack.close()
            except Exception as exc:  # noqa: BLE001 - closing a socket whose browser already went away
                log.debug("closing the DevTools socket: %s", exc)
            self._ws = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
            if self._proc.stderr:
                self._proc.stderr.close()
            self._proc = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    # ---------------------------------------------------------------- protocol

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call ``method`` and return its result; events that arrive meanwhile are recorded."""
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method}: no answer within {self.timeout:.0f} s")
            msg = json.loads(self._ws.recv(timeout=left))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})
            if "method" in msg:
                self._event(msg)

    def _event(self, msg: dict[str, Any]) -> None:
        self.events.append(msg)
        method, params = msg["method"], msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = (details.get("exception") or {}).get("description") or details.get("text", "")
            self.errors.append(f"uncaught: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.errors.append(f"console.{params['type']}: {args}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())

    def drain(self, seconds: float = 0.2) -> None:
        """Read the events that arrive within ``seconds`` (late console errors)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                msg = json.loads(self._ws.recv(timeout=left))
            except TimeoutError:
                return
            if "method" in msg:
                self._event(msg)

    # ---------------------------------------------------------------- page

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.events.clear()
        result = self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        self.wait_event("Page.loadEventFired")

    def wait_event(self, method: str) -> dict[str, Any]:
        if any(e["method"] == method for e in self.events):
            return next(e for e in self.events if e["method"] == method)
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = json.loads(self._ws.recv(timeout=left))
            if "method" in msg:
                self._event(msg)
                if msg["method"] == method:
                    return msg
        raise BrowserError(f"no {method} within {self.timeout:.0f} s")

    def eval(self, expression: str) -> Any:
        """The JSON value of ``expression`` (promises awaited); an exception in it is a ``BrowserError``."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = (details.get("exception") or {}).get("description") or details.get("text", "")
            raise BrowserError(f"{expression[:80]!r}: {text}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float | None = None) -> Any:
        """Poll until ``expression`` is truthy; its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"{expression[:120]!r} stayed false for {timeout or self.timeout:.0f} s")
            time.sleep(0.02)

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.eval("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": max(size[0], self.width),
                              "height": min(max(size[1], self.height), 8000), "scale": 1}
        data = self.send("Page.captureScreenshot", **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def version() -> str:
    binary = find_chromium()
    if binary is None:
        return ""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    return re.sub(r"\s+", " ", out).strip()
