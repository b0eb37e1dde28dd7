"""guardclient.py -- clients for the new-series guard's integration tests:
send a batch of put lines over telnet, framed or HTTP and collect every
reply the relay gives for it (telnet error lines, framed error frames and
acks, HTTP ?details answers), each exchange complete before it returns, so
a test knows the order in which the relay saw the points.

Standard library only; every wait bounded; sockets are closed by the
caller (or at exit).
"""

import json
import select
import socket
import struct
import time

import harness as h


def _body(line):
    """'put m ts v k=v' -> 'm ts v k=v' (framed text takes either)."""
    return line[4:] if line.startswith("put ") else line


def as_json(line):
    w = _body(line).split()
    return {"metric": w[0], "timestamp": int(w[1]), "value": int(w[2]),
            "tags": dict(t.split("=", 1) for t in w[3:])}


class Telnet:
    """One telnet connection from a chosen source address."""

    def __init__(self, port, source="127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                             source_address=(source, 0))
        self.rx = b""
        self.mark = 0

    def _pump(self, data, off, wait):
        """One select round: reads what came, writes what fits."""
        want_w = [self.sock] if off < len(data) else []
        r, w, _ = select.select([self.sock], want_w, [], wait)
        got = False
        if r:
            d = self.sock.recv(1 << 20)
            if not d:
                raise ConnectionError("telnet: the relay closed the connection")
            self.rx += d
            got = True
        if w:
            off += self.sock.send(data[off:off + (1 << 20)])
        return off, got

    def send(self, lines, batch=100, timeout=60):
        """Sends the lines `batch` at a time, each batch followed by an
        unknown command as a marker, and waits for the marker's answer
        before the next batch: every reply of a batch is read before more
        is sent (the relay keeps at most max-reply-bytes of replies for a
        client; a client that sends faster than it reads loses error
        lines, counted as replies.dropped_bytes).  Returns the reply lines
        without the markers' answers."""
        self.sock.setblocking(False)
        deadline = time.time() + timeout
        replies = []
        for i in range(0, len(lines), batch):
            self.mark += 1
            marker = "guardmark%d" % self.mark
            data = ("".join(lines[i:i + batch]) + marker + "\n").encode()
            off = 0
            while time.time() < deadline:
                off, _ = self._pump(data, off, 0.05)
                *done, self.rx = self.rx.split(b"\n")
                text = [x.decode("utf-8", "replace") for x in done]
                hit = [k for k, x in enumerate(text) if marker + "." in x]
                replies += text[:hit[0]] if hit else text
                if hit:
                    replies += text[hit[0] + 1:]
                    break
            else:
                raise TimeoutError("telnet: no answer to %s" % marker)
        return replies

    def close(self):
        self.sock.close()


class Framed:
    """One framed connection (frame-acks = on), frames numbered from 1."""

    def __init__(self, port, source="127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                             source_address=(source, 0))
        self.next = 1
        self.acked = 0
        self.errors = []     # error lines, in order
        self.rx = b""

    def send(self, frames, window=4, timeout=60):
        """Sends the payloads (text of put lines), at most `window` frames
        unacknowledged at a time (their error lines then fit the relay's
        reply buffer), and waits until the relay acknowledged the last one;
        returns the error lines of their reply frames."""
        before = len(self.errors)
        self.sock.setblocking(False)
        deadline = time.time() + timeout
        for i in range(0, len(frames), window):
            group = frames[i:i + window]
            data = b"".join(h.frame(p) for p in group)
            last_no = self.next + len(group) - 1
            self.next += len(group)
            off = 0
            while time.time() < deadline and self.acked < last_no:
                want_w = [self.sock] if off < len(data) else []
                r, w, _ = select.select([self.sock], want_w, [], 0.05)
                if r:
                    d = self.sock.recv(1 << 20)
                    if not d:
                        raise ConnectionError("framed: the relay closed the connection")
                    self.rx += d
                    self._frames()
                if w:
                    off += self.sock.send(data[off:])
            if self.acked < last_no:
                raise TimeoutError("framed: ack %d of %d" % (self.acked, last_no))
        return self.errors[before:]

    def _frames(self):
        while len(self.rx) >= 4:
            (n,) = struct.unpack(">I", self.rx[:4])
            if len(self.rx) < 4 + n:
                return
            text = self.rx[4:4 + n].decode("utf-8", "replace")
            self.rx = self.rx[4 + n:]
            if text.startswith("ack "):
                self.acked = max(self.acked, int(text[4:]))
            else:
                self.errors += [x for x in text.split("\n") if x]

    def close(self):
        self.sock.close()


def http_put(port, lines, batch=500):
    """POSTs the lines as /api/put?details JSON arrays of `batch`; returns
    (success, failed, [error texts in order], [status codes])."""
    ok = failed = 0
    errors, codes = [], []
    for i in range(0, len(lines), batch):
        body = json.dumps([as_json(x) for x in lines[i:i + batch]]).encode()
        code, resp, _ = h.http_req("http://127.0.0.1:%d/api/put?details" % port, body, "POST",
                                   timeout=60)
        codes.append(code)
        d = json.loads(resp or b"{}")
        ok += d.get("success", 0)
        failed += d.get("failed", 0)
        errors += [e.get("error") for e in d.get("errors", [])]
    return ok, failed, errors, codes


def frames_of(lines, per_frame):
    """Framed payloads of per_frame lines each (without "put ")."""
    return ["".join(_body(x) for x in lines[i:i + per_frame]).encode()
            for i in range(0, len(lines), per_frame)]
