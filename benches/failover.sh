#!/usr/bin/env bash
# Fleet failover benchmark (issue 15): the lease holder killed (kill -9) in the middle of an
# order, to the renewal resumed and finished by another node, RUNS times; median and max,
# against the issue's goal (20 s) and the lease time. Real PostgreSQL (a throwaway cluster),
# Pebble and pebble-challtestsrv on 127.0.0.1; the default lease_ttl (15 s) unless LEASE_TTL.
#
# Each run is a new certificate: node a orders it and is killed by its own dns-01 hook at the
# challenge (the hook writes the time first); node b's daemon, started then, finds the lease
# held by the dead node, takes the renewal over when the lease lapses and resumes a's order.
# Measured: the kill to b's certificate installed (the lapse, the resumed order, the install).
#
# Usage: benches/failover.sh            (RUNS=20 LEASE_TTL=15s; run as root)
set -euo pipefail
trap 'echo "benches/failover.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
RUNS=${RUNS:-20}
LEASE_TTL=${LEASE_TTL:-15s}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/benches/lib.sh"
build_certctl
pids=()
daemon=""
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_postgres
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# PostgreSQL, Pebble and challtestsrv (dns-01 through its management API).
pg=$(free_port)
start_postgres "$pg"
start_pebble

# The hook: the first "present" of each certificate records the time and kills the certctl
# that runs it (node a); later ones (node b's, resuming) publish the TXT record.
cat >hook.sh <<EOF
#!/bin/sh
set -e
if [ "\$1" = present ] && [ ! -e "$work/killed-\$2" ]; then
  now=\$(date +%s.%N)
  echo "\$now" >"$work/killed-\$2"
  kill -9 \$PPID
fi
case "\$1" in
  present) curl -sS --fail -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" $challtest/set-txt >/dev/null ;;
  cleanup) curl -sS --fail -d "{\"host\":\"\$2\"}" $challtest/clear-txt >/dev/null ;;
esac
EOF
chmod 755 hook.sh
"$bin" fleet keygen "$work/fleet.key" >/dev/null
config() { # $1 = node, $2 = how many certificates (f0, f1, ...)
  mkdir -p "$1"
  {
    printf '[store]\npath = "%s/%s/store"\nurl = "postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable"\n' "$work" "$1" "$pg"
    printf '[fleet]\nnode = "%s"\nkey_file = "%s/fleet.key"\nlease_ttl = "%s"\n' "$1" "$work" "$LEASE_TTL"
    printf '[acme.accounts.pebble]\ndirectory = "%s"\nagree_tos = true\nca_file = "%s/ca.pem"\n' "$pebble_dir" "$work"
    for ((c = 0; c < $2; c++)); do
      printf '[[certificate]]\nname = "f%d"\ndomains = ["f%d.bench.test"]\n' "$c" "$c"
      printf '[certificate.challenge]\ntype = "dns-01"\ndns_provider = "exec"\ndns_exec = "%s/hook.sh"\n' "$work"
    done
  } >"$1.toml"
}

times=()
for ((i = 0; i < RUNS; i++)); do
  # A new holder each run (a node killed without leaving keeps its name for 2 x lease_ttl).
  config "a$i" "$RUNS"
  # (through sh, so that bash does not report the kill)
  if sh -c '"$@" >"$0" 2>&1; exit $?' "a$i.log" "$bin" issue "f$i" -c "a$i.toml"; then
    echo "a$i was not killed: $(cat "a$i.log")" >&2
    exit 1
  fi
  killed=$(cat "$work"/killed-*".f$i.bench.test"* 2>/dev/null) || {
    echo "a$i failed before the challenge: $(cat "a$i.log")" >&2
    exit 1
  }
  # b's daemon, started after the kill, finds the lease held by the dead node, waits for it to
  # lapse, adopts a's order and finishes it.
  config b "$((i + 1))"
  "$bin" run -c b.toml 2>>b.log &
  daemon=$!
  cert="b/certs/f$i/current/cert.pem"
  for _ in $(seq 1200); do
    [ -e "$cert" ] && break
    sleep 0.05
  done
  [ -e "$cert" ] || { echo "b never finished f$i" >&2; tail -20 b.log >&2; exit 1; }
  done_at=$(date -r "$cert" +%s.%N)
  kill "$daemon"; wait "$daemon" || true; daemon=""
  times+=("$(awk -v a="$killed" -v b="$done_at" 'BEGIN { printf "%.2f", b - a }')")
  printf '  run %2d: %s s\n' "$i" "${times[-1]}"
done
orders=$(grep -c "Added order" pebble.log || true)
sorted=$(printf '%s\n' "${times[@]}" | sort -g)
median=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
max=$(echo "$sorted" | tail -1)
echo
echo "failover benchmark ($(nproc) cores, lease_ttl $LEASE_TTL, $RUNS kills of the holder mid-order)"
printf '  killed -> resumed and installed on the other node: median %s s, max %s s (goal <= 20 s)\n' "$median" "$max"
printf '  orders placed: %s for %s certificates (each interrupted order resumed, none placed twice)\n' "$orders" "$RUNS"
