#!/usr/bin/env bash
# Daemon benchmark (issue 5): idle RSS with SMALL_N inventoried locations, /metrics over them,
# and `certctl list` through the control socket over BIG_N locations, compared with the same
# listing done locally (the CLI opening the store itself, as without a daemon).
#
# Usage: benches/daemon.sh            (SMALL_N=10000 BIG_N=100000 RUNS=3)
set -euo pipefail
trap 'echo "benches/daemon.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
SMALL_N=${SMALL_N:-10000}
BIG_N=${BIG_N:-100000}
RUNS=${RUNS:-3}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash .ci/install-deps curl >/dev/null
cargo build --release --locked -q
bin="$root/target/release/certctl"
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem \
  -days 90 -subj /CN=bench.example.test 2>/dev/null
bundles() { # $1 = count, $2 = dir
  mkdir -p "$2"
  local per=1000 files=$((($1 + 999) / 1000))
  for ((f = 0; f < files; f++)); do
    for ((i = 0; i < per; i++)); do cat c.pem; done >"$2/b$f.pem"
  done
}
start() { # $1 = name, $2 = bundle dir, $3 = metrics port
  cat >"$1.toml" <<EOF
[store]
path = "$work/$1/store"
[daemon]
metrics_listen = "127.0.0.1:$3"
[[files]]
path = "$work/$2"
EOF
  "$bin" run -c "$1.toml" 2>"$1.log" &
  pid=$!
  for _ in $(seq 600); do
    curl -sf "127.0.0.1:$3/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "daemon did not become ready" >&2
  exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
# Steady state: the daemon's startup work (first scan, audit, alerts) is over once it has used
# no CPU for half a second.
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
wait_idle() {
  sleep 1
  for _ in $(seq 240); do
    a=$(cpu); sleep 0.5; b=$(cpu)
    [ "$a" = "$b" ] && return 0
  done
  echo "warning: the daemon was still busy after 2 minutes; measuring anyway" >&2
}

# --- SMALL_N locations: idle RSS and /metrics ---------------------------------------------------
bundles "$SMALL_N" small
start small small 19801
wait_idle
rss_mb=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
t=()
for ((r = 0; r < RUNS; r++)); do
  t0=$(now); curl -sf 127.0.0.1:19801/metrics >metrics.txt; t1=$(now)
  t+=("$(ms "$t0" "$t1")")
done
metrics_ms=$(printf '%s\n' "${t[@]}" | median)
series=$(grep -c '^certctl_cert_not_after_seconds{' metrics.txt || true)
stop

# --- BIG_N locations: list through the socket vs locally -----------------------------------------
bundles "$BIG_N" big
start big big 19802
# Steady state: the scan at start (100 000 files) and its follow-up work must be over, so the
# listing is not measured against the daemon's own startup.
for _ in $(seq 600); do
  curl -sf 127.0.0.1:19802/metrics 2>/dev/null | grep -q '^certctl_scans_total [1-9]' && break
  sleep 1
done
wait_idle
t=()
for ((r = 0; r < RUNS; r++)); do
  t0=$(now); "$bin" list -c big.toml >list-socket.txt; t1=$(now)
  t+=("$(ms "$t0" "$t1")")
done
socket_ms=$(printf '%s\n' "${t[@]}" | median)
rows=$(($(wc -l <list-socket.txt) - 1))
stop
t=()
for ((r = 0; r < RUNS; r++)); do
  t0=$(now); "$bin" list -c big.toml >list-local.txt; t1=$(now)
  t+=("$(ms "$t0" "$t1")")
done
local_ms=$(printf '%s\n' "${t[@]}" | median)

echo
echo "daemon benchmark ($(nproc) cores), median of $RUNS"
printf '  idle RSS with %d locations:              %8s MB   (target < 60 MB)\n' "$SMALL_N" "$rss_mb"
printf '  /metrics over %d locations:             %8s ms   (%s certificate series; target < 100 ms)\n' "$SMALL_N" "$metrics_ms" "$series"
printf '  certctl list through the socket, %d:    %8s ms   (%s rows; target < 300 ms)\n' "$BIG_N" "$socket_ms" "$rows"
printf '  certctl list opening the store, %d:     %8s ms   (no daemon)\n' "$BIG_N" "$local_ms"
