#!/usr/bin/env bash
# Reproducible load benchmark of Switchboard against a bare reverse proxy
# and the upstream itself. Prints a markdown report on stdout (progress on
# stderr). Everything runs on 127.0.0.1 below port 32768 and is killed on
# exit. Knobs (environment): DURATION, WARMUP, CONC, STREAMS, PORT_BASE;
# RATE=N runs the open-loop report at N calls/s instead, PIN=1 pins the
# load driver to CPU 0 and the proxies and upstream to CPU 1, PPROF=ADDR
# serves Switchboard's pprof there. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONC=${CONC:-32}
STREAMS=${STREAMS:-1000}
PORT_BASE=${PORT_BASE:-18000}
RATE=${RATE:-0}
ROUNDS=${ROUNDS:-3}
PIN=${PIN:-0}
PPROF=${PPROF:-}
FAKE_PORT=$((PORT_BASE + 1))
BARE_PORT=$((PORT_BASE + 2))
SB_PORT=$((PORT_BASE + 3))
KEY=sk-bench-0123456789abcdef

# PIN=1: the load driver on CPU 0, everything it measures on CPU 1, so the
# driver's own work does not land on the serving core.
pin_load=() pin_srv=() pinned=""
if [ "$PIN" = 1 ]; then
	if [ "$(nproc)" -lt 2 ]; then
		echo "run.sh: PIN=1 needs two CPUs" >&2
		exit 1
	fi
	pin_load=(taskset -c 0) pin_srv=(taskset -c 1)
	pinned="load driver on CPU 0; fake upstream, bare proxy and Switchboard on CPU 1"
fi

# Every slow stream costs a descriptor in the driver and two in the proxy.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((STREAMS * 2 + 256)) ]; then
	echo "run.sh: open-file limit $(ulimit -n) is too low for STREAMS=$STREAMS" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sb-bench.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building into $work" >&2
go build -o "$work/switchboard" ./cmd/switchboard
go build -o "$work/fakeupstream" ./bench/cmd/fakeupstream
go build -o "$work/bareproxy" ./bench/cmd/bareproxy
go build -o "$work/load" ./bench/cmd/load

cat >"$work/switchboard.yaml" <<YAML
server:
  addr: 127.0.0.1:$SB_PORT
storage:
  database: sqlite://$work/data/sb.db
admin:
  token: bench-admin-token-0123456789
channels:
  - name: fake
    type: openai-compatible
    base_url: http://127.0.0.1:$FAKE_PORT
    api_keys: [x]
    models: [bench-model, bench-slow, bench-embed]
keys:
  - name: bench
    key: $KEY
    models: ["*"]
prices:
  bench-model: {input_per_mtok: 1, output_per_mtok: 2}
  bench-slow: {input_per_mtok: 1, output_per_mtok: 2}
  bench-embed: {input_per_mtok: 0.02}
YAML

wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "run.sh: nothing listens on port $1; logs in $work:" >&2
	tail -n 20 "$work"/*.log >&2
	return 1
}

"${pin_srv[@]}" "$work/fakeupstream" -addr "127.0.0.1:$FAKE_PORT" -slow-model bench-slow -slow-delay 1s 2>"$work/fake.log" &
pids+=($!)
"${pin_srv[@]}" "$work/bareproxy" -addr "127.0.0.1:$BARE_PORT" -upstream "http://127.0.0.1:$FAKE_PORT" 2>"$work/bare.log" &
pids+=($!)
bare_pid=$!
SWITCHBOARD_PPROF_ADDR=$PPROF "${pin_srv[@]}" "$work/switchboard" serve --config "$work/switchboard.yaml" >"$work/switchboard.out" 2>"$work/switchboard.log" &
pids+=($!)
sb_pid=$!
for port in "$FAKE_PORT" "$BARE_PORT" "$SB_PORT"; do
	wait_port "$port"
done

if [ "$RATE" -gt 0 ]; then
	"${pin_load[@]}" "$work/load" -rate "$RATE" -rounds "$ROUNDS" -pinned "$pinned" \
		-direct "http://127.0.0.1:$FAKE_PORT" \
		-bare "http://127.0.0.1:$BARE_PORT" -bare-pid "$bare_pid" \
		-switchboard "http://127.0.0.1:$SB_PORT" -switchboard-pid "$sb_pid" \
		-key "$KEY" -model bench-model -embed-model bench-embed \
		-d "$DURATION" -warmup "$WARMUP"
else
"${pin_load[@]}" "$work/load" \
	-direct "http://127.0.0.1:$FAKE_PORT" \
	-bare "http://127.0.0.1:$BARE_PORT" -bare-pid "$bare_pid" \
	-switchboard "http://127.0.0.1:$SB_PORT" -switchboard-pid "$sb_pid" \
	-key "$KEY" -model bench-model -slow-model bench-slow \
	-c "$CONC" -d "$DURATION" -warmup "$WARMUP" -streams "$STREAMS"
fi

if grep -q 'level=\(WARN\|ERROR\)' "$work/switchboard.log"; then
	echo "Switchboard logged warnings or errors during the run (first 5):" >&2
	grep 'level=\(WARN\|ERROR\)' "$work/switchboard.log" | head -n 5 >&2
fi
