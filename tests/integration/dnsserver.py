"""dnsserver.py -- a scripted DNS server for tsrelay's tests (UDP, loopback).

Answers A queries from a table the test changes while it runs; per name it
can answer NXDOMAIN, drop the query, or answer after a delay (each delayed
answer waits in its own timer, so a slow name never holds up another).
AAAA and other types get an empty NOERROR answer.  Counts the queries it
saw per name.  Standard library only; it binds 127.0.0.1 only and stops
with the test (a daemon thread).
"""

import socket
import struct
import threading
import time


class DnsServer:
    def __init__(self, port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.table = {}        # name -> {"a": [ip, ...], "delay": s, "mode": ...}
        self.queries = {}      # name -> count of A/AAAA queries
        self.log = []          # (time, name, qtype)
        self._halt = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    # ---- the table ---------------------------------------------------------

    def set(self, name, ips=None, delay=0.0, mode="answer"):
        """mode: answer | nxdomain | drop."""
        with self.lock:
            self.table[name.lower().rstrip(".")] = {"a": list(ips or []), "delay": delay,
                                                     "mode": mode}

    def count(self, name=None):
        with self.lock:
            if name is None:
                return sum(self.queries.values())
            return self.queries.get(name.lower().rstrip("."), 0)

    def stop(self):
        self._halt = True
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- the wire ----------------------------------------------------------

    @staticmethod
    def _qname(data, off):
        labels = []
        while True:
            n = data[off]
            off += 1
            if n == 0:
                break
            if n & 0xC0:
                raise ValueError("compressed question")
            labels.append(data[off:off + n].decode("ascii", "replace"))
            off += n
        return ".".join(labels), off

    def _answer(self, data):
        qid, flags, qd, _, _, _ = struct.unpack(">HHHHHH", data[:12])
        if qd != 1:
            return None, 0, None
        name, off = self._qname(data, 12)
        qtype, qclass = struct.unpack(">HH", data[off:off + 4])
        question = data[12:off + 4]
        key = name.lower().rstrip(".")
        with self.lock:
            self.queries[key] = self.queries.get(key, 0) + 1
            self.log.append((time.time(), key, qtype))
            entry = self.table.get(key)
        rd = flags & 0x0100
        if entry is None or entry["mode"] == "nxdomain":
            hdr = struct.pack(">HHHHHH", qid, 0x8400 | rd | 0x0080 | 3, 1, 0, 0, 0)
            return hdr + question, entry["delay"] if entry else 0, entry
        if entry["mode"] == "drop":
            return None, 0, entry
        answers = b""
        n = 0
        if qtype == 1 and qclass == 1:
            for ip in entry["a"]:
                answers += struct.pack(">HHHIH", 0xC00C, 1, 1, 1, 4) + socket.inet_aton(ip)
                n += 1
        hdr = struct.pack(">HHHHHH", qid, 0x8400 | rd | 0x0080, 1, n, 0, 0)
        return hdr + question + answers, entry["delay"], entry

    def _serve(self):
        while not self._halt:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                reply, delay, _ = self._answer(data)
            except (ValueError, IndexError, struct.error):
                continue
            if reply is None:
                continue
            if delay > 0:
                t = threading.Timer(delay, self._send, (reply, peer))
                t.daemon = True
                t.start()
            else:
                self._send(reply, peer)

    def _send(self, reply, peer):
        try:
            self.sock.sendto(reply, peer)
        except OSError:
            pass
