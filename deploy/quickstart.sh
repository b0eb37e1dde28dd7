#!/bin/sh
# quickstart.sh -- installs dependencies, builds tsrelay, and runs it on
# port 4242 in front of a local victoria-metrics (its OpenTSDB telnet
# listener on 4243, HTTP on 8429) with a local redis-server (port 6380) as
# the spool.  It prints where everything is: the configuration, each
# process' PID and log, the data directory, and how to stop (Ctrl-C, or
# kill the PID it prints).
#
# Everything lives in a new directory under /tmp (the configuration,
# redis' and victoria-metrics' data and logs); it is deleted when the
# quickstart stops, unless KEEP=1 is given.  Environment:
#   KEEP=1           keep the directory at the end (it says where)
#   PORT=4242        tsrelay's port (telnet, framed, HTTP, the status page)
#   REDIS_PORT=6380  VM_PORT=8429  VM_TELNET_PORT=4243
#   TSRELAY=PATH     run this tsrelay binary instead of build/src/tsrelay
# Dependencies are installed with apt-get (deploy/install-deps.sh) unless
# redis-server, victoria-metrics and curl are there and tsrelay is built.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
PORT=${PORT:-4242}
REDIS_PORT=${REDIS_PORT:-6380}
VM_PORT=${VM_PORT:-8429}
VM_TELNET_PORT=${VM_TELNET_PORT:-4243}
KEEP=${KEEP:-0}
tsrelay=${TSRELAY:-build/src/tsrelay}

say() { echo "quickstart: $*"; }

have_all() {
    for c in redis-server redis-cli victoria-metrics curl; do
        command -v "$c" >/dev/null 2>&1 || return 1
    done
    [ -x "$tsrelay" ]
}
have_all || deploy/install-deps.sh run

if [ ! -x "$tsrelay" ]; then
    ./autogen.sh
    mkdir -p build
    (cd build && ../configure -q && make -j"$(nproc)" src/tsrelay)
fi

work=$(mktemp -d /tmp/tsrelay-quickstart.XXXXXX)
redis_pid='' vm_pid='' relay_pid='' stopped=''
# tsrelay first (it flushes to victoria-metrics and spools to redis), then
# the other two; then the directory goes, or stays with KEEP=1
cleanup() {
    [ -z "$stopped" ] || return 0
    stopped=1
    for p in $relay_pid $vm_pid $redis_pid; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "$KEEP" = 1 ]; then
        say "stopped; kept $work (KEEP=1): configuration, logs, redis' and" \
            "victoria-metrics' data; rm -rf $work when done"
    else
        rm -rf "$work"
        say "stopped; deleted $work (configuration, logs, redis' and victoria-metrics'" \
            "data); KEEP=1 deploy/quickstart.sh keeps it"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$work/redis" "$work/vm"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$work/redis" --save "" \
    --appendonly yes --appendfsync everysec >"$work/redis.log" 2>&1 &
redis_pid=$!
victoria-metrics -storageDataPath="$work/vm" -httpListenAddr=127.0.0.1:"$VM_PORT" \
    -opentsdbListenAddr=127.0.0.1:"$VM_TELNET_PORT" -retentionPeriod=100y \
    -search.latencyOffset=0s -loggerLevel=ERROR >"$work/vm.log" 2>&1 &
vm_pid=$!

i=0
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && \
      curl -fs "http://127.0.0.1:$VM_PORT/health" >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -gt 150 ] && { say "redis or victoria-metrics did not start: see $work/*.log" >&2; exit 1; }
    sleep 0.2
done

sed -e "s/^listen = 0.0.0.0:4242 auto$/listen = 0.0.0.0:$PORT auto/" \
    -e "s/^address = 127.0.0.1:6379$/address = 127.0.0.1:$REDIS_PORT/" \
    -e "s/^address = 127.0.0.1:4243$/address = 127.0.0.1:$VM_TELNET_PORT/" \
    conf/tsrelay.conf >"$work/tsrelay.conf"

"$tsrelay" -c "$work/tsrelay.conf" &
relay_pid=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$PORT/health"; do
    i=$((i + 1))
    if ! kill -0 "$relay_pid" 2>/dev/null || [ $i -gt 100 ]; then
        say "tsrelay did not start" >&2
        exit 1
    fi
    sleep 0.1
done

say "tsrelay           pid $relay_pid, port $PORT (telnet, framed, HTTP)," \
    "status page http://127.0.0.1:$PORT/tsrelay/, log: this terminal"
say "redis-server      pid $redis_pid, port $REDIS_PORT (the spool), log: $work/redis.log"
say "victoria-metrics  pid $vm_pid, telnet port $VM_TELNET_PORT, queries" \
    "http://127.0.0.1:$VM_PORT, log: $work/vm.log"
say "configuration     $work/tsrelay.conf (edit it, then reload: kill -HUP $relay_pid)"
if [ "$KEEP" = 1 ]; then
    say "data              $work (kept at the end: KEEP=1)"
else
    say "data              $work (deleted at the end, victoria-metrics' data with it;" \
        "KEEP=1 keeps it)"
fi
say "stop              Ctrl-C here, or kill $$ (stops all three)"
say "send a point: see README.md, 'Send a point and see it arrive'"
wait "$relay_pid"
