#!/usr/bin/env bash
# Discovery benchmark (issue 13): `certctl discover` over a /24 x 10 ports on loopback (2 540
# probes, SERVERS TLS services), compared in the same run with what a user would otherwise run,
# Debian's `nmap --script ssl-cert` over the same range and ports. Prints wall time, peak RSS and
# certificates found by each, and the ratios. Also: STARTTLS scan rate against a local postfix.
#
# Usage: benches/discover.sh                  (SERVERS=32 RUNS=3 SMTP_N=1000)
#        SERVERS=8 RUNS=1 benches/discover.sh (a quick run)
set -euo pipefail
SERVERS=${SERVERS:-32}
RUNS=${RUNS:-3}
SMTP_N=${SMTP_N:-1000}
NET=127.0.1
PORTS=443,8443,4443,9443,6443,10250,2376,2379,5986,853

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash .ci/install-deps nmap >/dev/null
cargo build --release --locked -q
bin="$root/target/release/certctl"
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  [ -d "$work/pf/conf" ] && postfix -c "$work/pf/conf" stop >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# Runs a command; prints "seconds peak_rss_kib" (GNU time).
measure() {
  local t0 t1
  t0=$(now)
  /usr/bin/time -f '%M' -o rss.txt "$@" >out.txt 2>err.txt
  t1=$(now)
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $(cat rss.txt)"
}

ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout leaf.key -out leaf.pem -days 90 -subj /CN=bench.internal \
  -addext subjectAltName=DNS:bench.internal 2>/dev/null

# --- nginx: SERVERS addresses of the /24, two TLS ports each ------------------------------------
mkdir -p nginx
{
  echo "worker_processes 2; daemon off; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log crit;"
  echo "events { worker_connections 4096; }"
  echo "http { access_log off; client_body_temp_path $work/nginx/b; proxy_temp_path $work/nginx/p;"
  echo "  fastcgi_temp_path $work/nginx/f; uwsgi_temp_path $work/nginx/u; scgi_temp_path $work/nginx/s;"
  echo "  server {"
  for ((i = 1; i <= SERVERS; i++)); do
    echo "    listen $NET.$((i * 7 % 254 + 1)):443 ssl; listen $NET.$((i * 7 % 254 + 1)):8443 ssl;"
  done
  echo "    ssl_certificate $work/leaf.pem; ssl_certificate_key $work/leaf.key; return 200 ok;"
  echo "  }"
  echo "}"
} >nginx/nginx.conf
/usr/sbin/nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)
sleep 1
expected=$((SERVERS * 2))

# --- certctl discover ---------------------------------------------------------------------------
c_secs=()
for ((r = 0; r < RUNS; r++)); do
  read -r s rss < <(measure "$bin" discover "$NET.0/24" --ports "$PORTS" --rate 100000 \
    --concurrency 512 -o json)
  c_secs+=("$s")
  c_rss=$rss
done
c_found=$(grep -c '"sha256"' out.txt || true)
c_s=$(printf '%s\n' "${c_secs[@]}" | median)
read -r d_s _ < <(measure "$bin" discover "$NET.0/24" --ports "$PORTS" -o json)

# --- nmap --script ssl-cert, same range and ports -----------------------------------------------
n_secs=()
for ((r = 0; r < RUNS; r++)); do
  read -r s rss < <(measure nmap -Pn -n -p "$PORTS" --script ssl-cert "$NET.0/24")
  n_secs+=("$s")
  n_rss=$rss
done
n_found=$(grep -c 'Subject: commonName' out.txt || true)
n_s=$(printf '%s\n' "${n_secs[@]}" | median)

echo "discovery of $NET.0/24 x 10 ports (2540 probes, $expected TLS services), median of $RUNS:"
printf '  certctl discover: %6.2f s  peak RSS %6d KiB  found %d (default --rate 500/s: %.2f s)\n' \
  "$c_s" "$c_rss" "$c_found" "$d_s"
printf '  nmap ssl-cert:    %6.2f s  peak RSS %6d KiB  found %d\n' "$n_s" "$n_rss" "$n_found"
echo "  certctl is $(ratio "$n_s" "$c_s")x faster than nmap, using $(ratio "$n_rss" "$c_rss")x less memory"

# --- STARTTLS: SMTP_N scans of one local postfix ------------------------------------------------
mkdir -p pf/conf pf/queue pf/data
chown postfix pf/data
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >pf/conf/main.cf <<EOF
compatibility_level = 3.6
queue_directory = $work/pf/queue
data_directory = $work/pf/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bench.internal
mydestination =
maillog_file = /dev/stdout
smtpd_tls_cert_file = $work/leaf.pem
smtpd_tls_key_file = $work/leaf.key
smtpd_tls_security_level = may
default_process_limit = 200
smtpd_client_connection_rate_limit = 0
smtpd_client_connection_count_limit = 0
EOF
cat >pf/conf/master.cf <<EOF
127.0.0.1:$port inet n - n - 200 smtpd
tlsmgr unix - - n 1000? 1 tlsmgr
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
cleanup unix n - n - 0 cleanup
rewrite unix - - n - - trivial-rewrite
proxymap unix - - n - - proxymap
EOF
postfix -c "$work/pf/conf" start-fg >pf/out 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
{
  echo '[scan]'
  echo 'timeout = "10s"'
  echo 'concurrency = 64'
  echo 'revocation = false'
  for ((i = 0; i < SMTP_N; i++)); do
    printf '[[endpoint]]\naddress = "smtp://127.0.0.1:%d"\nserver_name = "mx%d.bench.internal"\n' "$port" "$i"
  done
} >smtp.toml
read -r s_s s_rss < <(measure "$bin" scan -c smtp.toml --store store-smtp -o json)
s_ok=$(grep -c '"sha256"' out.txt || true)
# The alternative: a sequential openssl s_client -starttls smtp loop, 50 times.
t0=$(now)
for ((i = 0; i < 50; i++)); do
  openssl s_client -connect "127.0.0.1:$port" -starttls smtp </dev/null 2>/dev/null | openssl x509 -noout -enddate >/dev/null
done
o_s=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
c_rate=$(awk -v n="$SMTP_N" -v s="$s_s" 'BEGIN { printf "%.0f", n / s }')
o_rate=$(awk -v s="$o_s" 'BEGIN { printf "%.0f", 50 / s }')
echo "STARTTLS against one local postfix: certctl $c_rate endpoints/s ($s_ok of $SMTP_N read, peak RSS $s_rss KiB);"
echo "  openssl s_client -starttls smtp loop $o_rate/s; ratio $(ratio "$c_rate" "$o_rate")x"
