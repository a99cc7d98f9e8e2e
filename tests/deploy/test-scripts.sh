#!/bin/sh
# test-scripts.sh - deploy/tls-setup and deploy/mkdeploy as an administrator
# runs them: --help, refusals with exit status 2, files and modes, nothing
# overwritten that should be kept, --renew, distinct --tcp ports.
#
# Usage: test-scripts.sh SOURCE_DIR MEDIATION_KEYGEN
set -eu

src=$1
keygen=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mediation-scripts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect STATUS DESCRIPTION COMMAND...: runs it, output in $tmp/out.
expect() {
  want=$1 what=$2
  shift 2
  set +e
  "$@" >"$tmp/out" 2>&1
  got=$?
  set -e
  if [ "$got" -eq "$want" ]; then ok "$what (exit $got)"
  else fail "$what: exit $got, expected $want"; sed 's/^/    /' "$tmp/out"; fi
}
has() { if grep -q -- "$1" "$tmp/out"; then ok "$2"; else fail "$2: no \"$1\" in:"; sed 's/^/    /' "$tmp/out"; fi; }
mode() { stat -c %a "$1"; }

tls="$src/deploy/tls-setup"
mk="$src/deploy/mkdeploy"

# --- tls-setup -----------------------------------------------------------
expect 0 "tls-setup --help" sh "$tls" --help
has "Usage: deploy/tls-setup --dir DIR --name DNS_NAME" "tls-setup --help shows the usage"
expect 2 "tls-setup without --dir" sh "$tls" --name router.test
has "--dir is required" "tls-setup names the missing --dir"
expect 2 "tls-setup without --name" sh "$tls" --dir "$tmp/tls"
has "at least one --name is required" "tls-setup names the missing --name"
expect 2 "tls-setup with a bad name" sh "$tls" --dir "$tmp/tls" --name "router test"
expect 2 "tls-setup with a bad address" sh "$tls" --dir "$tmp/tls" --name r.test --ip 10.0.0.x
expect 2 "tls-setup with --days 0" sh "$tls" --dir "$tmp/tls" --name r.test --days 0
expect 2 "tls-setup with an unknown option" sh "$tls" --dir "$tmp/tls" --name r.test --bogus
[ ! -e "$tmp/tls" ] && ok "refusals write nothing" || fail "a refused tls-setup made $tmp/tls"

expect 0 "tls-setup makes a CA and a certificate" \
  sh "$tls" --dir "$tmp/tls" --name router.test --name router2.test --ip 192.0.2.7
has "tls_cert = $tmp/tls/router.pem" "prints tls_cert"
has "tls_key = $tmp/tls/router.key" "prints tls_key"
has "tls_ca = $tmp/tls/ca.pem" "prints tls_ca"
has "tls_server_name = router.test" "prints the first name as tls_server_name"
for f in ca.key router.key; do
  [ "$(mode "$tmp/tls/$f")" = 600 ] && ok "$f is mode 600" || fail "$f is mode $(mode "$tmp/tls/$f")"
done
if openssl verify -CAfile "$tmp/tls/ca.pem" "$tmp/tls/router.pem" >/dev/null 2>&1; then
  ok "router.pem verifies against ca.pem"
else fail "router.pem does not verify against ca.pem"; fi
openssl x509 -in "$tmp/tls/router.pem" -noout -ext subjectAltName,extendedKeyUsage >"$tmp/out" 2>&1
has "DNS:router.test, DNS:router2.test, IP Address:192.0.2.7" "the certificate carries every name and address"
has "TLS Web Server Authentication" "the certificate is for a TLS server"
openssl x509 -in "$tmp/tls/router.pem" -noout -text >"$tmp/out" 2>&1
has "prime256v1\|P-256" "ECDSA P-256 by default"

cp "$tmp/tls/router.pem" "$tmp/router.first"
cp "$tmp/tls/ca.pem" "$tmp/ca.first"
expect 0 "tls-setup again" sh "$tls" --dir "$tmp/tls" --name router.test
has "keeping the existing" "a second run says it keeps the certificate"
cmp -s "$tmp/tls/router.pem" "$tmp/router.first" && ok "a second run keeps router.pem" ||
  fail "a second run replaced router.pem"
expect 0 "tls-setup --renew --rsa" sh "$tls" --dir "$tmp/tls" --name router.test --renew --rsa
cmp -s "$tmp/tls/router.pem" "$tmp/router.first" && fail "--renew kept the old router.pem" ||
  ok "--renew makes a new router.pem"
