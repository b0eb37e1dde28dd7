"""TCP keepalive finds a client whose peer vanished, and keeps a live but
quiet one: a client in its own network namespace, joined to the host by a
veth pair, connects to the relay and goes quiet; the pair is deleted (the
peer vanishes without a FIN or a reset, as a host that loses power or its
network).  With tcp-keepalive = 1s (3 probes 1 s apart) the relay closes
that connection within seconds, while a quiet client on loopback stays
connected and is answered.  Needs root and iproute2 (ip netns, veth);
everything it creates is named after its PID and removed at exit.  About
8 s."""

import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(90)
tap = h.Tap()
base = h.tmpdir()
pid = os.getpid()
NS = "tsrka%d" % pid
VA, VB = "tka%d" % (pid % 100000), "tkb%d" % (pid % 100000)
NET = "10.%d.%d" % (200 + pid % 50, (pid // 50) % 250)
HOST_IP, NS_IP = NET + ".1", NET + ".2"


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, timeout=10, check=check)


def cleanup():
    ip("link", "del", VA, check=False)
    ip("netns", "del", NS, check=False)


h.at_cleanup(cleanup)
try:
    ip("netns", "add", NS)
    ip("link", "add", VA, "type", "veth", "peer", "name", VB)
    ip("link", "set", VB, "netns", NS)
    ip("addr", "add", HOST_IP + "/30", "dev", VA)
    ip("link", "set", VA, "up")
    ip("-n", NS, "addr", "add", NS_IP + "/30", "dev", VB)
    ip("-n", NS, "link", "set", VB, "up")
    ip("-n", NS, "link", "set", "lo", "up")
except (OSError, subprocess.CalledProcessError) as e:
    tap.ok(False, "network namespace and veth pair set up (root and iproute2 needed)", diag=e)
    tap.done()

sink = h.TsSink(base)
vport, lport = h.free_port(), h.free_port()
relay = h.Relay(base, [("sink", "127.0.0.1:%d" % sink.port)],
                listen=[(lport, "auto"), (HOST_IP, vport, "telnet")],
                relay={"tcp-keepalive": "1s", "log-level": "debug"}).start()


def telnet_open():
    return h.parse_metrics(h.http_get("http://127.0.0.1:%d/metrics" % lport)[1]
                           .decode()).get('tsrelay_clients_current{proto="telnet"}', -1)


# the far client: connects from its namespace, writes a point, then sits
far = h.spawn(["ip", "netns", "exec", NS, "python3", "-c",
               "import socket, time\n"
               "s = socket.create_connection(('%s', %d), timeout=10)\n"
               "s.sendall(b'put it.ka.m 1700000000 1 host=far\\n')\n"
               "print('connected', flush=True)\n"
               "time.sleep(600)\n" % (HOST_IP, vport)],
              os.path.join(base, "far.log"))
near = socket.create_connection(("127.0.0.1", lport), timeout=10)
near.sendall(b"version\n")
near.settimeout(5)
got = b""
while b"Built on" not in got:
    got += near.recv(4096)
try:
    h.wait_until(lambda: telnet_open() == 2, 10, what="both clients connected")
    both = True
except TimeoutError:
    both = False
tap.ok(both, "the far client (its own namespace) and a near one are connected",
       diag=telnet_open())
time.sleep(2.5)  # several keepalive rounds, all answered
tap.eq(telnet_open(), 2, "quiet but alive: both kept through keepalive probes")

ip("link", "del", VA)  # the far peer vanishes: no FIN, no reset
t0 = time.time()
try:
    h.wait_until(lambda: telnet_open() == 1, 20, interval=0.2, what="the far client closed")
    closed = time.time() - t0
except TimeoutError:
    closed = None
tap.ok(closed is not None, "the vanished peer's connection is closed by keepalive%s"
       % ("" if closed is None else " (after %.1f s)" % closed))
if closed is not None:
    tap.note("seconds_to_close_vanished_peer", "%.1f" % closed)
    tap.ok(closed < 10, "within idle + 3 probes (1 + 3 x 1 s) and some slack")
near.sendall(b"version\n")
got = b""
while b"Built on" not in got:
    d = near.recv(4096)
    if not d:
        break
    got += d
tap.ok(b"Built on" in got, "the quiet near client is still answered")
near.close()
far.kill()
far.wait(timeout=5)
relay.stop()
sink.stop()
tap.done()
