#!/usr/bin/env bash
# Fleet renewal throughput (issue 15): `certctl renew --all --force` over N managed certificates
# against one local Pebble, on the embedded sled store alone and in fleet mode through
# PostgreSQL (a lease per certificate, the order and the sealed key published as it goes, the
# version published and the deployment recorded), in the same run; prints both rates and the
# ratio. Each mode issues every certificate first, then the timed run renews them all.
#
# Usage: benches/fleet_renew.sh            (N=2000 CONCURRENCY=8; run as root)
# One Pebble serves the 4 x N orders (issue and renew, both modes); Pebble 2.4 stalled here after
# about 9 000 orders in one process, so N=10000 (the issue's figure) needs a Pebble per mode.
set -euo pipefail
trap 'echo "benches/fleet_renew.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
N=${N:-2000}
CONCURRENCY=${CONCURRENCY:-8}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/benches/lib.sh"
build_certctl
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_postgres
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

pg=$(free_port)
start_postgres "$pg"
start_pebble
"$bin" fleet keygen "$work/fleet.key" >/dev/null

config() { # $1 = name, $2 = extra top-level tables
  {
    printf '[store]\npath = "%s/%s/store"\n%s\n' "$work" "$1" "$2"
    printf '[acme.accounts.pebble]\ndirectory = "%s"\nagree_tos = true\nca_file = "%s/ca.pem"\n' "$pebble_dir" "$work"
    for ((i = 0; i < N; i++)); do
      printf '[[certificate]]\nname = "r%d"\ndomains = ["r%d.%s.bench.test"]\n' "$i" "$i" "$1"
      printf '[certificate.challenge]\ntype = "http-01"\nlisten = "127.0.0.1:%d"\n' "$pebble_http"
    done
  } >"$1.toml"
}
config sled ""
config fleet "url = \"postgres://postgres@127.0.0.1:$pg/postgres?sslmode=disable\"
[fleet]
node = \"bench-1\"
key_file = \"$work/fleet.key\""

run() { # $1 = mode; prints the seconds of the timed renewal
  "$bin" renew --all --concurrency "$CONCURRENCY" -c "$1.toml" >"$1-issue.txt" 2>"$1-issue.err"
  local t0 t1
  t0=$(now)
  "$bin" renew --all --force --concurrency "$CONCURRENCY" -c "$1.toml" >"$1-renew.txt" 2>"$1-renew.err"
  t1=$(now)
  local installed
  installed=$(grep -c "installed serial" "$1-renew.txt" || true)
  if [ "$installed" -ne "$N" ]; then
    echo "$1: $installed of $N renewed: $(tail -5 "$1-renew.err")" >&2
    exit 1
  fi
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
sled_s=$(run sled)
fleet_s=$(run fleet)
rate() { awk -v n="$N" -v s="$1" 'BEGIN { printf "%.1f", n / s }'; }
echo
echo "fleet renewal benchmark ($(nproc) cores, one Pebble with PEBBLE_VA_NOSLEEP=1, concurrency $CONCURRENCY)"
printf '  renew --all --force, %d certificates, sled:        %8s s  (%s certificates/s)\n' "$N" "$sled_s" "$(rate "$sled_s")"
printf '  renew --all --force, %d certificates, PostgreSQL:  %8s s  (%s certificates/s)\n' "$N" "$fleet_s" "$(rate "$fleet_s")"
printf '  fleet / sled time: %sx\n' "$(awk -v a="$fleet_s" -v b="$sled_s" 'BEGIN { printf "%.2f", a / b }')"
