"""browser.py -- headless Chromium driven over the DevTools protocol, for
the status page's browser test.

Debian's /usr/bin/chromium is started with --remote-debugging-pipe: the
protocol's JSON messages go over two pipes (fd 3 in, fd 4 out, each message
ended by a NUL byte), so nothing listens on a port and nothing beyond the
Python standard library is needed (no npm, no browser download).  A page
is one tab (a flattened session); console errors, uncaught exceptions and
failed loads are collected as they arrive.  The browser is a child of the
harness (stopped by PID at exit), runs with a new empty profile, and is
told not to reach any network of its own (background networking, sync,
component updates off).  Every wait is bounded.
"""

import base64
import fcntl
import json
import os
import shutil
import subprocess
import threading
import time

import harness as h

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def find_chromium():
    """Path of the browser, or None."""
    for c in (CHROMIUM, shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if c and os.access(c, os.X_OK):
            return c
    return None


class BrowserError(Exception):
    pass


class Browser:
    def __init__(self, width=1400, height=1000):
        exe = find_chromium()
        if exe is None:
            raise BrowserError("chromium not found (Debian package chromium)")
        self.profile = h.tmpdir("tsrelay-chromium-")
        self.width, self.height = width, height
        to_r, to_w = os.pipe()       # we write, chromium reads (its fd 3)
        from_r, from_w = os.pipe()   # chromium writes (its fd 4), we read
        to_r, from_w = self._high(to_r), self._high(from_w)
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions", "--mute-audio",
                 "--disable-dev-shm-usage", "--hide-scrollbars",
                 "--user-data-dir=" + self.profile, "--remote-debugging-pipe",
                 "--window-size=%d,%d" % (width, height), "about:blank"]
        # bash puts the pipes on fds 3 and 4 (no preexec_fn: the
        # harness runs threads)
        script = 'exec "$@" 3<&%d 4>&%d %d<&- %d>&-' % (to_r, from_w, to_r, from_w)
        self.log = os.path.join(self.profile, "chromium.log")
        self.proc = h.spawn(["/bin/bash", "-c", script, "bash", exe] + flags, self.log,
                            pass_fds=(to_r, from_w))
        os.close(to_r)
        os.close(from_w)
        self._w = to_w
        self._r = from_r
        self._lock = threading.Condition()
        self._replies = {}
        self._events = []
        self._next = 0
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.call("Target.setDiscoverTargets", {"discover": False}, timeout=30)

    @staticmethod
    def _high(fd):
        """fd moved above 9, clear of the 3 and 4 it is mapped to."""
        hi = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return hi

    # ---- the protocol ------------------------------------------------------

    def _read(self):
        buf = b""
        while True:
            try:
                d = os.read(self._r, 1 << 16)
            except OSError:
                d = b""
            if not d:
                with self._lock:
                    self._closed = True
                    self._lock.notify_all()
                return
            buf += d
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                try:
                    m = json.loads(msg)
                except ValueError:
                    continue
                with self._lock:
                    if "id" in m:
                        self._replies[m["id"]] = m
                    else:
                        self._events.append(m)
                    self._lock.notify_all()

    def call(self, method, params=None, session=None, timeout=30):
        with self._lock:
            self._next += 1
            mid = self._next
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        try:
            while data:
                n = os.write(self._w, data)
                data = data[n:]
        except OSError as e:
            raise BrowserError("%s: chromium is gone (%s)" % (method, e))
        deadline = time.time() + timeout
        with self._lock:
            while mid not in self._replies:
                left = deadline - time.time()
                if left <= 0 or self._closed:
                    raise BrowserError("%s: no answer in %d s" % (method, timeout))
                self._lock.wait(min(left, 0.5))
            m = self._replies.pop(mid)
        if "error" in m:
            raise BrowserError("%s: %s" % (method, m["error"]))
        return m.get("result", {})

    def events(self, session=None):
        with self._lock:
            return [e for e in self._events if session is None or e.get("sessionId") == session]

    def wait_event(self, method, session, timeout=30, after=0):
        """Waits for an event (index >= after in the session's list)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            evs = self.events(session)
            for e in evs[after:]:
                if e.get("method") == method:
                    return e
            with self._lock:
                self._lock.wait(0.2)
        raise BrowserError("no %s within %d s" % (method, timeout))

    def page(self, javascript=True):
        return Page(self, javascript)

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except BrowserError:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass


class Page:
    """One tab, its console errors collected."""

    def __init__(self, browser, javascript=True):
        self.b = browser
        t = browser.call("Target.createTarget", {"url": "about:blank"})
        self.target = t["targetId"]
        s = browser.call("Target.attachToTarget", {"targetId": self.target, "flatten": True})
        self.s = s["sessionId"]
        for m in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.call(m)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": browser.width, "height": browser.height, "deviceScaleFactor": 1,
                   "mobile": False})
        if not javascript:
            self.call("Emulation.setScriptExecutionDisabled", {"value": True})

    def call(self, method, params=None, timeout=30):
        return self.b.call(method, params, session=self.s, timeout=timeout)

    def goto(self, url, timeout=30):
        mark = len(self.b.events(self.s))
        r = self.call("Page.navigate", {"url": url}, timeout=timeout)
        if r.get("errorText"):
            raise BrowserError("navigate %s: %s" % (url, r["errorText"]))
        self.b.wait_event("Page.loadEventFired", self.s, timeout=timeout, after=mark)

    def eval(self, expr, timeout=30):
        """Value of a JavaScript expression (promises awaited)."""
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in r:
            raise BrowserError("evaluate failed: %s" % json.dumps(r["exceptionDetails"])[:500])
        return r.get("result", {}).get("value")

    def wait_for(self, expr, timeout, what=None):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.eval(expr)
                if last:
                    return last
            except BrowserError as e:
                last = e
            time.sleep(0.25)
        raise BrowserError("timed out after %d s waiting for %s (last: %r)"
                           % (timeout, what or expr, last))

    def html(self):
        """The document's markup (works with JavaScript disabled too)."""
        doc = self.call("DOM.getDocument", {"depth": 0})
        return self.call("DOM.getOuterHTML", {"nodeId": doc["root"]["nodeId"]})["outerHTML"]

    def errors(self):
        """Console errors, uncaught exceptions and failed loads so far."""
        out = []
        for e in self.b.events(self.s):
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: %s %s" % (d.get("text", ""),
                                                  d.get("exception", {}).get("description", "")))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.%s: %s" % (p.get("type"), " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", []))))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                en = p["entry"]
                out.append("log: %s %s" % (en.get("text", ""), en.get("url", "")))
        return out

    def screenshot(self, path, full=True):
        if full:
            m = self.call("Page.getLayoutMetrics")
            size = m.get("cssContentSize") or m.get("contentSize")
            height = int(min(max(size["height"], self.b.height), 6000))
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": self.b.width, "height": height, "deviceScaleFactor": 1,
                       "mobile": False})
            time.sleep(0.5)  # let the charts follow the resize
        r = self.call("Page.captureScreenshot", {"format": "png"}, timeout=60)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        if full:
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": self.b.width, "height": self.b.height, "deviceScaleFactor": 1,
                       "mobile": False})
        return path
