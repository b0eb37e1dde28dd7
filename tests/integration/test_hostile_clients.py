"""Hostile and broken clients, table-driven: oversize and truncated frames,
0xFFFFFFFF lengths (on an auto listener: neither telnet nor HTTP, told at
once), NUL bytes, invalid UTF-8, a 1 MiB line without a
newline, 10,000 tags, huge numbers, negative and 20-digit timestamps,
diediedie, binary garbage, HTTP with a 100 MiB Content-Length, a client
that never reads its replies, ...  Each gets its expected reply or close;
afterwards tsrelay is alive, bounded, and a good client's points arrive
exactly."""

import gzip
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(240)
tap = h.Tap()
base = h.tmpdir()
vm = h.Victoria(base).start()
FPORT = h.free_port()
APORT = h.free_port()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)],
                listen=[(APORT, "auto"), (FPORT, "framed")],
                relay={"memory-limit": "32M", "max-frame-bytes": "1M",
                       "max-http-body-bytes": "1M", "max-reply-bytes": "16K"}).start()
PORT = APORT
T = int(time.time()) - 86400
rss0 = relay.rss()


def exchange(data, wait=1.0, port=None):
    """Sends data, returns (reply bytes, closed by the relay?)."""
    s = socket.create_connection(("127.0.0.1", port or PORT), timeout=10)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    reply = h.recv_all(s, timeout=wait, limit=4 << 20)
    closed = False
    try:
        s.settimeout(0.3)
        closed = s.recv(1) == b""
    except socket.timeout:
        closed = False
    except OSError:
        closed = True
    s.close()
    return reply, closed


def frame(b):
    return struct.pack(">I", len(b)) + b


def u8(b):
    return b.decode("utf-8", "replace")


tags10k = " ".join("k%d=v" % i for i in range(10000))
long_ok = "put m %d 1 " % T + " ".join("t%d=%s" % (i, "v" * 200) for i in range(8))
random.seed(11)
garbage = bytes(random.randrange(256) for _ in range(20000))

