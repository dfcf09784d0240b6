#!/usr/bin/env bash
# ACME issuance benchmark (issue 3): single-domain issuance against one local Pebble
# (PEBBLE_VA_NOSLEEP=1), whole process each time (start, config, store, fsync), for certctl,
# Debian's certbot (standalone http-01) and Debian's lego (http-01), in the same run; then
# `certctl renew --all` over 20 certificates.
#
# Usage: benches/acme.sh            (RUNS=5 CERTS=20)
set -euo pipefail
RUNS=${RUNS:-5}
CERTS=${CERTS:-20}

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/benches/lib.sh"
build_certctl certbot lego
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }

start_pebble
dir="$pebble_dir"
http="$pebble_http"

# --- certctl -------------------------------------------------------------------------------------
{
  printf '[store]\npath = "%s/certctl/store"\n' "$work"
  printf '[acme.accounts.pebble]\ndirectory = "%s"\nagree_tos = true\nca_file = "%s/ca.pem"\n' "$dir" "$work"
  for ((i = 0; i < CERTS; i++)); do
    printf '[[certificate]]\nname = "c%d"\ndomains = ["c%d.bench.test"]\n' "$i" "$i"
    printf '[certificate.challenge]\ntype = "http-01"\nlisten = "127.0.0.1:%d"\n' "$http"
  done
} >certctl.toml
"$bin" accounts -c certctl.toml >/dev/null
t=()
for ((r = 0; r < RUNS; r++)); do
  t0=$(now); "$bin" issue c0 -c certctl.toml >issue.txt; t1=$(now)
  grep -q "installed serial" issue.txt || { echo "certctl did not issue: $(cat issue.txt)" >&2; exit 1; }
  t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
done
certctl_s=$(printf '%s\n' "${t[@]}" | median)

echo "certctl issue median: $certctl_s s"
if [ -n "${ONLY_CERTCTL:-}" ]; then
  t0=$(now); timeout 120 "$bin" renew --all --force --concurrency "${CONCURRENCY:-8}" -c certctl.toml; t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print "renew --all:", b - a, "s" }'
  tail -5 pebble.log
  exit 0
fi

# --- certbot (standalone http-01) --------------------------------------------------------------------
t=()
for ((r = 0; r < RUNS; r++)); do
  t0=$(now)
  REQUESTS_CA_BUNDLE="$work/ca.pem" certbot certonly --standalone --non-interactive --agree-tos \
    --register-unsafely-without-email --server "$dir" --http-01-address 127.0.0.1 \
    --http-01-port "$http" -d certbot.bench.test --force-renewal \
    --config-dir "$work/certbot/config" --work-dir "$work/certbot/work" \
    --logs-dir "$work/certbot/logs" >/dev/null 2>&1 || { echo "certbot failed" >&2; exit 1; }
  t1=$(now)
  t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
done
certbot_s=$(printf '%s\n' "${t[@]}" | median)

# --- lego (http-01) ------------------------------------------------------------------------------------
t=()
for ((r = 0; r < RUNS; r++)); do
  t0=$(now)
  LEGO_CA_CERTIFICATES="$work/ca.pem" lego --server "$dir" --email bench@example.test --accept-tos \
    --http --http.port "127.0.0.1:$http" --domains lego.bench.test --path "$work/lego" run \
    >/dev/null 2>&1 || { echo "lego failed" >&2; exit 1; }
  t1=$(now)
  t+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
done
lego_s=$(printf '%s\n' "${t[@]}" | median)

# --- certctl renew --all over CERTS certificates ------------------------------------------------------
t0=$(now); timeout 300 "$bin" renew --all --force --concurrency "${CONCURRENCY:-8}" -c certctl.toml >renew.txt; t1=$(now)
renew_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
installed=$(grep -c installed renew.txt || true)

echo
echo "ACME issuance benchmark ($(nproc) cores), one Pebble 2.4 with PEBBLE_VA_NOSLEEP=1, median of $RUNS"
printf '  %-36s %6.2f s\n' "certctl issue" "$certctl_s"
printf '  %-36s %6.2f s\n' "certbot certonly --standalone" "$certbot_s"
printf '  %-36s %6.2f s\n' "lego run --http" "$lego_s"
printf '  ratio certbot / certctl: %sx   lego / certctl: %sx\n' \
  "$(ratio "$certbot_s" "$certctl_s")" "$(ratio "$lego_s" "$certctl_s")"
printf '  certctl renew --all --force over %d certificates: %s s (%d installed)\n' "$CERTS" "$renew_s" "$installed"
