#!/bin/sh
# strace-wrap.sh PROGRAM ARGS... - a MEDIATION_TEST_WRAPPER for the test
# harness: runs PROGRAM under `strace -f`, writing the trace to
# $MEDIATION_TRACE_DIR/trace.<pid> (and PROGRAM's path to trace.<pid>.prog).
#
# strace keeps a SIGTERM sent to it from its tracee, so this wrapper takes
# SIGTERM and SIGINT itself and sends them to PROGRAM, which then stops as it
# would under systemd; the exit status is PROGRAM's. If this wrapper dies
# (the test was killed), strace dies with it (setpriv --pdeathsig) and
# PROGRAM gets SIGTERM when strace goes.
set -u
out="$MEDIATION_TRACE_DIR/trace.$$"
printf '%s\n' "$1" > "$out.prog"
setpriv --pdeathsig KILL strace -f -qq -o "$out" setpriv --pdeathsig TERM "$@" &
tracer=$!
forward() {
  # The traced program is the first process in the trace.
  pid=$(head -n 1 "$out" 2>/dev/null | cut -d ' ' -f 1)
  [ -z "$pid" ] || kill -s "$1" "$pid" 2>/dev/null || true
}
trap 'forward TERM' TERM
trap 'forward INT' INT
while :; do
  wait "$tracer"
  rc=$?
  kill -0 "$tracer" 2>/dev/null || exit "$rc"
done
