#!/bin/sh
# embed-asset.sh SYMBOL [FILE] -- prints C definitions of
#     const unsigned char SYMBOL[];  const size_t SYMBOL_len;
# holding FILE's bytes, for the status page's compiled-in files (see
# src/ops/status_assets.h).  A "sourceMappingURL" comment line is left out (the
# map is not served, and a browser would ask for it).  Without FILE (or
# with an empty one) the asset is empty: SYMBOL_len = 0.
set -eu
sym=${1:?usage: embed-asset.sh SYMBOL [FILE]}
file=${2:-}
strip() { sed -e '/^\/[/*]# sourceMappingURL=/d' "$1"; }
echo "const unsigned char $sym[] = {"
len=0
if [ -n "$file" ]; then
    [ -r "$file" ] || { echo "embed-asset.sh: cannot read $file" >&2; exit 1; }
    len=$(strip "$file" | wc -c | tr -d ' ')
    strip "$file" | od -An -v -tx1 | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'
fi
echo "0x00 };"
echo "const size_t ${sym}_len = $len;"
