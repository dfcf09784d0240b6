#!/usr/bin/env bash
# Fleet benchmark (issue 15): `certctl list` over N locations from the fleet's PostgreSQL store,
# compared in the same run with the same listing from the node's own sled store (what a
# single-node user runs) and with psql reading the same rows (the bare database read a user
# could script instead); also what publishing the inventory adds to a scan.
#
# Usage: benches/fleet.sh            (N=100000 RUNS=5; run as root: PostgreSQL runs as postgres)
set -euo pipefail
trap 'echo "benches/fleet.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
N=${N:-100000}
RUNS=${RUNS:-5}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/benches/lib.sh"
build_certctl
port=$(free_port)
cleanup() {
  stop_postgres
  rm -rf "$work"
}
trap cleanup EXIT
timed() { # runs "$@" RUNS times, prints the median in ms
  local t=()
  for ((r = 0; r < RUNS; r++)); do
    local t0 t1
    t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
    t+=("$(ms "$t0" "$t1")")
  done
  printf '%s\n' "${t[@]}" | median
}

# A throwaway cluster on 127.0.0.1.
start_postgres "$port"
url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"

# N locations: bundles of 1000 certificates (each position in a bundle is a location).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.pem \
  -days 90 -subj /CN=bench.example.test 2>/dev/null
mkdir certs
for ((f = 0; f < (N + 999) / 1000; f++)); do
  count=1000
  if (((f + 1) * 1000 > N)); then count=$((N - f * 1000)); fi
  for ((i = 0; i < count; i++)); do cat c.pem; done >"certs/b$f.pem"
done

"$bin" fleet keygen "$work/fleet.key" >/dev/null
cat >single.toml <<EOF
[store]
path = "$work/single/store"
[[files]]
path = "$work/certs"
EOF
cat >fleet.toml <<EOF
[store]
path = "$work/node/store"
url = "$url"
[fleet]
node = "bench-1"
key_file = "$work/fleet.key"
[[files]]
path = "$work/certs"
EOF

t0=$(now); "$bin" scan -c single.toml >/dev/null 2>&1; t1=$(now)
scan_single=$(ms "$t0" "$t1")
t0=$(now); "$bin" scan -c fleet.toml >/dev/null 2>scan.err; t1=$(now)
scan_fleet=$(ms "$t0" "$t1")
if grep -q "not updated" scan.err; then
  cat scan.err >&2
  exit 1
fi
rows=$(psql -h 127.0.0.1 -p "$port" -U postgres -Atc "SELECT count(*) FROM fleet_locations")
[ "$rows" -eq "$N" ] || { echo "expected $N published locations, found $rows" >&2; exit 1; }
listed=$(($("$bin" list -c fleet.toml 2>/dev/null | wc -l) - 1))
[ "$listed" -eq "$N" ] || { echo "expected $N listed rows, found $listed" >&2; exit 1; }

fleet_ms=$(timed "$bin" list -c fleet.toml)
single_ms=$(timed "$bin" list -c single.toml)
psql_ms=$(timed psql -h 127.0.0.1 -p "$port" -U postgres -Atc "SELECT scope, node, row::text FROM fleet_locations")
json_ms=$(timed "$bin" list -c fleet.toml -o json)
rss_kb=$( { /usr/bin/time -f '%M' "$bin" list -c fleet.toml >/dev/null; } 2>&1 | tail -1)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "fleet benchmark ($(nproc) cores, PostgreSQL $("$(pg_bin)/postgres" --version | awk '{ print $3 }'), median of $RUNS)"
printf '  certctl list, %d locations from PostgreSQL:  %6s ms   (goal < 1000 ms; max RSS %d MB)\n' "$N" "$fleet_ms" "$((rss_kb / 1024))"
printf '  certctl list, the same from its sled store:  %6s ms   (fleet / sled: %sx)\n' "$single_ms" "$(ratio "$fleet_ms" "$single_ms")"
printf '  psql reading the same rows (no judging):     %6s ms   (certctl / psql: %sx)\n' "$psql_ms" "$(ratio "$fleet_ms" "$psql_ms")"
printf '  certctl list -o json from PostgreSQL:         %6s ms   (whole records)\n' "$json_ms"
printf '  scan of %d files, single node:              %6s ms\n' "$N" "$scan_single"
printf '  the same scan publishing to PostgreSQL:      %6s ms   (%sx)\n' "$scan_fleet" "$(ratio "$scan_fleet" "$scan_single")"
