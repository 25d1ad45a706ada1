# Sourced by the benchmark scripts: starts a three-node pgha store on loopback.
#
#   start_store_nodes BINARY DIR RAFT_PORT_BASE CLIENT_PORT_BASE
#
# Writes DIR/pgha{1,2,3}.yml (data in DIR/pgha-data{1,2,3}), starts `BINARY store run` for
# each with its log in DIR/pgha{1,2,3}.log, and appends the pids to the PIDS array.
start_store_nodes() {
    local bin=$1 dir=$2 raft=$3 client=$4 i
    for i in 1 2 3; do
        cat > "$dir/pgha$i.yml" <<YML
cluster: bench
node: $i
data_dir: $dir/pgha-data$i
secret: "bench-secret-0123456789"
peers:
  - { id: 1, raft: "127.0.0.1:$((raft + 1))", client: "127.0.0.1:$((client + 1))" }
  - { id: 2, raft: "127.0.0.1:$((raft + 2))", client: "127.0.0.1:$((client + 2))" }
  - { id: 3, raft: "127.0.0.1:$((raft + 3))", client: "127.0.0.1:$((client + 3))" }
YML
        "$bin" store run --config "$dir/pgha$i.yml" --log-level warning > "$dir/pgha$i.log" 2>&1 &
        PIDS+=($!)
    done
}
