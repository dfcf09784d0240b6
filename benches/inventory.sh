#!/usr/bin/env bash
# Inventory benchmark (issue 2): endpoint scan rate, peak memory, and `certctl list` over a large
# store, each compared in the same run with what a user would otherwise reach for:
#   - a sequential `openssl s_client | openssl x509 -enddate` loop (the classic expiry script);
#   - Debian's prometheus-blackbox-exporter (tcp prober with TLS), probed 16 at a time;
#   - `openssl pkcs7 -print_certs` over the same certificate bundles (for listing).
# One nginx on loopback serves every endpoint, each on its own port.
#
# Usage: benches/inventory.sh            (N=1000 BIG=10000 LIST_N=100000 OPENSSL_N=200 BB_N=2000)
#        N=200 BIG=2000 LIST_N=20000 benches/inventory.sh   (a quick run)
set -euo pipefail
N=${N:-1000}
BIG=${BIG:-10000}
LIST_N=${LIST_N:-100000}
OPENSSL_N=${OPENSSL_N:-200}
BB_N=${BB_N:-2000}
BASE_PORT=${BASE_PORT:-21000}
RUNS=${RUNS:-3}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash .ci/install-deps prometheus-blackbox-exporter curl >/dev/null
cargo build --release --locked -q
bin="$root/target/release/certctl"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# --- A private PKI: root, intermediate, P-256 leaf for 127.0.0.1 ---------------------------------
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout root.key -out root.pem -days 365 -subj /CN=bench-root 2>/dev/null
openssl req "${ec[@]}" -keyout int.key -out int.csr -subj /CN=bench-intermediate 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >int.ext
openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -days 365 \
  -extfile int.ext -out int.pem 2>/dev/null
openssl req "${ec[@]}" -keyout leaf.key -out leaf.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >leaf.ext
openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -CAcreateserial -days 90 \
  -extfile leaf.ext -out leaf.pem 2>/dev/null
cat leaf.pem int.pem >fullchain.pem

# --- One nginx, BIG ports --------------------------------------------------------------------------
mkdir -p nginx
{
  echo "worker_processes 2; worker_rlimit_nofile 65535; daemon off;"
  echo "pid $work/nginx/nginx.pid; error_log $work/nginx/error.log crit;"
  echo "events { worker_connections 16384; }"
  echo "http { access_log off; client_body_temp_path $work/nginx/b; proxy_temp_path $work/nginx/p;"
  echo "  fastcgi_temp_path $work/nginx/f; uwsgi_temp_path $work/nginx/u; scgi_temp_path $work/nginx/s;"
  echo "  server {"
  for ((i = 0; i < BIG; i++)); do echo "    listen 127.0.0.1:$((BASE_PORT + i)) ssl;"; done
  echo "    ssl_certificate $work/fullchain.pem; ssl_certificate_key $work/leaf.key;"
  echo "    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets off;"
  echo "    return 200 ok;"
  echo "  }"
  echo "}"
} >nginx/nginx.conf
/usr/sbin/nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)
for _ in $(seq 100); do
  curl -sk "https://127.0.0.1:$((BASE_PORT + BIG - 1))/" >/dev/null 2>&1 && break
  sleep 0.1
done

write_config() { # $1 = count, $2 = file
  {
    printf '[scan]\ntimeout = "5s"\nconcurrency = 128\nca_files = ["%s/root.pem"]\n' "$work"
    for ((i = 0; i < $1; i++)); do
      printf '[[endpoint]]\naddress = "127.0.0.1:%d"\n' $((BASE_PORT + i))
    done
  } >"$2"
}
write_config "$N" scan-n.toml
write_config "$BIG" scan-big.toml

# --- certctl: N endpoints, median of RUNS ------------------------------------------------------------
secs=()
for ((r = 0; r < RUNS; r++)); do
  rm -rf store
  t0=$(now)
  "$bin" scan -c scan-n.toml --store store -o json >scan.json
  t1=$(now)
  secs+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
done
certctl_s=$(printf '%s\n' "${secs[@]}" | median)
bad=$(grep -c '"code"' scan.json || true)
certctl_rate=$(rate "$N" "$certctl_s")

# --- certctl: BIG endpoints, peak RSS ----------------------------------------------------------------
rm -rf store-big
t0=$(now)
/usr/bin/time -f '%M' -o rss.txt "$bin" scan -c scan-big.toml --store store-big -o csv >big.csv
t1=$(now)
big_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
big_rate=$(rate "$BIG" "$big_s")
rss_mb=$(awk '{ printf "%.1f", $1 / 1024 }' rss.txt)
big_ok=$(grep -c ',ok,' big.csv || true)

