#!/bin/sh
# check-syscalls.sh - the systemd units' sandbox, checked against what the
# daemons really do, without systemd: black-box tests run with every daemon
# under strace (strace-wrap.sh as MEDIATION_TEST_WRAPPER), and then
#   - every system call a daemon made must pass the unit's SystemCallFilter=
#     lines (expanded with `systemd-analyze syscall-filter`); one that does
#     not would fail with EPERM under systemd (SystemCallErrorNumber=EPERM);
#   - every file a daemon created, wrote, renamed or removed must be inside
#     the test's deployment directories (under systemd: StateDirectory= and
#     RuntimeDirectory=, the only writable places with ProtectSystem=strict),
#     or its own /proc/self (thread names).
# Exit 77 (skipped) when this machine does not allow ptrace.
# MEDIATION_SHOW_WRITES=1 lists every write it checked.
#
# Usage: check-syscalls.sh UNIT_FILE TEST_PROGRAM...
set -eu

unit=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
for tool in strace setpriv systemd-analyze; do
  command -v "$tool" >/dev/null 2>&1 ||
    { echo "FAIL: $tool not found (deploy/install-deps --test installs it)"; exit 1; }
done
if ! strace -qq -o /dev/null true 2>/dev/null; then
  echo "SKIPPED: strace cannot trace here (ptrace is not allowed in this container)"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mediation-syscalls.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# 1. The workloads, every daemon traced.
mkdir "$tmp/traces"
for t in "$@"; do
  [ -n "$t" ] || continue # a test this tree does not have
  if MEDIATION_TEST_WRAPPER="sh $here/strace-wrap.sh" MEDIATION_TRACE_DIR="$tmp/traces" \
       "$t" >"$tmp/test.log" 2>&1; then
    echo "ok: $(basename "$t") passed with its daemons traced"
  else
    tail -n 40 "$tmp/test.log"
    fail "$(basename "$t") failed with its daemons traced"
  fi
done
ls "$tmp/traces"/trace.*.prog >/dev/null 2>&1 || { echo "FAIL: no daemon was traced"; exit 1; }

# 2. What the unit allows: its SystemCallFilter= lines, groups expanded.
allow=$(sed -n 's/^SystemCallFilter=\([^~].*\)/\1/p' "$unit" | tr '\n' ' ' | sed 's/ $//')
deny=$(sed -n 's/^SystemCallFilter=~\(.*\)/\1/p' "$unit" | tr '\n' ' ' | sed 's/ $//')
[ -n "$allow" ] || { echo "FAIL: $unit has no SystemCallFilter= allow list"; exit 1; }
expand() {
  systemd-analyze syscall-filter 2>/dev/null | awk -v want="$1" '
    function add(x,   m, n, j) {
      if (x !~ /^@/) { out[x] = 1; return }
      if (seen[x]++) return
      n = split(member[x], m, " ")
      for (j = 1; j <= n; j++) add(m[j])
    }
    /^@/ { g = $1; next }
    /^[ \t]*#/ || NF == 0 { next }
    { member[g] = member[g] " " $1 }
    END { n = split(want, w, " "); for (i = 1; i <= n; i++) add(w[i]); for (s in out) print s }' |
    sort -u
}
expand "$allow" > "$tmp/allowed"
expand "$deny" > "$tmp/denied"
comm -23 "$tmp/allowed" "$tmp/denied" > "$tmp/permitted"
echo "the unit permits $(wc -l < "$tmp/permitted") system calls ($allow minus $deny)"

# 3. What the daemons did, from their own execve on (before it: setpriv).
for prog_file in "$tmp/traces"/trace.*.prog; do
  trace=${prog_file%.prog}
  prog=$(cat "$prog_file")
  awk -v prog="execve(\"$prog\"" 'index($0, prog) { on = 1 } on' "$trace" > "$trace.own"
  [ -s "$trace.own" ] || fail "$(basename "$prog"): no trace after its execve in $trace"
  echo "$(basename "$prog")" >> "$tmp/programs"
done
cat "$tmp/traces"/trace.*.own |
  sed -E 's/^[0-9]+ +//' | grep -Ev '^(<\.\.\.|\+\+\+|---)' | sed -E 's/\(.*//' |
  grep -E '^[a-z_0-9]+$' | sort -u > "$tmp/used"
echo "the daemons ($(sort -u "$tmp/programs" | tr '\n' ' ' | sed 's/ $//')) made $(wc -l < "$tmp/used") distinct system calls"
comm -23 "$tmp/used" "$tmp/permitted" > "$tmp/outside"
if [ -s "$tmp/outside" ]; then
  for s in $(cat "$tmp/outside"); do
    fail "system call $s is not permitted by $(basename "$unit"); first use:"
    grep -h -m 1 -E "^[0-9]+ +$s\(" "$tmp/traces"/trace.*.own | cut -c 1-160 | sed 's/^/    /'
  done
else
  echo "ok: every system call passes the unit's SystemCallFilter="
fi

# 4. Where they wrote (ipc sockets are files too: bind on AF_UNIX paths).
cat "$tmp/traces"/trace.*.own |
  grep -E '^[0-9]+ +(open|openat|creat|mkdir|mkdirat|unlink|unlinkat|rmdir|rename|renameat2?|link|linkat|symlink|symlinkat|truncate|chmod|fchmodat|bind)\(' |
  grep '"' | grep -Ev 'O_RDONLY[|,) ]' | grep -Ev '^[0-9]+ +bind\(' |
  sed -E 's/^[0-9]+ +([a-z_0-9]+)\((AT_FDCWD, )?[^"]*"([^"]*)".*/\1 \3/' |
  sort -u > "$tmp/writes"
cat "$tmp/traces"/trace.*.own | grep -E '^[0-9]+ +bind\(.*sun_path="' |
  sed -E 's/^[0-9]+ +bind\(.*sun_path="([^"]*)".*/bind \1/' | sort -u >> "$tmp/writes"
awk '$2 !~ /^\/tmp\/mediation-/ && $2 !~ /^\/proc\/self\// && $2 !~ /^\/proc\/[0-9]+\/task\/[0-9]+\/comm$/' \
  "$tmp/writes" > "$tmp/bad-writes"
[ -z "${MEDIATION_SHOW_WRITES:-}" ] || cat "$tmp/writes"
if [ -s "$tmp/bad-writes" ]; then
  fail "writes outside the deployment's directories (read-only under ProtectSystem=strict):"
  sed 's/^/    /' "$tmp/bad-writes"
else
  echo "ok: $(wc -l < "$tmp/writes") writes, all inside the deployment's directories"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "the sandbox fits what the daemons do"
