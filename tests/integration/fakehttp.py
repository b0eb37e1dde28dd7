"""fakehttp.py -- a scripted TSD's HTTP side for the read pass-through's
integration tests: what a real TSD (or VictoriaMetrics) cannot be told to
do on cue.

One loopback listener; a thread per connection speaks HTTP/1.1 with
keep-alive: each request is read whole (Content-Length or chunked body,
a malformed one closes the connection) and recorded, then answered by its
path:

  /, /index.html   the TSD UI stand-in: a page whose script asks
                   /api/version and shows it (window.tsdUiReady)
  /s/ui.js         that script
  /api/version     {"version": "2.4.1-<name>", ...}
  /api/echo        the request as received: method, target, header lines,
                   body length and md5 (JSON)
  /api/big         ?bytes=N&chunked=1: N bytes of a fixed pattern
                   (pattern(offset, n) gives any slice of it)
  /api/close-mid   ?bytes=N: a Content-Length head, half the body, closed
  /api/close-before  ?on=A,B: closed without an answer on those backends,
                   answered (200, which backend) on the others
  /api/stall       no answer; the connection is held until the client goes
  /api/error500    500 with a JSON error body
  /api/slow        ?ms=N: answered after N ms
  anything else    404 in the TSD's shape

Every answer carries "X-Backend: <name>" and hop-by-hop headers a relay
must drop ("Connection: X-Internal", "X-Internal: secret", "Keep-Alive:
timeout=5").  Counts connections accepted and open; stops its threads by
closing its sockets.  Loopback only; every wait bounded.
"""

import hashlib
import json
import socket
import threading
import time
import urllib.parse

PATTERN_PERIOD = 251
_BLOCK = bytes(range(PATTERN_PERIOD)) * 4177       # ~1 MiB, a whole number of periods


def pattern(offset, n):
    """n bytes of /api/big's body from offset on."""
    out = bytearray()
    start = offset % PATTERN_PERIOD
    while len(out) < n:
        take = min(n - len(out), len(_BLOCK) - start)
        out += _BLOCK[start:start + take]
        start = 0
    return bytes(out)


