#!/usr/bin/env bash
# Side by side: pgha's cluster store and etcd 3.4, three members each on loopback, fsync on,
# same machine, same run. Writes of 64-byte values with 1 and 32 concurrent clients; prints
# writes/s, p50 and p99 latency, and the pgha/etcd ratio.
#
#   bash Benchmarks/store-vs-etcd.sh [seconds-per-run]
#
# pgha is driven by `pgha bench store` (its binary client protocol); etcd by wrk through
# etcd's JSON gateway (/v3/kv/put), since no etcd benchmark tool is packaged for Debian.
# The two clients differ, so read the ratios as indicative, not exact. Everything runs in a
# temporary directory and only processes this script started are stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-10}
WORK=$(mktemp -d /tmp/pgha-vs-etcd.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
swift build -c release --product pgha >&2
PGHA=$PWD/.build/release/pgha

# --- pgha: three store nodes
. "$(dirname "$0")/store-nodes.sh"
start_store_nodes "$PGHA" "$WORK" 27000 27100

# --- etcd: three members
CLUSTER="e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803"
for i in 1 2 3; do
etcd --name e$i --data-dir "$WORK/etcd-data$i" \
    --listen-peer-urls http://127.0.0.1:2380$i --initial-advertise-peer-urls http://127.0.0.1:2380$i \
    --listen-client-urls http://127.0.0.1:2379$i --advertise-client-urls http://127.0.0.1:2379$i \
    --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token bench \
    --log-level error > "$WORK/etcd$i.log" 2>&1 &
PIDS+=($!)
done

# Wait for both clusters to accept writes.
for _ in $(seq 1 100); do
    "$PGHA" store put --config "$WORK/pgha1.yml" bench/ready yes >/dev/null 2>&1 && break
    sleep 0.2
done
ETCD_LEADER=""
for _ in $(seq 1 100); do
    for i in 1 2 3; do
        if curl -s -m 1 -X POST http://127.0.0.1:2379$i/v3/maintenance/status -d '{}' | grep -q '"leader"'; then
            st=$(curl -s -m 1 -X POST http://127.0.0.1:2379$i/v3/maintenance/status -d '{}')
            lid=$(echo "$st" | sed -E 's/.*"leader":"?([0-9]+)"?.*/\1/')
            mid=$(echo "$st" | sed -E 's/.*"member_id":"?([0-9]+)"?.*/\1/')
            [ "$lid" = "$mid" ] && ETCD_LEADER=$i
        fi
    done
    [ -n "$ETCD_LEADER" ] && break
    sleep 0.2
done
[ -n "$ETCD_LEADER" ] || { echo "etcd did not elect a leader" >&2; exit 1; }

VALUE=$(head -c 64 /dev/zero | tr '\0' 'a' | base64 -w0)
cat > "$WORK/put.lua" <<LUA
counter = 0
request = function()
   counter = counter + 1
   local key = "bench/k" .. (counter % 1000)
   local body = '{"key":"' .. mime_b64(key) .. '","value":"$VALUE"}'
   return wrk.format("POST", "/v3/kv/put", {["Content-Type"]="application/json"}, body)
end
-- base64 without external modules
local b='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
function mime_b64(data)
    return ((data:gsub('.', function(x)
        local r,bb='',x:byte()
        for i=8,1,-1 do r=r..(bb%2^i-bb%2^(i-1)>0 and '1' or '0') end
        return r;
    end)..'0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
        if (#x < 6) then return '' end
        local c=0
        for i=1,6 do c=c+(x:sub(i,i)=='1' and 2^(6-i) or 0) end
        return b:sub(c+1,c+1)
    end)..({ '', '==', '=' })[#data%3+1])
end
done = function(summary, latency, requests)
   io.write(string.format("ETCD %d %.1f %.3f %.3f\n", summary.requests, summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA

printf "%-28s %12s %10s %10s\n" "system / clients" "writes/s" "p50 ms" "p99 ms"
for c in 1 32; do
    P=$("$PGHA" bench store --config "$WORK/pgha1.yml" --clients $c --duration "$SECONDS_PER_RUN" --value-size 64 --json)
    pw=$(echo "$P" | sed -E 's/.*"writes_per_s":([0-9]+).*/\1/'); p50=$(echo "$P" | sed -E 's/.*"p50_ms":([0-9.]+).*/\1/'); p99=$(echo "$P" | sed -E 's/.*"p99_ms":([0-9.]+).*/\1/')
    E=$(wrk -t1 -c$c -d"${SECONDS_PER_RUN}s" -s "$WORK/put.lua" "http://127.0.0.1:2379$ETCD_LEADER" | grep '^ETCD')
    ew=$(echo "$E" | awk '{printf "%d", $3}'); e50=$(echo "$E" | awk '{print $4}'); e99=$(echo "$E" | awk '{print $5}')
    printf "%-28s %12s %10s %10s\n" "pgha, $c client(s)" "$pw" "$p50" "$p99"
    printf "%-28s %12s %10s %10s\n" "etcd 3.4, $c client(s)" "$ew" "$e50" "$e99"
    awk -v a="$pw" -v b="$ew" -v c="$p99" -v d="$e99" 'BEGIN { printf "%-28s %12.2f %10s %10.2f\n", "ratio pgha/etcd", a/b, "", c/d }'
done
