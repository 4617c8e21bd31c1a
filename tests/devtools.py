"""A minimal client of Chromium's DevTools protocol, for tests that must act on a page (click a
button), which ``chromium --dump-dom`` cannot.

Chromium started with ``--remote-debugging-pipe`` reads protocol commands from its file
descriptor 3 and writes answers and events to descriptor 4, each message a JSON object ended by
a NUL byte. That is all this module speaks: no websocket, no driver, no dependency beyond the
standard library and Debian's ``chromium``. The protocol is documented at
https://chromedevtools.github.io/devtools-protocol/.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
         "--proxy-server=127.0.0.1:9"]          # no network: the proxy points nowhere


class Chromium:
    """One headless Chromium and one page (tab) in it."""

    def __init__(self, executable: str, timeout: float = 60) -> None:
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()

        def on_descriptors_3_and_4() -> None:        # in the child, before exec
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (commands_read, answers_write)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self._process = subprocess.Popen(
            [executable, *FLAGS, "about:blank"], preexec_fn=on_descriptors_3_and_4,
            close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(commands_read)
        os.close(answers_write)
        self._timeout, self._buffer, self._id, self._events = timeout, b"", 0, []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target,
                                  flatten=True)["sessionId"]
        self.send("Page.enable", in_page=True)

    def _message(self) -> dict:
        while b"\0" not in self._buffer:
            if not select.select([self._answers], [], [], self._timeout)[0]:
                raise TimeoutError(f"Chromium did not answer within {self._timeout} s")
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, in_page: bool = False, **params) -> dict:
        """Send one command (to the page's session if ``in_page``) and return its result."""
        self._id += 1
        command = {"id": self._id, "method": method, "params": params}
        if in_page:
            command["sessionId"] = self._session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        while (message := self._message()).get("id") != self._id:
            self._events.append(message)
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message["result"]

    def _event(self, method: str) -> dict:
        while True:
            for event in self._events:
                if event.get("method") == method and event.get("sessionId") == self._session:
                    self._events.remove(event)
                    return event
            self._events.append(self._message())

    def open(self, page: Path) -> None:
        """Load a local file and wait until its load event (its scripts have run)."""
        self._events.clear()
        self.send("Page.navigate", in_page=True, url=page.as_uri())
        self._event("Page.loadEventFired")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        answer = self.send("Runtime.evaluate", in_page=True, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"JavaScript error: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def close(self) -> None:
        self._process.kill()
        self._process.wait()
        os.close(self._commands)
        os.close(self._answers)