UI_PAGE = b"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>OpenTSDB</title>
<link rel="icon" href="data:,"></head>
<body><h1>OpenTSDB (scripted)</h1><p id="version">loading</p>
<script src="/s/ui.js"></script></body></html>
"""
UI_JS = b"""fetch('/api/version').then(function (r) { return r.json(); }).then(function (v) {
  document.getElementById('version').textContent = v.version;
  window.tsdUiReady = v.version;
});
"""


class FakeHttp:
    def __init__(self, name="tsd", port=None):
        self.name = name
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port or 0))
        self.port = self.lsock.getsockname()[1]
        self.lsock.listen(128)
        self.lock = threading.Lock()
        self.accepts = 0
        self.open = 0
        self.requests = []          # (method, target, headers list, body md5, body length)
        self.conns = []
        self.stopped = False
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    # ---- life ------------------------------------------------------------

    def stop(self):
        """Stops listening and closes every connection (like a TSD that died)."""
        self.stopped = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.accepts += 1
                self.open += 1
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def paths(self):
        with self.lock:
            return [r[1] for r in self.requests]

    # ---- one connection ------------------------------------------------------

    def _serve(self, c):
        buf = b""
        try:
            while not self.stopped:
                req, buf = self._read_request(c, buf)
                if req is None:
                    return
                with self.lock:
                    self.requests.append(req)
                if not self._answer(c, req):
                    return
        except OSError:
            pass
        finally:
            with self.lock:
                self.open -= 1
                if c in self.conns:
                    self.conns.remove(c)
            try:
                c.close()
            except OSError:
                pass

    @staticmethod
    def _fill(c, buf, need_fn):
        while True:
            n = need_fn(buf)
            if n is not None:
                return n, buf
            d = c.recv(1 << 20)
            if not d:
                return None, buf
            buf += d

    def _read_request(self, c, buf):
        end, buf = self._fill(c, buf, lambda b: (b.find(b"\r\n\r\n") + 4) if b"\r\n\r\n" in b
                              else None)
        if end is None:
            return None, buf
        head, buf = buf[:end].decode("latin-1"), buf[end:]
        lines = head.split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = []
        for l in lines[1:]:
            if l:
                k, _, v = l.partition(":")
                headers.append((k.strip(), v.strip()))
        hd = {k.lower(): v for k, v in headers}
        md5, blen = hashlib.md5(), 0
        if "chunked" in hd.get("transfer-encoding", "").lower():
            while True:
                e, buf = self._fill(c, buf, lambda b: b.find(b"\r\n") if b"\r\n" in b else None)
                if e is None:
                    return None, buf
                size = int(buf[:e].split(b";")[0], 16)
                buf = buf[e + 2:]
                got, buf = self._fill(c, buf, lambda b: size + 2 if len(b) >= size + 2 else None)
                if got is None:
                    return None, buf
                md5.update(buf[:size])
                blen += size
                buf = buf[size + 2:]
                if size == 0:
                    break
        else:
            left = int(hd.get("content-length", "0"))
            while left > 0:
                if not buf:
                    d = c.recv(1 << 20)
                    if not d:
                        return None, buf
                    buf = d
                take = buf[:left]
                md5.update(take)
                blen += len(take)
                left -= len(take)
                buf = buf[len(take):]
        return (method, target, headers, md5.hexdigest(), blen), buf

    def _head(self, status, reason, length=None, ctype="application/json", chunked=False,
              extra=""):
        h = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nX-Backend: %s\r\n" % (status, reason, ctype,
                                                                        self.name)
        h += "Connection: X-Internal\r\nX-Internal: secret\r\nKeep-Alive: timeout=5\r\n"
        if chunked:
            h += "Transfer-Encoding: chunked\r\n"
        elif length is not None:
            h += "Content-Length: %d\r\n" % length
        return (h + extra + "\r\n").encode()

    def _send(self, c, status, reason, body, ctype="application/json"):
        c.sendall(self._head(status, reason, len(body), ctype) + body)
        return True

    def _answer(self, c, req):
        method, target, headers, md5, blen = req
        u = urllib.parse.urlsplit(target)
        q = dict(urllib.parse.parse_qsl(u.query))
        path = u.path
        head_only = method == "HEAD"
        if path in ("/", "/index.html"):
            return self._send(c, 200, "OK", UI_PAGE, "text/html; charset=utf-8")
        if path == "/s/ui.js":
            return self._send(c, 200, "OK", UI_JS, "application/javascript")
        if path == "/api/version":
            body = json.dumps({"version": "2.4.1-" + self.name, "host": "fake"}).encode()
            return self._send(c, 200, "OK", body)
        if path == "/api/echo":
            body = json.dumps({"method": method, "target": target, "headers": headers,
                               "body_md5": md5, "body_len": blen}).encode()
            return self._send(c, 200, "OK", body)
        if path == "/api/big":
            return self._big(c, int(q.get("bytes", "0")), q.get("chunked") == "1", head_only)
        if path == "/api/close-mid":
            n = int(q.get("bytes", "100000"))
            c.sendall(self._head(200, "OK", n, "application/octet-stream") + pattern(0, n // 2))
            return False
        if path == "/api/close-before":
            if self.name in q.get("on", self.name).split(","):
                return False
            return self._send(c, 200, "OK", json.dumps({"answered_by": self.name}).encode())
        if path == "/api/stall":
            c.settimeout(60)
            try:
                while c.recv(65536):
                    pass
            except OSError:
                pass
            return False
        if path == "/api/error500":
            return self._send(c, 500, "Internal Server Error",
                              b'{"error":{"code":500,"message":"fake failure"}}')
        if path == "/api/slow":
            time.sleep(int(q.get("ms", "100")) / 1000.0)
            return self._send(c, 200, "OK", b'{"slow":true}')
        return self._send(c, 404, "Not Found",
                          b'{"error":{"code":404,"message":"Endpoint not found"}}')

    def _big(self, c, n, chunked, head_only):
        c.sendall(self._head(200, "OK", n, "application/octet-stream", chunked))
        if head_only:
            return True
        off = 0
        while off < n:
            take = min(n - off, len(_BLOCK))
            data = pattern(off, take)
            if chunked:
                c.sendall(b"%x\r\n" % take + data + b"\r\n")
            else:
                c.sendall(data)
            off += take
        if chunked:
            c.sendall(b"0\r\n\r\n")
        return True


# ---- a client's side, byte by byte ---------------------------------------------

class Conn:
    """A raw client connection: send bytes, read responses by their framing
    (Content-Length, chunked, or to the close), interim 1xx ones too."""

    def __init__(self, port, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.closed = False

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        self.s.close()

    def _more(self):
        d = self.s.recv(1 << 20)
        if not d:
            self.closed = True
            raise EOFError("closed")
        self.buf += d

    def _until(self, sep):
        while sep not in self.buf:
            self._more()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _take(self, n):
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, head=False):
        """(status, {lower-case name: value}, body); EOFError when the
        connection closed before the response was whole."""
        lines = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        hd = {}
        for l in lines[1:]:
            if l:
                k, _, v = l.partition(":")
                hd[k.strip().lower()] = v.strip()
        if head or status in (204, 304) or status // 100 == 1:
            return status, hd, b""
        if "chunked" in hd.get("transfer-encoding", ""):
            body = b""
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                body += self._take(size)
                self._take(2) if size else self._until(b"\r\n")
                if size == 0:
                    return status, hd, body
        if "content-length" in hd:
            return status, hd, self._take(int(hd["content-length"]))
        while True:
            try:
                self._more()
            except EOFError:
                body, self.buf = self.buf, b""
                return status, hd, body

    def closed_by_peer(self, wait=2.0):
        """The peer closed (EOF or reset) within wait seconds."""
        self.s.settimeout(wait)
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
