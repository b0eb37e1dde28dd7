"""frameclient.py -- a framed-protocol client that uses tsrelay's framed
acknowledgements (`[relay] frame-acks = on`) for at-least-once delivery
across a relay crash.

Frames are numbered per connection from 1; tsrelay answers with reply
frames whose payload is `ack N` (cumulative: every frame up to N is safe,
acknowledged by its TSD or stored in Redis).  The client keeps every frame
not yet acknowledged; when the connection fails it reconnects and sends
them again (as new frames of the new connection, numbered from 1 again)
before anything newer.  `resend=False` forgets them instead, to show what
a client without acknowledgements loses.  Standard library only; one
thread; every wait bounded.
"""

import collections
import select
import socket
import struct
import time


class AckingClient:
    def __init__(self, port, payloads, rate=0, resend=True, host="127.0.0.1",
                 reconnect_for=60.0, frames_per_write=20):
        """payloads: bytes of each frame, in order; rate: frames/s (0 = as
        fast as the socket takes them)."""
        self.addr = (host, port)
        self.payloads = payloads
        self.rate = rate
        self.resend = resend
        self.reconnect_for = reconnect_for
        self.frames_per_write = frames_per_write
        self.todo = collections.deque(range(len(payloads)))  # never sent (or to resend)
        self.unacked = collections.deque()   # (frame number, payload index, first byte offset)
        self.sock = None
        self.next_no = 1
        self.rx = b""
        self.acked_frames = 0
        self.forgotten = []          # payload indices dropped on a failure (resend=False)
        self.resent = 0              # frames sent again after a reconnect
        self.connects = 0
        self.failures = 0
        self.errors = []             # error: frames from the relay
        self.started = None
        self.paced = 0               # frames the pacing allows so far

    # ---- connection ----------------------------------------------------------
    def _connect(self):
        deadline = time.time() + self.reconnect_for
        while True:
            try:
                s = socket.create_connection(self.addr, timeout=2)
                s.setblocking(False)
                self.sock = s
                self.next_no = 1
                self.rx = b""
                self.queued = self.written = 0   # bytes of this connection
                self.connects += 1
                return
            except OSError:
                if time.time() >= deadline:
                    raise
                time.sleep(0.05)

    def _failed(self):
        self.failures += 1
        try:
            self.sock.close()
        except OSError:
            pass
        self.sock = None
        if self.resend:
            pending = [idx for _, idx, _ in self.unacked]
            self.resent += sum(1 for _, _, start in self.unacked if start < self.written)
        else:  # frames never written at all are still to be sent
            pending = [idx for _, idx, start in self.unacked if start >= self.written]
            self.forgotten.extend(idx for _, idx, start in self.unacked if start < self.written)
        self.unacked.clear()
        self.todo.extendleft(reversed(pending))  # oldest first, before newer data
        self.outbuf = b""

    # ---- replies -------------------------------------------------------------
    def _on_reply(self, payload):
        text = payload.decode("ascii", "replace")
        if text.startswith("ack "):
            n = int(text[4:])
            while self.unacked and self.unacked[0][0] <= n:
                self.unacked.popleft()
                self.acked_frames += 1
        else:
            self.errors.append(text[:200])

    def _read(self):
        try:
            d = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not d:
            return False
        self.rx += d
        while len(self.rx) >= 4:
            (n,) = struct.unpack(">I", self.rx[:4])
            if len(self.rx) < 4 + n:
                break
            self._on_reply(self.rx[4:4 + n])
            self.rx = self.rx[4 + n:]
        return True

    # ---- sending -------------------------------------------------------------
    def _fill(self):
        """Frames into the output buffer: the pacing's due, a few at a time."""
        if self.rate:
            self.paced = int((time.time() - self.started) * self.rate)
        k = 0
        parts = []
        while self.todo and k < self.frames_per_write:
            if self.rate and self.sent_frames >= self.paced:
                break
            idx = self.todo.popleft()
            p = self.payloads[idx]
            parts.append(struct.pack(">I", len(p)) + p)
            self.unacked.append((self.next_no, idx, self.queued))
            self.queued += 4 + len(p)
            self.next_no += 1
            self.sent_frames += 1
            k += 1
        self.outbuf += b"".join(parts)

    def run(self, deadline_s=300.0, ack_wait_s=30.0, on_tick=None):
        """Sends everything, then waits up to ack_wait_s for the last acks.
        on_tick(client) is called about every 10 ms (the test's scenario).
        Returns True when every frame was acknowledged."""
        self.started = time.time()
        self.sent_frames = 0
        self.outbuf = b""
        end = self.started + deadline_s
        sent_all_at = None
        while time.time() < end:
            if on_tick:
                on_tick(self)
            if self.sock is None:
                self._connect()
            if not self.outbuf:
                self._fill()
            if not self.todo and not self.outbuf:
                if not self.unacked:
                    return True
                sent_all_at = sent_all_at or time.time()
                if time.time() - sent_all_at > ack_wait_s:
                    return False
            want_w = [self.sock] if self.outbuf else []
            try:
                r, w, _ = select.select([self.sock], want_w, [], 0.01)
            except (OSError, ValueError):
                self._failed()
                continue
            if r and not self._read():
                self._failed()
                continue
            if w and self.outbuf:
                try:
                    n = self.sock.send(self.outbuf)
                    self.outbuf = self.outbuf[n:]
                    self.written += n
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._failed()
                    continue
        return False

    def close(self):
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.sock.close()
            self.sock = None
