# live.sh - sourced by the tests that need a live quickstart deployment
# (test-guides.sh, test-pii-canary.sh): deploy/quickstart itself, started in
# the background on a temporary directory with the programs already built,
# exactly as README command 1 runs them.
#
#   live_start SOURCE_DIR BUILD_DIR DEPLOY_DIR [quickstart options]
#       starts it (its web gateways on free ports from $live_web_port) and
#       returns once it prints "The system is serving"
#       (its own output: DEPLOY_DIR.quickstart.out)
#   live_pid NAME        the pid of a daemon it started (router, police-studio, ...)
#   live_stop_router / live_start_router
#       stop the router (SIGTERM, waits for it to exit) / start it again on
#       the same configuration and log, waiting until it answers
#   live_stop            stops everything (quickstart stops its daemons on SIGTERM),
#                        waiting at most 60 s for each (else FAIL, stacks, SIGKILL)
#   live_until SECONDS WHY COMMAND...
#       retries COMMAND until it succeeds, or fails with the daemons' stacks

live_qs_pid=""
live_router_pid=""

live_start() {
  live_src=$1 live_build=$2 live_dir=$3
  shift 3
  # The web gateways on six free ports of 127.0.0.1, not quickstart's 8440..:
  # tests run side by side.
  live_web_port=$(live_free_ports 6) || { echo "FAIL: no six free ports on 127.0.0.1"; return 1; }
  sh "$live_src/deploy/quickstart" --no-build --build-dir "$live_build" --dir "$live_dir" \
    --web-port "$live_web_port" "$@" >"$live_dir.quickstart.out" 2>&1 &
  live_qs_pid=$!
  tries=0
  until grep -q "The system is serving" "$live_dir.quickstart.out" 2>/dev/null; do
    if ! kill -0 "$live_qs_pid" 2>/dev/null; then
      echo "FAIL: deploy/quickstart stopped before serving:"
      sed 's/^/    /' "$live_dir.quickstart.out"
      live_qs_pid=""
      return 1
    fi
    tries=$((tries + 1))
    if [ $tries -ge 1200 ]; then
      echo "FAIL: deploy/quickstart did not serve within 120 s:"
      sed 's/^/    /' "$live_dir.quickstart.out"
      return 1
    fi
    sleep 0.1
  done
}

# live_free_ports N: the first of N consecutive free TCP ports on 127.0.0.1
# (bound and released at once: free a moment ago, as good as tests get).
live_free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randrange(20000, 60000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit(1)
PY
}

live_pid() { awk -v n="$1" '$1 == n { p = $2 } END { print p }' "$live_dir/pids"; }

# live_gone PID: the process has exited - gone, or a zombie its parent (this
# shell, for a router it started again) has not waited for yet, which
# kill -0 still finds.
live_gone() {
  [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

live_wait_gone() {
  tries=0
  until live_gone "$1"; do
    tries=$((tries + 1))
    [ $tries -lt 300 ] || { echo "FAIL: pid $1 did not stop within 30 s"; return 1; }
    sleep 0.1
  done
}

# live_stop_child PID WHAT: SIGTERM to PID, a child of this shell, then waits
# at most 60 s for it to exit (a shell's `wait` has no deadline: a daemon
# that never stopped hung a CI run until ctest's timeout). Past that: FAIL,
# what the daemons are doing, and SIGKILL to PID and to quickstart's daemons.
live_stop_child() {
  kill -TERM "$1" 2>/dev/null || true
  tries=0
  until live_gone "$1"; do
    tries=$((tries + 1))
    if [ $tries -ge 600 ]; then
      echo "FAIL: $2 (pid $1) did not stop within 60 s of SIGTERM"
      live_diagnose
      awk '{ print $2 }' "$live_dir/pids" 2>/dev/null | while read -r p; do
        kill -KILL "$p" 2>/dev/null || true
      done
      kill -KILL "$1" 2>/dev/null || true
      wait "$1" 2>/dev/null || true
      return 1
    fi
    sleep 0.1
  done
  wait "$1" 2>/dev/null || true
}

live_stop_router() {
  if [ -n "$live_router_pid" ]; then p=$live_router_pid; live_router_pid=""
  else p=$(live_pid router); fi
  kill -TERM "$p"
  live_wait_gone "$p"
}

live_start_router() {
  "$live_build/router/mediation-router" --config "$live_dir/mediation.conf" \
    >>"$live_dir/logs/router.log" 2>&1 &
  live_router_pid=$!
  live_until 30 "the router did not answer Health within 30 s of starting again" \
    "$live_build/services/mediactl" --config "$live_dir/mediation.conf" --timeout 2 health
}

# live_until SECONDS WHY COMMAND...: runs COMMAND (quietly) until it succeeds,
# for at most SECONDS of wall time; else prints FAIL: WHY and what the
# daemons are doing (live_diagnose), and returns 1.
live_until() {
  live_limit=$(( $(date +%s) + $1 )) live_why=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$live_limit" ]; then
      echo "FAIL: $live_why"
      live_diagnose
      return 1
    fi
    sleep 0.1
  done
}

# What every daemon is doing: the end of its log and, where gdb is
# installed, its threads' stacks (a hang must leave more than a timeout).
live_diagnose() {
  { cat "$live_dir/pids" 2>/dev/null
    [ -n "$live_router_pid" ] && echo "router(restarted) $live_router_pid"; } |
  while read -r name pid; do
    echo "--- $name (pid $pid): $(kill -0 "$pid" 2>/dev/null && echo running || echo gone)"
    log=$live_dir/logs/${name%(restarted)}.log
    [ -f "$log" ] && tail -n 8 "$log" | sed 's/^/    /'
    if command -v gdb >/dev/null 2>&1 && kill -0 "$pid" 2>/dev/null; then
      gdb -p "$pid" -batch -ex "thread apply all bt" 2>/dev/null |
        grep -E '^(Thread|#[0-9]+ +0x[0-9a-f]+ in [a-z_]+)' | grep -v ' in __' | head -60 |
        sed 's/^/    /'
    fi
  done
}

live_stop() {
  live_stopped=0
  if [ -n "$live_router_pid" ]; then
    p=$live_router_pid; live_router_pid=""
    live_stop_child "$p" "the router started again" || live_stopped=1
  fi
  if [ -n "$live_qs_pid" ]; then
    p=$live_qs_pid; live_qs_pid=""
    live_stop_child "$p" "deploy/quickstart (stopping its daemons)" || live_stopped=1
  fi
  return $live_stopped
}
