# live.sh - sourced by the tests that need a live quickstart deployment
# (test-guides.sh, test-pii-canary.sh): deploy/quickstart itself, started in
# the background on a temporary directory with the programs already built,
# exactly as README command 1 runs them.
#
#   live_start SOURCE_DIR BUILD_DIR DEPLOY_DIR [quickstart options]
#       starts it and returns once it prints "The system is serving"
#       (its own output: DEPLOY_DIR.quickstart.out)
#   live_pid NAME        the pid of a daemon it started (router, police-studio, ...)
#   live_stop_router / live_start_router
#       stop the router (SIGTERM, waits for it to exit) / start it again on
#       the same configuration and log, waiting until it answers
#   live_stop            stops everything (quickstart stops its daemons on SIGTERM)

live_qs_pid=""
live_router_pid=""

live_start() {
  live_src=$1 live_build=$2 live_dir=$3
  shift 3
  sh "$live_src/deploy/quickstart" --no-build --build-dir "$live_build" --dir "$live_dir" "$@" \
    >"$live_dir.quickstart.out" 2>&1 &
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

live_pid() { awk -v n="$1" '$1 == n { p = $2 } END { print p }' "$live_dir/pids"; }

live_wait_gone() {
  tries=0
  while kill -0 "$1" 2>/dev/null; do
    tries=$((tries + 1))
    [ $tries -lt 300 ] || { echo "FAIL: pid $1 did not stop within 30 s"; return 1; }
    sleep 0.1
  done
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
  tries=0
  until "$live_build/services/mediactl" --config "$live_dir/mediation.conf" health \
    >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ $tries -lt 150 ] || { echo "FAIL: the router did not start again"; return 1; }
    sleep 0.1
  done
}

live_stop() {
  if [ -n "$live_router_pid" ]; then
    kill -TERM "$live_router_pid" 2>/dev/null || true
    wait "$live_router_pid" 2>/dev/null || true
    live_router_pid=""
  fi
  if [ -n "$live_qs_pid" ]; then
    kill -TERM "$live_qs_pid" 2>/dev/null || true
    wait "$live_qs_pid" 2>/dev/null || true
    live_qs_pid=""
  fi
}