cmp -s "$tmp/tls/ca.pem" "$tmp/ca.first" && ok "--renew keeps the CA" || fail "--renew replaced ca.pem"
openssl x509 -in "$tmp/tls/router.pem" -noout -text >"$tmp/out" 2>&1
has "Public-Key: (2048 bit)" "--rsa makes an RSA 2048 key"
ls -a "$tmp/tls" >"$tmp/out"
if grep -q '^\.tls-setup' "$tmp/out"; then fail "tls-setup left its temporary directory"
else ok "no temporary files left"; fi

# --renew where the CA key is, with no names: the same names, addresses and
# key type as before, a new key.
expect 0 "tls-setup --dir D --name N --ip A (ECDSA)" \
  sh "$tls" --dir "$tmp/tls2" --name router.test --name router2.test --ip 192.0.2.7
cp "$tmp/tls2/router.key" "$tmp/key.first"
expect 0 "tls-setup --renew without names" sh "$tls" --dir "$tmp/tls2" --renew
has "renewing for the same names: router.test router2.test 192.0.2.7" "--renew says which names it keeps"
has "tls_server_name = router.test" "the first name stays tls_server_name"
cmp -s "$tmp/tls2/router.key" "$tmp/key.first" && fail "--renew kept the old key" ||
  ok "--renew makes a new key"
openssl x509 -in "$tmp/tls2/router.pem" -noout -ext subjectAltName >"$tmp/out" 2>&1
has "DNS:router.test, DNS:router2.test, IP Address:192.0.2.7" "--renew keeps every name and the IP address"
openssl x509 -in "$tmp/tls2/router.pem" -noout -text >"$tmp/out" 2>&1
has "prime256v1\|P-256" "--renew keeps the key type"
expect 0 "tls-setup --renew of the RSA certificate" sh "$tls" --dir "$tmp/tls" --renew
openssl x509 -in "$tmp/tls/router.pem" -noout -text >"$tmp/out" 2>&1
has "Public-Key: (2048 bit)" "--renew keeps RSA"
expect 0 "tls-setup --installed-dir" sh "$tls" --dir "$tmp/tls2" --name router.test \
  --installed-dir /etc/mediation/tls
has "tls_cert = /etc/mediation/tls/router.pem" "--installed-dir names the files where they will be"
has "tls_ca = /etc/mediation/tls/ca.pem" "--installed-dir names the CA where it will be"
expect 2 "tls-setup --installed-dir relative" sh "$tls" --dir "$tmp/tls2" --installed-dir etc/tls

# Where ca.key is not (the router's machine): a clear refusal naming where to run it.
rm "$tmp/tls/ca.key"
expect 2 "tls-setup with ca.pem but no ca.key" sh "$tls" --dir "$tmp/tls" --name router.test --renew
has "certificates are signed where ca.key is kept" "says where to renew"

# --- mkdeploy ------------------------------------------------------------
expect 0 "mkdeploy --help" sh "$mk" --help
has "--system" "mkdeploy --help lists --system"
has "--keys-dir" "mkdeploy --help lists --keys-dir"
expect 2 "mkdeploy with a relative --keys-dir" sh "$mk" --dir "$tmp/d" --keys-dir keys
expect 2 "mkdeploy without --dir" sh "$mk"
expect 2 "mkdeploy with a relative --data" sh "$mk" --dir "$tmp/d" --data rel
expect 2 "mkdeploy --tcp with a word" sh "$mk" --dir "$tmp/d" --tcp many
expect 2 "mkdeploy --owner of nobody known" sh "$mk" --dir "$tmp/d" --owner no-such-user-here

expect 0 "mkdeploy --tcp" sh "$mk" --dir "$tmp/tcp" --keygen "$keygen" --tcp 31000
ports=$(sed -n 's/^endpoint = tcp:\/\/127.0.0.1://p' "$tmp/tcp/mediation.conf" | sort -u | tr '\n' ' ')
[ "$ports" = "31000 31001 31002 31003 31004 31005 " ] && ok "every --tcp endpoint has its own port" ||
  fail "--tcp endpoints share ports: $ports"
