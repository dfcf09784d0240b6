#!/usr/bin/env bash
# Fleet scan benchmark (issue 15): the daemon's scheduled scan of N endpoints divided among 3
# nodes, against the same scan by 1 node (the same fleet code path, a fresh database each), and
# the peak memory of each node. All on this machine: one nginx serves every endpoint (a wildcard
# P-256 certificate, one SNI name per endpoint) behind haproxy, which holds each connection
# DELAY before passing it on (tcp-request inspect-delay): a network round trip, without which
# loopback scans are bound by this machine's CPU, and more nodes on the same cores gain nothing.
# What a fleet adds is handshakes in flight: 3 x [scan] concurrency.
#
# Usage: benches/fleet_scan.sh            (N=100000 DELAY=100ms CONCURRENCY=64; run as root)
#        N=10000 benches/fleet_scan.sh    (a quick run)
set -euo pipefail
trap 'echo "benches/fleet_scan.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
N=${N:-100000}
DELAY=${DELAY:-100ms}
CONCURRENCY=${CONCURRENCY:-64}
PORTS=10

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/benches/lib.sh"
build_certctl
pids=()
port=$(free_port)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  stop_postgres
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

start_postgres "$port"
psql() { command psql -h 127.0.0.1 -p "$port" -U postgres -Atq "$@"; }

# A wildcard leaf under a private root.
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout root.key -out root.pem -days 30 -subj /CN=bench-root 2>/dev/null
openssl req "${ec[@]}" -keyout leaf.key -out leaf.csr -subj /CN=bench 2>/dev/null
printf 'subjectAltName=DNS:*.bench.test\nextendedKeyUsage=serverAuth\n' >leaf.ext
openssl x509 -req -in leaf.csr -CA root.pem -CAkey root.key -CAcreateserial -days 30 \
  -extfile leaf.ext -out leaf.pem 2>/dev/null

# nginx on one TLS port; haproxy on PORTS ports in front of it, each connection held DELAY.
tls=$(free_port)
mkdir -p nginx
cat >nginx/nginx.conf <<EOF
worker_processes 2; worker_rlimit_nofile 65535; daemon off;
pid $work/nginx/nginx.pid; error_log $work/nginx/error.log crit;
events { worker_connections 16384; }
http { access_log off; client_body_temp_path $work/nginx/b; proxy_temp_path $work/nginx/p;
  fastcgi_temp_path $work/nginx/f; uwsgi_temp_path $work/nginx/u; scgi_temp_path $work/nginx/s;
  server { listen 127.0.0.1:$tls ssl; ssl_certificate $work/leaf.pem; ssl_certificate_key $work/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets off; return 200 ok; } }
EOF
/usr/sbin/nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)
fronts=()
{
  echo "global"
  echo "  maxconn 8000"
  echo "defaults"
  echo "  mode tcp"
  echo "  timeout connect 5s"
  echo "  timeout client 30s"
  echo "  timeout server 30s"
  echo "frontend delayed"
  for ((p = 0; p < PORTS; p++)); do
    fronts+=("$(free_port)")
    echo "  bind 127.0.0.1:${fronts[$p]}"
  done
  echo "  maxconn 8000"
  echo "  tcp-request inspect-delay $DELAY"
  echo "  tcp-request content accept if WAIT_END"
  echo "  default_backend nginx"
  echo "backend nginx"
  echo "  server tls 127.0.0.1:$tls maxconn 8000"
} >haproxy.cfg
haproxy -f haproxy.cfg -db >haproxy.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  openssl s_client -connect "127.0.0.1:${fronts[0]}" -servername e.bench.test </dev/null >/dev/null 2>&1 && break
  sleep 0.1
done

# The endpoints every node's config lists.
for ((i = 0; i < N; i++)); do
  printf '[[endpoint]]\naddress = "127.0.0.1:%d"\nserver_name = "e%d.bench.test"\n' "${fronts[$((i % PORTS))]}" "$i"
done >endpoints.toml
"$bin" fleet keygen "$work/fleet.key" >/dev/null

