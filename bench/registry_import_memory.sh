#!/usr/bin/env bash
# The memory a target needs to import a JSON ticket registry: one target of a fresh devnet layout
# imports N generated tickets into an empty store; its peak RSS (VmHWM) and private memory
# (RssAnon) are read once it listens, then it is stopped and the stored rows are counted.
#   bench/registry_import_memory.sh [BUILD_DIR] [N]      (defaults: build, 1000000)
set -euo pipefail

build="$(realpath "${1:-build}")"
count="${2:-1000000}"
for binary in ticketsync ticketsync-node; do
    if [ ! -x "$build/app/$binary" ]; then
        echo "no $build/app/$binary: build it first (cmake --build $build --target $binary)" >&2
        exit 2
    fi
done
work="$(mktemp -d)"
trap 'kill "${node_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

# The keys, certificates and configs of a devnet; its nodes run for a second and stop.
if ! "$build/app/ticketsync" devnet --dir "$work/devnet" --duration 1 --no-workload --base-port 27400 \
    >"$work/devnet.log" 2>&1; then
    echo "ticketsync devnet failed:" >&2
    tail -5 "$work/devnet.log" >&2
    exit 1
fi

awk -v n="$count" 'BEGIN {
    split("commercial-bill bank-acceptance-bill e-invoice cheque", kinds, " ")
    print "["
    for (i = 1; i <= n; i++)
        printf "%s{\"id\": \"T-%07d\", \"kind\": \"%s\", \"face_amount_minor\": %d, \"currency\": \"CNY\", \"issuer\": \"Issuer %d\"}",
               (i > 1 ? ",\n" : ""), i, kinds[i % 4 + 1], 10000 + (i * 137) % 990000, i % 50
    print "\n]"
}' >"$work/registry.json"

node_dir="$work/devnet/nodes/target-1"
sed -e "s#\"registry\": \"[^\"]*\"#\"registry\": \"$work/registry.json\"#" \
    -e "s#\"database\": \"[^\"]*\"#\"database\": \"$work/import.sqlite\"#" \
    "$node_dir/node.json" >"$node_dir/import.json"
port="$(sed -n 's#.*"listen": "127.0.0.1:\([0-9]*\)".*#\1#p' "$node_dir/import.json")"

started=$(date +%s.%N)
"$build/app/ticketsync-node" --config "$node_dir/import.json" >"$work/node.log" 2>&1 &
node_pid=$!
until ss -ltn | grep -q ":$port "; do
    if ! kill -0 "$node_pid" 2>/dev/null; then
        echo "the node exited:" >&2
        tail -5 "$work/node.log" >&2
        exit 1
    fi
    sleep 0.1
done
listening=$(date +%s.%N)
peak=$(awk '/^VmHWM/ {print $2}' "/proc/$node_pid/status")
private=$(awk '/^RssAnon/ {print $2}' "/proc/$node_pid/status")
kill "$node_pid"
wait "$node_pid" 2>/dev/null || true
node_pid=
stored=$(sqlite3 "$work/import.sqlite" "SELECT COUNT(*) FROM tickets")
printf 'registry %s tickets, %s MB of JSON: stored %s; listening after %.2f s; peak RSS %s kB, private memory %s kB\n' \
    "$count" "$(($(stat -c %s "$work/registry.json") / 1000000))" "$stored" \
    "$(echo "$listening - $started" | bc)" "$peak" "$private"
