#!/bin/sh
# Regenerates the autotools files (configure, Makefile.in, build-aux/);
# none of them is committed.
set -e
cd "$(dirname "$0")"
mkdir -p build-aux m4
autoreconf --install --force
# automake's TAP driver runs every test (unit and integration) as TAP
for d in /usr/share/automake-*; do
    if [ -f "$d/tap-driver.sh" ]; then
        cp "$d/tap-driver.sh" build-aux/tap-driver.sh
        break
    fi
done
test -f build-aux/tap-driver.sh || { echo "autogen.sh: tap-driver.sh not found (automake)" >&2; exit 1; }