# Runs the scheduled scan on $2 nodes against database $1; sets secs (first run opened to last
# node done) and rss_mb (the largest node's peak).
fleet_run() {
  local db=$1 nodes=$2 i
  psql -c "CREATE DATABASE $db"
  local daemons=()
  for ((i = 1; i <= nodes; i++)); do
    mkdir -p "$db/n$i"
    {
      printf '[store]\npath = "%s/%s/n%d/store"\nurl = "postgres://postgres@127.0.0.1:%d/%s?sslmode=disable"\n' "$work" "$db" "$i" "$port" "$db"
      printf '[fleet]\nnode = "n%d"\nkey_file = "%s/fleet.key"\n' "$i" "$work"
      printf '[daemon]\nsocket = "%s/%s/n%d/certctl.sock"\n' "$work" "$db" "$i"
      printf '[scan]\nschedule = "0 0 1 1 *"\nconcurrency = %d\ntimeout = "10s"\nca_files = ["%s/root.pem"]\n' "$CONCURRENCY" "$work"
      cat endpoints.toml
    } >"$db/n$i/certctl.toml"
  done
  for ((i = 1; i <= nodes; i++)); do
    NO_COLOR=1 "$bin" run -c "$db/n$i/certctl.toml" 2>"$db/n$i/log" &
    daemons+=($!)
  done
  local deadline=$((SECONDS + 3600))
  until [ "$(cat "$db"/n*/log 2>/dev/null | grep -c 'fleet scan run over')" -ge "$nodes" ]; do
    [ $SECONDS -lt $deadline ] || { cat "$db"/n*/log >&2; exit 1; }
    sleep 0.5
  done
  rss_mb=0
  for ((i = 0; i < nodes; i++)); do
    local kb
    kb=$(awk '/VmHWM/ { print $2 }' "/proc/${daemons[$i]}/status")
    rss_mb=$(awk -v a="$rss_mb" -v b="$kb" 'BEGIN { m = b / 1024; print (m > a ? m : a) }')
    kill "${daemons[$i]}"
  done
  wait "${daemons[@]}" 2>/dev/null || true
  local t0 t1
  t0=$(grep -h "opened the fleet's scan run" "$db"/n*/log | awk '{ print $1 }' | head -1)
  t1=$(grep -h 'fleet scan run over' "$db"/n*/log | awk '{ print $1 }' | sort | tail -1)
  secs=$(awk -v a="$(date -d "$t0" +%s.%N)" -v b="$(date -d "$t1" +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  local scanned ok
  scanned=$(psql -d "$db" -c "SELECT count(*) FROM fleet_locations WHERE scope = ''")
  ok=$(psql -d "$db" -c "SELECT count(*) FROM fleet_locations WHERE scope = '' AND record->'findings' = '[]'::jsonb")
  [ "$scanned" -eq "$N" ] && [ "$ok" -eq "$N" ] || {
    echo "$db: $scanned endpoints published, $ok without findings; expected $N" >&2
    psql -d "$db" -c "SELECT record->'findings' FROM fleet_locations WHERE record->'findings' <> '[]'::jsonb LIMIT 2" >&2
    cat haproxy.log >&2
    exit 1
  }
  by_node=$(psql -d "$db" -c "SELECT string_agg(node || '=' || n, ' ' ORDER BY node) FROM (SELECT node, count(*) n FROM fleet_locations GROUP BY node) c")
}

fleet_run one 1
one_s=$secs one_rss=$rss_mb
fleet_run three 3
three_s=$secs three_rss=$rss_mb three_by=$by_node

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
echo
echo "fleet scan benchmark ($(nproc) cores; $N endpoints, $DELAY held per connection, [scan] concurrency $CONCURRENCY per node)"
printf '  1 node:   %8s s  %6s endpoints/s  peak RSS %.1f MB\n' "$one_s" "$(rate "$N" "$one_s")" "$one_rss"
printf '  3 nodes:  %8s s  %6s endpoints/s  peak RSS %.1f MB per node (largest)  scanned: %s\n' "$three_s" "$(rate "$N" "$three_s")" "$three_rss" "$three_by"
printf '  3 nodes / 1 node: %sx   (goal >= 2.5x)\n' "$(awk -v a="$one_s" -v b="$three_s" 'BEGIN { printf "%.2f", a / b }')"
