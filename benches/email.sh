#!/usr/bin/env bash
# E-mail alert benchmark (issue 14): how fast certctl hands N alert e-mails to a local postfix,
# compared in the same run with what a user would otherwise script, a loop of `sendmail` (postfix's
# own, one message per call, submitted locally through postdrop: no SMTP, no TLS). certctl talks
# SMTP to the same postfix twice: clear text to the local relay (`smtp_tls = "none"`) and with
# STARTTLS. Each rate is "accepted by the mail system" (the command returned); then the bench
# checks that all N arrived in the Maildir.
#
# Usage: benches/email.sh            (N=500)
#        N=100 benches/email.sh      (a quick run)
set -euo pipefail
N=${N:-500}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash .ci/install-deps >/dev/null
cargo build --release --locked -q
bin="$root/target/release/certctl"
work=$(mktemp -d)
chmod 755 "$work"
cleanup() {
  [ -d "$work/pf/conf" ] && postfix -c "$work/pf/conf" stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# N distinct certificates with RSA-1024 keys: N distinct `weak_key` alerts (a warning each).
mkdir -p certs
for ((i = 0; i < N; i++)); do
  openssl req -x509 -newkey rsa:1024 -nodes -keyout /dev/null -out "certs/c$i.pem" -days 90 \
    -subj "/CN=svc$i.bench.internal" -addext "subjectAltName=DNS:svc$i.bench.internal" 2>/dev/null
done
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
# The mail server's certificate, from a CA of the bench (certctl trusts it through ca_file).
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 90 -subj /CN=bench-ca 2>/dev/null
openssl req "${ec[@]}" -keyout mx.key -out mx.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' >mx.ext
openssl x509 -req -in mx.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 90 -extfile mx.ext \
  -out mx.pem 2>/dev/null

# postfix on loopback, delivering example.test into Maildirs under mail/.
mkdir -p pf/conf pf/queue pf/data mail
chown postfix pf/data
chown nobody mail
port=$(free_port)
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
smtpd_tls_cert_file = $work/mx.pem
smtpd_tls_key_file = $work/mx.key
smtpd_tls_security_level = may
default_process_limit = 200
virtual_mailbox_domains = example.test
virtual_mailbox_base = $work/mail
virtual_mailbox_maps = texthash:$work/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
EOF
printf 'plain@example.test plain/\ntls@example.test tls/\nsendmail@example.test sendmail/\n' >vmailbox
cat >pf/conf/master.cf <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup fifo n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr fifo n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
error unix - - n - - error
showq unix n - n - - showq
EOF

# Waits until N messages are in mail/$1/new; prints how many arrived.
delivered() {
  local box=$1 count=0
  for _ in $(seq 600); do
    count=$(find "mail/$box/new" -type f 2>/dev/null | wc -l)
    [ "$count" -ge "$N" ] && break
    sleep 0.2
  done
  echo "$count"
}

# certctl: queue N deliveries while postfix is down (they wait in the durable outbox), then
# start postfix and time `certctl alerts deliver`.
config() { # name, url, extra lines
  cat >"$1.toml" <<EOF
[store]
path = "$work/store-$1"
[alerts]
retry_initial = "1s"
concurrency = 16
[[files]]
path = "$work/certs"
[[webhook]]
name = "$1"
format = "email"
url = "$2"
from = "certctl <certctl@example.test>"
to = ["$1@example.test"]
timeout = "30s"
$3
EOF
  "$bin" scan -c "$1.toml" >/dev/null 2>&1 || true
}
config plain "smtp://127.0.0.1:$port" 'smtp_tls = "none"'
config tls "smtp://localhost:$port" "ca_file = \"$work/ca.pem\""

postfix -c "$work/pf/conf" start-fg >pf/out 2>&1 &
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
sleep 1.5 # the queued deliveries are due (retry_initial)

declare -A secs
for variant in plain tls; do
  t0=$(now)
  "$bin" alerts deliver -c "$variant.toml" >"deliver-$variant.txt" 2>&1 || true
  secs[$variant]=$(since "$t0")
  got=$(delivered "$variant")
  [ "$got" -ge "$N" ] || { echo "certctl ($variant): only $got of $N arrived"; tail -20 "deliver-$variant.txt"; exit 1; }
done

# The alternative: a sendmail loop, one call per message, a message like certctl's in size.
{
  echo "From: certctl <certctl@example.test>"
  echo "To: sendmail@example.test"
  echo "Subject: [WARNING] certctl weak_key: svc.bench.internal: RSA 1024 key is too weak"
  echo "Content-Type: text/plain; charset=utf-8"
  echo
  head -c 2400 /dev/zero | tr '\0' 'x' | fold -w 76
} >msg.txt
t0=$(now)
for ((i = 0; i < N; i++)); do
  sendmail -C "$work/pf/conf" -f certctl@example.test sendmail@example.test <msg.txt
done
s_secs=$(since "$t0")
got=$(delivered sendmail)
[ "$got" -ge "$N" ] || { echo "sendmail: only $got of $N arrived"; exit 1; }

rate() { awk -v n="$N" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
p_rate=$(rate "${secs[plain]}")
t_rate=$(rate "${secs[tls]}")
s_rate=$(rate "$s_secs")
echo "E-mail alerts to one local postfix, N=$N (all N delivered to the Maildir by each):"
echo "  certctl, SMTP to the local relay:  $p_rate messages/s (${secs[plain]} s)"
echo "  certctl, SMTP with STARTTLS:       $t_rate messages/s (${secs[tls]} s)"
echo "  sendmail loop (local submission):  $s_rate messages/s ($s_secs s)"
echo "  ratio: $(ratio "$p_rate" "$s_rate")x (clear text), $(ratio "$t_rate" "$s_rate")x (STARTTLS)"