# --- openssl s_client loop ---------------------------------------------------------------------------
t0=$(now)
for ((i = 0; i < OPENSSL_N; i++)); do
  openssl s_client -connect "127.0.0.1:$((BASE_PORT + i))" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -enddate >/dev/null
done
t1=$(now)
openssl_rate=$(rate "$OPENSSL_N" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")

# --- blackbox exporter, 16 in parallel ---------------------------------------------------------------
cat >bb.yml <<'YAML'
modules:
  tls:
    prober: tcp
    timeout: 5s
    tcp:
      tls: true
      tls_config:
        insecure_skip_verify: true
YAML
prometheus-blackbox-exporter --config.file=bb.yml --web.listen-address=127.0.0.1:19115 \
  --log.level=error >bb.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -s 127.0.0.1:19115/ >/dev/null 2>&1 && break; sleep 0.1; done
seq "$BASE_PORT" $((BASE_PORT + BB_N - 1)) >bb-ports.txt
t0=$(now)
xargs -P 16 -I{} curl -s -o /dev/null \
  "http://127.0.0.1:19115/probe?module=tls&target=127.0.0.1:{}" <bb-ports.txt
t1=$(now)
bb_rate=$(rate "$BB_N" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
bb_check=$(curl -s "http://127.0.0.1:19115/probe?module=tls&target=127.0.0.1:$BASE_PORT" |
  grep -c '^probe_success 1' || true)

# --- certctl list over LIST_N stored certificates ------------------------------------------------------
mkdir -p bundles
per=10000
files=$(((LIST_N + per - 1) / per))
for ((f = 0; f < files; f++)); do
  count=$per
  if (((f + 1) * per > LIST_N)); then count=$((LIST_N - f * per)); fi
  for ((i = 0; i < count; i++)); do cat leaf.pem; done >"bundles/b$f.pem"
done
"$bin" scan --store store-list bundles -o csv >/dev/null
list_secs=()
json_secs=()
for ((r = 0; r < RUNS; r++)); do
  t0=$(now); "$bin" list --store store-list >list.txt; t1=$(now)
  list_secs+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) * 1000 }')")
  t0=$(now); "$bin" list --store store-list -o json >list.json; t1=$(now)
  json_secs+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) * 1000 }')")
done
list_ms=$(printf '%s\n' "${list_secs[@]}" | median)
json_ms=$(printf '%s\n' "${json_secs[@]}" | median)
listed=$(($(wc -l <list.txt) - 1))
t0=$(now)
for f in bundles/*.pem; do
  openssl crl2pkcs7 -nocrl -certfile "$f" | openssl pkcs7 -print_certs -noout >/dev/null
done
t1=$(now)
openssl_list_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }')

# --- Report ---------------------------------------------------------------------------------------------
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo
echo "certctl inventory benchmark ($(nproc) cores, $cpu)"
echo "endpoint scan, $N endpoints on one nginx (median of $RUNS):"
printf '  %-44s %8s endpoints/s   (%s findings; expect 0)\n' "certctl scan" "$certctl_rate" "$bad"
printf '  %-44s %8s endpoints/s   (probe_success=%s)\n' "blackbox exporter, 16 parallel ($BB_N)" "$bb_rate" "$bb_check"
printf '  %-44s %8s endpoints/s\n' "openssl s_client loop ($OPENSSL_N)" "$openssl_rate"
printf '  ratio certctl / blackbox: %sx   certctl / openssl loop: %sx\n' \
  "$(ratio "$certctl_rate" "$bb_rate")" "$(ratio "$certctl_rate" "$openssl_rate")"
echo "large scan, $BIG endpoints:"
printf '  %-44s %8s endpoints/s   peak RSS %s MB   (%s ok)\n' "certctl scan" "$big_rate" "$rss_mb" "$big_ok"
echo "listing $LIST_N stored certificates (median of $RUNS):"
printf '  %-44s %8s ms   (%s rows)\n' "certctl list (table)" "$list_ms" "$listed"
printf '  %-44s %8s ms\n' "certctl list -o json" "$json_ms"
printf '  %-44s %8s ms\n' "openssl pkcs7 -print_certs (same bundles)" "$openssl_list_ms"
printf '  ratio openssl / certctl list: %sx\n' "$(ratio "$openssl_list_ms" "$list_ms")"
