#!/usr/bin/env bash
# Failover soak of Switchboard: three fake upstreams serve the same model
# as three channels of one priority tier with equal weights —
#   A healthy,
#   B failing 30% of calls (500, 429, TCP reset, hang before headers),
#   C failing every call for the first half of the run, then healthy
#     (its breaker opens, probes half-open, and closes again) —
# and the load driver sends mixed streaming/non-streaming calls for a
# bounded time. Prints a markdown report on stdout (progress on stderr):
# what the clients saw, traffic per upstream over time, the gateway's RSS,
# threads and open descriptors, and a ledger summary checked against the
# number of calls. Everything binds 127.0.0.1 below port 32768 and is killed
# on exit. Knobs (environment): SOAK_DURATION (seconds, 120), SOAK_CONC (16),
# SOAK_STREAM_SHARE (0.5), SOAK_INTERVAL (10s), SOAK_FIRST_BYTE (2s),
# SOAK_SETTLE (idle wait before the last process sample, 5s; the gateway's
# upstream keep-alive pool drains after 90s), PORT_BASE (18100).
# See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

SOAK_DURATION=${SOAK_DURATION:-120}
SOAK_CONC=${SOAK_CONC:-16}
SOAK_STREAM_SHARE=${SOAK_STREAM_SHARE:-0.5}
SOAK_INTERVAL=${SOAK_INTERVAL:-10s}
SOAK_FIRST_BYTE=${SOAK_FIRST_BYTE:-2s}
SOAK_SETTLE=${SOAK_SETTLE:-5s}
PORT_BASE=${PORT_BASE:-18100}
A_PORT=$((PORT_BASE + 1))
B_PORT=$((PORT_BASE + 2))
C_PORT=$((PORT_BASE + 3))
SB_PORT=$((PORT_BASE + 4))
KEY=sk-soak-0123456789abcdef

secs=${SOAK_DURATION%s}
case $secs in
'' | *[!0-9]*)
	echo "soak.sh: SOAK_DURATION=$SOAK_DURATION: want whole seconds (120 or 120s)" >&2
	exit 1
	;;
esac
if [ "$secs" -lt 10 ] || [ "$secs" -gt 3600 ]; then
	echo "soak.sh: SOAK_DURATION must be 10–3600 seconds" >&2
	exit 1
fi
if [ "$SB_PORT" -ge 32768 ]; then
	echo "soak.sh: PORT_BASE=$PORT_BASE reaches the ephemeral range; keep ports below 32768" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sb-soak.XXXXXX")
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
go build -o "$work/load" ./bench/cmd/load
go build -o "$work/ledgerstat" ./bench/cmd/ledgerstat

# One tier, equal weights, one key per channel. A hang is cut by
# first_byte_timeout; timeout bounds a whole non-streaming call.
channel() {
	cat <<YAML
  - name: $1
    type: openai-compatible
    base_url: http://127.0.0.1:$2
    api_keys: [key-$1]
    models: [bench-model]
    priority: 0
    weight: 1
    timeout: 30s
    first_byte_timeout: $SOAK_FIRST_BYTE
YAML
}
{
	cat <<YAML
server:
  addr: 127.0.0.1:$SB_PORT
storage:
  database: sqlite://$work/data/sb.db
admin:
  token: soak-admin-token-0123456789
log:
  level: error
channels:
YAML
	channel A "$A_PORT"
	channel B "$B_PORT"
	channel C "$C_PORT"
	cat <<YAML
keys:
  - name: soak
    key: $KEY
    models: ["*"]
prices:
  bench-model: {input_per_mtok: 1, output_per_mtok: 2}
YAML
} >"$work/switchboard.yaml"

wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "soak.sh: nothing listens on port $1; logs in $work:" >&2
	tail -n 20 "$work"/*.log >&2
	return 1
}

"$work/fakeupstream" -addr "127.0.0.1:$A_PORT" 2>"$work/A.log" &
pids+=($!)
"$work/fakeupstream" -addr "127.0.0.1:$B_PORT" -fail-rate 0.3 -fail-modes 500,429,reset,hang -seed 2 2>"$work/B.log" &
pids+=($!)
"$work/fakeupstream" -addr "127.0.0.1:$C_PORT" -fail-rate 1 -fail-modes 500,reset -fail-for "$((secs / 2))s" -seed 3 2>"$work/C.log" &
pids+=($!)
"$work/switchboard" serve --config "$work/switchboard.yaml" >"$work/switchboard.out" 2>"$work/switchboard.log" &
sb_pid=$!
pids+=("$sb_pid")
for port in "$A_PORT" "$B_PORT" "$C_PORT" "$SB_PORT"; do
	wait_port "$port"
done

echo "soak: ${secs}s, $SOAK_CONC clients, gateway pid $sb_pid" >&2
"$work/load" -soak "${secs}s" \
	-switchboard "http://127.0.0.1:$SB_PORT" -switchboard-pid "$sb_pid" \
	-upstreams "A=http://127.0.0.1:$A_PORT,B=http://127.0.0.1:$B_PORT,C=http://127.0.0.1:$C_PORT" \
	-key "$KEY" -model bench-model -c "$SOAK_CONC" -stream-share "$SOAK_STREAM_SHARE" \
	-interval "$SOAK_INTERVAL" -settle "$SOAK_SETTLE" -count-file "$work/calls"

# A clean shutdown drains the ledger's queue into the database.
kill -TERM "$sb_pid"
sb_rc=0
wait "$sb_pid" || sb_rc=$?
echo "Gateway exit status after SIGTERM: $sb_rc."
echo
ledger_rc=0
"$work/ledgerstat" -db "$work/data/sb.db" -expect "$(cat "$work/calls")" || ledger_rc=$?

if grep -q 'level=ERROR' "$work/switchboard.log"; then
	echo "Switchboard logged errors during the run (first 5):" >&2
	grep 'level=ERROR' "$work/switchboard.log" | head -n 5 >&2
fi
exit "$ledger_rc"
