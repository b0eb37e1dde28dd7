#!/bin/sh
# quickstart.sh -- installs dependencies, builds tsrelay, and runs it on
# port 4242 in front of a local victoria-metrics (its OpenTSDB telnet
# listener on 4243, HTTP on 8429) with a local redis-server (port 6380) as
# the spool.  Everything lives in a temporary directory; Ctrl-C stops all.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
deploy/install-deps.sh run

if [ ! -x build/src/tsrelay ]; then
    ./autogen.sh
    mkdir -p build
    (cd build && ../configure -q && make -j"$(nproc)" src/tsrelay)
fi

work=$(mktemp -d /tmp/tsrelay-quickstart.XXXXXX)
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$work/redis" "$work/vm"
redis-server --port 6380 --bind 127.0.0.1 --dir "$work/redis" --save "" \
    --appendonly yes --appendfsync everysec >"$work/redis.log" 2>&1 &
pids="$pids $!"
victoria-metrics -storageDataPath="$work/vm" -httpListenAddr=127.0.0.1:8429 \
    -opentsdbListenAddr=127.0.0.1:4243 -retentionPeriod=100y \
    -search.latencyOffset=0s -loggerLevel=ERROR >"$work/vm.log" 2>&1 &
pids="$pids $!"

i=0
until redis-cli -p 6380 ping >/dev/null 2>&1 && \
      curl -fs http://127.0.0.1:8429/health >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -gt 150 ] && { echo "quickstart: redis or victoria-metrics did not start" >&2; exit 1; }
    sleep 0.2
done

sed -e 's/^address = 127.0.0.1:6379$/address = 127.0.0.1:6380/' \
    conf/tsrelay.conf >"$work/tsrelay.conf"

echo "tsrelay on :4242 -> victoria-metrics (telnet :4243, query http://127.0.0.1:8429), spool in redis :6380"
echo "see README.md, 'Send a point', for telnet, framed and HTTP examples"
build/src/tsrelay -c "$work/tsrelay.conf" &
pids="$pids $!"
wait $!
