# Shared by the benchmark scripts (sourced, never run): the build, timing helpers and the local
# peers they start. The peers expect $work, the run's scratch directory, and listen on 127.0.0.1
# only.

# Installs the test packages (plus any named), builds the release binary, sets $bin, makes
# $work and moves there.
build_certctl() {
  (cd "$root" && bash .ci/install-deps "$@" >/dev/null && cargo build --release --locked -q)
  bin="$root/target/release/certctl"
  work=$(mktemp -d)
  cd "$work"
}

now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A throwaway PostgreSQL cluster in $work/pg on 127.0.0.1:$1, run as the postgres user (the
# script runs as root). stop_postgres stops it as `pg_ctl -m immediate` does.
pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1; }
as_postgres() { setpriv --reuid=postgres --regid=postgres --clear-groups "$@"; }
start_postgres() {
  chmod 755 "$work"
  mkdir -p "$work/pg" && chown postgres: "$work/pg"
  as_postgres "$(pg_bin)/initdb" -D "$work/pg" -A trust -U postgres --no-sync >/dev/null
  as_postgres "$(pg_bin)/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
    -o "-p $1 -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work/pg" start >/dev/null
}
stop_postgres() { as_postgres "$(pg_bin)/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true; }

# Pebble (PEBBLE_VA_NOSLEEP=1, its HTTPS certificate from a throwaway CA in $work/ca.pem) and
# pebble-challtestsrv answering DNS for it. Sets pebble_dir (the directory URL), pebble_http (the
# port Pebble asks http-01 on) and challtest (challtestsrv's management URL); adds both
# processes to the array pids.
start_pebble() {
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$work/ca.key" -out "$work/ca.pem" -days 30 -subj /CN=bench-ca 2>/dev/null
  openssl req "${ec[@]}" -keyout "$work/tls.key" -out "$work/tls.csr" -subj /CN=localhost 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$work/tls.ext"
  openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 30 -extfile "$work/tls.ext" -out "$work/tls.pem" 2>/dev/null
  local port mgmt tlsp dns ctl
  port=$(free_port); mgmt=$(free_port); pebble_http=$(free_port); tlsp=$(free_port); dns=$(free_port); ctl=$(free_port)
  cat >"$work/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$port", "managementListenAddress": "127.0.0.1:$mgmt",
  "certificate": "$work/tls.pem", "privateKey": "$work/tls.key", "httpPort": $pebble_http, "tlsPort": $tlsp,
  "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
  pebble-challtestsrv -management "127.0.0.1:$ctl" -dns01 "127.0.0.1:$dns" -defaultIPv4 127.0.0.1 \
    -defaultIPv6 "" -http01 "" -https01 "" -tlsalpn01 "" >/dev/null 2>&1 &
  pids+=($!)
  PEBBLE_VA_NOSLEEP=1 pebble -config "$work/pebble.json" -dnsserver "127.0.0.1:$dns" \
    >"$work/pebble.log" 2>&1 &
  pids+=($!)
  pebble_dir="https://127.0.0.1:$port/dir"
  challtest="http://127.0.0.1:$ctl"
  for _ in $(seq 100); do curl -s --cacert "$work/ca.pem" "$pebble_dir" >/dev/null && return 0; sleep 0.1; done
  echo "Pebble did not start: $(cat "$work/pebble.log")" >&2
  return 1
}
