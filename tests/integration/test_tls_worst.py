"""TLS at the limits: every client at the maximum unit size at once, over
TLS, into a small budget (memory-limit 16M, max-frame-bytes 512K), with
faults mid-unit.  20 framed clients send frames of nearly 512K each, 10
telnet clients send long runs of lines, all at once; meanwhile 10 clients
die half-way through a frame (reset) and 10 stop half-way (closed at
read-timeout).  Every point of the good clients arrives exactly once,
stats answer throughout, and the relay's RSS stays bounded.  (About 25 s;
TSRELAY_LONG=1 sends ten times as much.)"""

import os
import random
import socket
import ssl
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
import tlsutil as tu  # noqa: E402

LONG = os.environ.get("TSRELAY_LONG") == "1"
h.hard_timeout(600 if LONG else 180)
tap = h.Tap()
base = h.tmpdir()
certs = tu.Certs(base)
vm = h.Victoria(base).start()
tport = h.free_port()
relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)])
relay.listen = [(relay.port, "auto"), (tport, "auto tls")]
relay.write_conf([("vm", "127.0.0.1:%d" % vm.telnet)],
                 relay={"memory-limit": "16M", "max-frame-bytes": "512K",
                        "read-timeout": "3s"},
                 extra="\n[tls]\ncert = %s\nkey = %s\n" % (certs.path("server.pem"),
                                                         certs.path("server.key")))
relay.start()
ctx = tu.client_context(certs)
T0 = int(time.time()) - 7200
RUN = random.randrange(1 << 30)
MF, MT = "it.tlsw.framed.r%d" % RUN, "it.tlsw.telnet.r%d" % RUN
SCALE = 10 if LONG else 1
FRAMES, FRAME_LINES = 3 * SCALE, 6000        # ~6000 x 80 bytes: just under 512K
TELNET_LINES = 20000 * SCALE
errors = []


def framed_client(k):
    try:
        s = tu.connect(ctx, tport, timeout=120)
        for f in range(FRAMES):
            lo = (k * FRAMES + f) * FRAME_LINES
            body = "".join(h.telnet_line(MF, i, 1000, T0, put=False)
                           for i in range(lo, lo + FRAME_LINES)).encode()
            assert len(body) <= 512 * 1024, len(body)
            s.sendall(struct.pack(">I", len(body)) + body)
        s.sendall(struct.pack(">I", 0))
        time.sleep(0.5)
        s.close()
    except Exception as e:  # noqa: BLE001
        errors.append("framed %d: %r" % (k, e))


def telnet_client(k):
    try:
        s = tu.connect(ctx, tport, timeout=120)
        lo = k * TELNET_LINES
        chunk = 2000
        for c in range(lo, lo + TELNET_LINES, chunk):
            s.sendall("".join(h.telnet_line(MT, i, 1000, T0) for i in range(c, c + chunk)).encode())
        s.sendall(b"exit\n")
        tu.read_until_closed(s, 60)
        s.close()
    except Exception as e:  # noqa: BLE001
        errors.append("telnet %d: %r" % (k, e))


def faulty_client(k, reset):
    """Half a frame, then a reset (SO_LINGER 0) or silence."""
    try:
        s = tu.connect(ctx, tport, timeout=30)
        body = b"x" * (400 * 1024)
        s.sendall(struct.pack(">I", 500 * 1024) + body)
        if reset:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        else:
            tu.wait_closed(s, 10)
            s.close()
    except Exception as e:  # noqa: BLE001
        errors.append("faulty %d: %r" % (k, e))


stats_ok = []


def prober(stop):
    while not stop.is_set():
        try:
            st = relay.stats()
            stats_ok.append(("memory.rss", None) in st)
        except OSError:
            stats_ok.append(False)
        time.sleep(0.5)


rss = h.RssSampler(relay, 0.1)
rss.start()
stop = threading.Event()
pt = threading.Thread(target=prober, args=(stop,), daemon=True)
pt.start()
threads = [threading.Thread(target=framed_client, args=(k,)) for k in range(20)]
threads += [threading.Thread(target=telnet_client, args=(k,)) for k in range(10)]
threads += [threading.Thread(target=faulty_client, args=(k, k % 2 == 0)) for k in range(20)]
random.shuffle(threads)
t0 = time.time()
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=400)
stop.set()
pt.join(timeout=5)
tap.ok(not errors, "every client sent what it meant to (%.1f s)" % (time.time() - t0), errors)
nf, nt = 20 * FRAMES * FRAME_LINES, 10 * TELNET_LINES
tap.eq(vm.wait_count(MF, nf, timeout=180, settle=1.0), nf,
       "framed over TLS: all %d points of the good clients arrived, none twice" % nf)
tap.eq(vm.wait_count(MT, nt, timeout=180, settle=0.5), nt,
       "telnet over TLS: all %d points arrived, none twice" % nt)
peak = rss.stop()
tap.ok(stats_ok and all(stats_ok), "stats answered every time they were asked (%d times)"
       % len(stats_ok))
tap.ok(peak < h.rss_bound(16 + 32), "peak RSS %.1f MiB < 48 MiB (memory-limit 16M + 32M for "
       "the code, 70 connections and OpenSSL)%s" % (peak / 1048576.0, h.ASAN_NOTE))
st = relay.stats()
tap.ok(st.get(("tls.failures", "reason=closed"), 0) + st.get(("tls.failures", "reason=timeout"),
                                                                0) == 0,
       "no handshake failed (the faults came after the handshake)")
tap.eq(st.get(("memory.input_forced", None)), 0, "no input held past input-memory")
tap.eq(st.get(("tls.clients", None)), 0, "every TLS client is closed again")
tap.eq(relay.stop(), 0, "the relay stops cleanly")
tap.done()