[ "$(mode "$tmp/tcp/keys")" = 700 ] && ok "keys/ is mode 700" || fail "keys/ is mode $(mode "$tmp/tcp/keys")"
listens=$(sed -n 's/^listen = //p' "$tmp/tcp/mediation.conf" | tr '\n' ' ')
[ "$listens" = "http://127.0.0.1:8440 http://127.0.0.1:8441 http://127.0.0.1:8442 http://127.0.0.1:8443 http://127.0.0.1:8444 http://127.0.0.1:8445 " ] &&
  ok "a web gateway per unit and one for the coordinators, each on its own loopback port" ||
  fail "the web gateways listen on: $listens"
grep -q '^\[web "coordinators"\]$' "$tmp/tcp/mediation.conf" && grep -q '^principal = coordinator$' "$tmp/tcp/mediation.conf" &&
  grep -q '^principal = police-studio-operator$' "$tmp/tcp/mediation.conf" &&
  grep -q "^data_dir = $tmp/tcp/data/web-police-studio\$" "$tmp/tcp/mediation.conf" &&
  ok "each site's principal and data_dir" || fail "a web site's principal or data_dir is wrong"
expect 2 "mkdeploy --web-port with a word" sh "$mk" --dir "$tmp/w" --web-port many
expect 2 "mkdeploy --web-port beyond the ports" sh "$mk" --dir "$tmp/w" --web-port 65533
expect 2 "mkdeploy --web-host on the LAN without --web-tls" sh "$mk" --dir "$tmp/w" --web-host 192.0.2.7
has "clear text" "says why the LAN needs TLS"
expect 2 "mkdeploy with a relative --web-tls" sh "$mk" --dir "$tmp/w" --web-tls tls
expect 0 "mkdeploy --web-tls --web-host --web-port" sh "$mk" --dir "$tmp/w" --keygen "$keygen" \
  --web-tls /etc/mediation/tls --web-host 192.0.2.7 --web-port 9440 --mediactl /nonexistent
has "user --coordinators add 协调员" "without mediactl, says how to make the first coordinator's account"
grep -q '^listen = https://192.0.2.7:9445$' "$tmp/w/mediation.conf" &&
  grep -q '^tls_cert = /etc/mediation/tls/router.pem$' "$tmp/w/mediation.conf" &&
  grep -q '^tls_key = /etc/mediation/tls/router.key$' "$tmp/w/mediation.conf" &&
  ok "--web-tls: https:// with tls-setup's certificate and key" || fail "--web-tls lines are wrong"
# With mediactl: the first coordinator's account, its password printed once.
ctl="$(dirname "$keygen")/../services/mediactl"
if [ -x "$ctl" ]; then
  expect 0 "mkdeploy makes the first coordinator's web account" sh "$mk" --dir "$tmp/acct" \
    --keygen "$keygen" --mediactl "$ctl"
  has "^web account 协调员 password [0-9a-f]\{24\}$" "prints its random password once"
  pw=$(sed -n 's/^web account 协调员 password //p' "$tmp/out")
  "$ctl" --config "$tmp/acct/mediation.conf" user --coordinators list >"$tmp/out" 2>&1
  has "协调员" "the account is in the coordinators' accounts"
  expect 0 "mkdeploy --force on it" sh "$mk" --dir "$tmp/acct" --keygen "$keygen" --mediactl "$ctl" --force
  has "accounts exist" "a second run keeps the accounts"
  if grep -q "password" "$tmp/out"; then fail "a second run printed a password"; else ok "and prints no password"; fi
  if [ -n "$pw" ] && grep -rqa -- "$pw" "$tmp/acct"; then fail "the password is stored in the deployment"
  else ok "the password is stored nowhere in the deployment"; fi
fi
cp "$tmp/tcp/keys/police-studio.key" "$tmp/police.first"
expect 0 "mkdeploy --force again" sh "$mk" --dir "$tmp/tcp" --keygen "$keygen" --force
cmp -s "$tmp/tcp/keys/police-studio.key" "$tmp/police.first" && ok "existing keys are kept" ||
  fail "mkdeploy replaced a key"

if id nobody >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  expect 0 "mkdeploy --system --owner nobody" sh "$mk" --dir "$tmp/sys" --keygen "$keygen" \
    --system --owner nobody --router-endpoint tls+tcp://router.test:7300
  [ "$(stat -c %U "$tmp/sys/keys/coordinator.key")" = nobody ] && ok "--owner owns the keys" ||
    fail "--owner did not chown the keys"
  [ ! -e "$tmp/sys/data" ] && [ ! -e "$tmp/sys/run" ] && ok "--system makes no data or run directory" ||
    fail "--system made directories systemd should make"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all script checks passed"
