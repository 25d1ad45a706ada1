#!/usr/bin/env bash
# The same store workload against several pgha binaries, same machine, same run: for each
# binary, three `pgha store run` nodes on loopback (fsync on), then `pgha bench store` with
# 1 and 32 clients and `pgha bench failover`. Use it to compare a change (for example the
# asynchronous log writer) with the binary before it.
#
#   bash Benchmarks/store-binaries.sh SECONDS ROUNDS BINARY [BINARY ...]
#
# Every process is started here and stopped by its pid; data lives in a temporary directory.
set -euo pipefail
SECONDS_PER_RUN=${1:?seconds per run}; ROUNDS=${2:?failover rounds}; shift 2
WORK=$(mktemp -d /tmp/pgha-binaries.XXXXXX)
. "$(dirname "$0")/store-nodes.sh"
PIDS=()
stop_nodes() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}
trap 'stop_nodes; rm -rf "$WORK"' EXIT
for BIN in "$@"; do
    echo "== $BIN"
    rm -rf "$WORK"/*
    start_store_nodes "$BIN" "$WORK" 27200 27300
    for _ in $(seq 1 100); do
        "$BIN" store put --config "$WORK/pgha1.yml" bench/ready yes >/dev/null 2>&1 && break
        sleep 0.2
    done
    for c in 1 32; do
        "$BIN" bench store --config "$WORK/pgha1.yml" --clients "$c" --duration "$SECONDS_PER_RUN" | tail -3
    done
    "$BIN" store status --config "$WORK/pgha1.yml" | head -4   # a term above 1 means an election happened
    stop_nodes
    "$BIN" bench failover --rounds "$ROUNDS" | tail -3
done