F = "framed listener: "
# (name, bytes to send, predicate on (reply text, closed)); names starting
# with F go to the framed listener, the rest to the auto one
cases = [
    (F + "header 0xFFFFFFFF", struct.pack(">I", 0xFFFFFFFF) + b"x" * 10,
     lambda r, c: "frame too large: 4294967295 bytes" in r and c),
    (F + "header max-frame-bytes + 1", struct.pack(">I", (1 << 20) + 1),
     lambda r, c: "frame too large: 1048577 bytes" in r and c),
    (F + "10,000 tags in one line", frame(("m %d 1 %s\n" % (T, tags10k)).encode()),
     lambda r, c: "error: illegal argument: Too many tags: " in r and not c),
    # neither telnet nor HTTP (a byte below 0x20 other than tab, or 0x7f and
    # up, in the first word): answered at once (exchange waits 1 s; the
    # read-timeout is 30 s) with how framed packets start, and closed
    ("auto listener: 0xFFFFFFFF is neither telnet nor HTTP: told at once, closed",
     struct.pack(">I", 0xFFFFFFFF) + b"put m 1 1 a=b\n",
     lambda r, c: r.startswith("error: neither telnet nor HTTP: the connection began with "
                               "bytes ff ff ff ff") and "the first of them 0" in r and c),
    ("auto listener: a framed length of 16 MiB (0x01000000): told at once, closed",
     struct.pack(">I", 1 << 24) + b"x" * 100,
     lambda r, c: "error: neither telnet nor HTTP" in r and "(byte 0 is 0x01)" in r and c),
    ("auto listener: a framed length 0x41000000 ('A', then NUL): told at once, closed",
     struct.pack(">I", 0x41000000) + b"put m 1 1 a=b\n",
     lambda r, c: "error: neither telnet nor HTTP" in r and "(byte 1 is 0x00)" in r and c),
    ("auto listener: non-ASCII in the first word (0xe9): told at once, closed",
     b"p\xe9t m 1 1 a=b\n", lambda r, c: "(byte 1 is 0xe9)" in r and c),
    ("auto listener: Latin-1 after the command is telnet (the TSD takes it)",
     b"put m.\xe9t\xe9 %d 1 a=caf\xe9\n" % T, lambda r, c: r == "" and not c),
    ("auto listener: collectd's line (two trailing spaces, CRLF) is telnet",
     b"put cpu.0.cpu.user %d 9467 fqdn=host  \r\n" % T, lambda r, c: r == "" and not c),
    ("auto listener: a command word with a tab is telnet (the TSD's unknown command)",
     b"st\tats\n", lambda r, c: "unknown command: st\tats." in r and not c),
    ("framed header 0x00FFFFFF on auto (sniffed as framed)", b"\x00\xff\xff\xff",
     lambda r, c: "frame too large: 16777215" in r and c),
    ("truncated frame, then the client goes away", struct.pack(">I", 1000) + b"put m 1 1",
     lambda r, c: r == ""),
    ("heartbeats only", struct.pack(">I", 0) * 500, lambda r, c: r == "" and not c),
    ("frame with NUL bytes in a name", frame(b"m\x00x %d 1 a=b\n" % T),
     lambda r, c: "error: illegal argument: Invalid metric name" in r and not c),
    ("frame with invalid JSON", frame(b"[{\"metric\": nope}]"),
     lambda r, c: "error: illegal argument: Unable to parse the given JSON" in r and not c),
    ("frame: JSON that is not an object", frame(b"[1, \"x\", null]"),
     lambda r, c: r.count("error: ") == 3),
    ("telnet NUL byte in a metric", b"put m\x00x %d 1 a=b\n" % T,
     lambda r, c: "put: illegal argument: Invalid metric name (\"m\x00x\"): illegal character: \x00" in r),
    ("telnet invalid UTF-8 (0x80) in a tag", b"put m %d 1 a=\x80\n" % T,
     lambda r, c: "Invalid tag value with key [a]" in r),
    ("telnet 1 MiB line without a newline", b"put m " + b"x" * (1 << 20),
     lambda r, c: "error: line too long" in r and not c),
    ("telnet 10,000 tags: over max-line-bytes", ("put m %d 1 %s\n" % (T, tags10k)).encode(),
     lambda r, c: "error: line too long" in r and not c),
    ("telnet 30-digit value", b"put m %d 123456789012345678901234567890 a=b\n" % T,
     lambda r, c: "put: invalid value: Value too long: 123456789012345678901234567890" in r),
    ("telnet value overflowing a long", b"put m %d 9223372036854775808 a=b\n" % T,
     lambda r, c: "put: invalid value: Overflow in 9223372036854775808" in r),
    ("telnet negative timestamp", b"put m -5 1 a=b\n",
     lambda r, c: "put: illegal argument: invalid timestamp: -5" in r),
    ("telnet zero timestamp", b"put m 0 1 a=b\n",
     lambda r, c: "put: illegal argument: invalid timestamp: 0" in r),
    ("telnet 20-digit timestamp", b"put m 12345678901234567890 1 a=b\n",
     lambda r, c: "put: invalid value: Value too long: 12345678901234567890" in r),
    ("telnet timestamp past 9999999999999", b"put m 99999999999999 1 a=b\n",
     lambda r, c: "put: illegal argument: bad timestamp=99999999999999" in r),
    ("telnet NaN", b"put m %d NaN a=b\n" % T,
     lambda r, c: "put: invalid value: Invalid character 'N' in NaN" in r),
    ("telnet 1e400", b"put m %d 1e400 a=b\n" % T,
     lambda r, c: "value is NaN or Infinite: Infinity" in r),
    ("telnet duplicate tag", b"put m %d 1 a=b a=c\n" % T,
     lambda r, c: "duplicate tag: a=c, tags={a=b}" in r),
    ("telnet no tags", b"put m %d 1\n" % T,
     lambda r, c: "not enough arguments (need least 4, got 3)" in r),
    ("telnet canonical line over 1024 bytes", (long_ok + "\n").encode(),
     lambda r, c: "line too long for the TSD" in r and not c),
    ("diediedie", b"diediedie\n", lambda r, c: "diediedie: refused" in r and not c),
    ("dropcaches", b"dropcaches\n", lambda r, c: "dropcaches: refused" in r and not c),
    ("mixed-case Put is an unknown command", b"Put m 1 1 a=b\n",
     lambda r, c: "unknown command: Put.  Try `help'." in r),
    ("upper-case PUT is sniffed as HTTP: 400 and closed", b"PUT m 1 1 a=b\n\r\n\r\n",
     lambda r, c: r.startswith("HTTP/1.1 400") and c),
    ("blank line", b"\n", lambda r, c: "unknown command: .  Try `help'." in r),
    ("binary garbage on a telnet connection", b"x" + garbage,
     lambda r, c: "unknown command" in r or "error:" in r),
    ("HTTP Content-Length 100 MiB", b"POST /api/put HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n" + b"[" * 1000,
     lambda r, c: r.startswith("HTTP/1.1 413") and c),
    ("HTTP malformed request line", b"GET /\x01 HTTP/9.9\r\n\r\n",
     lambda r, c: r.startswith("HTTP/1.1 400") and c),
    ("HTTP gzip body inflating past the limit",
     b"POST /api/put HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" %
     len(gzip.compress(b" " * (4 << 20))) + gzip.compress(b" " * (4 << 20)),
     lambda r, c: r.startswith("HTTP/1.1 413")),
    ("HTTP body that is not JSON", b"POST /api/put HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
     lambda r, c: r.startswith("HTTP/1.1 400")),
    ("HTTP unknown path", b"GET /nope HTTP/1.1\r\n\r\n", lambda r, c: r.startswith("HTTP/1.1 404")),
    ("HTTP chunked body past the limit",
     b"POST /api/put HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
     (b"100000\r\n" + b" " * 0x100000 + b"\r\n") * 2,
     lambda r, c: r.startswith("HTTP/1.1 413") and c),
]

for name, data, pred in cases:
    reply, closed = exchange(data, port=FPORT if name.startswith(F) else APORT)
    text = u8(reply)
    tap.ok(pred(text, closed), name, "closed=%s reply=%r" % (closed, text[:300]))
    tap.ok(relay.alive(), "  ... and tsrelay is alive after: " + name)

# the warnings name the client by its address, not a file descriptor
log = relay.logtext()
tap.ok("client 127.0.0.1:" in log and "frame header claims 4294967295 bytes" in log and
       "neither telnet nor HTTP (first byte 0xff)" in log and "client fd " not in log,
       "the warnings name the peer (client 127.0.0.1:PORT: ...), never just an fd",
       "\n".join(l for l in log.splitlines() if "client " in l)[:1500])

# a client that never reads its replies: 200k invalid lines
s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
bad = b"put m %d x a=b\n" % T
sent = 0
s.settimeout(20)
try:
    for _ in range(200):
        s.sendall(bad * 1000)
        sent += 1000
except socket.timeout:
    pass
tap.ok(sent == 200000, "a client that never reads its replies can still send (%d lines)" % sent)
time.sleep(0.5)
st = relay.stats()
tap.ok(st.get(("replies.dropped_bytes", "proto=telnet"), 0) > 0,
       "its replies beyond the cap were dropped and counted (%d bytes)"
       % st.get(("replies.dropped_bytes", "proto=telnet"), 0))
s.close()

# after all that, a good client
metric = "it.hostile.m%d" % random.randrange(1 << 30)
N = 50000
good = h.Sender(PORT, metric, N, 0, 100, T, conns=2)
good.run()
tap.ok(good.error is None, "a good client sends %d points" % N, good.error)
tap.eq(vm.wait_count(metric, N, timeout=30), N, "every point of the good client arrived")
rss1 = relay.rss()
tap.note("RSS before / after the hostile inputs (MiB)",
         "%.1f / %.1f" % (rss0 / 1048576.0, rss1 / 1048576.0))
tap.ok(rss1 < h.rss_bound(48), "RSS stays bounded (memory-limit 32M)")
tap.ok(relay.stop() == 0, "tsrelay exits 0")
tap.done()
