#!/bin/sh
# test-pii-canary.sh - no personal data in any log. A fresh quickstart
# deployment (every daemon at --log-level debug) is worked through mediactl
# with a distinctive name, ID number and phone in every free-text field an
# operator or coordinator can fill (parties, summary, notes, reasons, person,
# grid, the unit's reference), in steps that are applied and in steps that
# are refused; then every daemon is stopped and every log and the daemons'
# stdout and stderr (DIR/logs/*.log, where quickstart sends both) are
# searched for the canaries. Logs name cases only by identifiers the system
# allocated.
#
# Usage: test-pii-canary.sh SOURCE_DIR BUILD_DIR
set -eu

src=$1
build=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mediation-canary.XXXXXX")
. "$src/tests/deploy/live.sh"
cleanup() { live_stop || stuck=yes; rm -rf "$tmp"; [ -z "${stuck:-}" ] || exit 1; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Invented, but shaped like the real thing (an ID number with its X check
# character, a mobile number), so that validation lets them through.
name=金丝雀甲
id_number=11010519491231002X
phone=13900001111
text="${name}，身份证${id_number}，电话${phone}"

demo="$tmp/demo"
live_start "$src" "$build" "$demo" --log-level debug || exit 1
export MEDIATION_CONFIG="$demo/mediation.conf"
ctl="$build/services/mediactl"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# run WANT DESCRIPTION ARGS...: mediactl ARGS, expecting exit status WANT
# (0: applied; 3, 5: refused). Its output is kept in $tmp/out.
run() {
  want=$1 what=$2
  shift 2
  set +e
  "$ctl" "$@" >"$tmp/out" 2>&1 </dev/null
  got=$?
  set -e
  if [ "$got" -eq "$want" ]; then echo "ok: $what (exit $got)"
  else fail "$what: exit $got, expected $want"; sed 's/^/    /' "$tmp/out"; fi
}
# intake WANT DESCRIPTION PARTIES ARGS...: a take-in with the parties on stdin.
intake() {
  want=$1 what=$2 these_parties=$3
  shift 3
  set +e
  printf '%s\n' "$these_parties" | "$ctl" --unit police-studio intake --party-file - "$@" \
    >"$tmp/out" 2>&1
  got=$?
  set -e
  if [ "$got" -eq "$want" ]; then echo "ok: $what (exit $got)"
  else fail "$what: exit $got, expected $want"; sed 's/^/    /' "$tmp/out"; fi
}
first_word() { awk 'NR == 1 { print $1 }' "$tmp/out"; }
# until_listed UNIT LISTCMD CASE: waits until the unit's list shows the case.
until_listed() {
  tries=0
  until "$ctl" --unit "$1" "$2" 2>/dev/null | grep -q "$3"; do
    tries=$((tries + 1))
    [ $tries -lt 100 ] || { fail "$3 never reached $1's $2"; return 0; }
    sleep 0.1
  done
}

parties="applicant:${name}:${id_number}:${phone}
respondent:${name}乙:${id_number}:${phone}"

# A family case through every step that carries text, to the court and back.
intake 0 "intake with the canaries everywhere" "$parties" --kind relationship \
  --community kongque --grid "$text" --source police_call --summary "$text" --person "$name"
c1=$(first_word)
until_listed marriage-studio inbox "$c1"
run 0 "accept" --unit marriage-studio accept "$c1" --person "$name"
run 0 "assign" --unit marriage-studio assign "$c1" --role lawyer --person "$name"
run 0 "start" --unit marriage-studio start "$c1" --person "$name"
run 0 "session" --unit marriage-studio session "$c1" --note "$text" --person "$name"
run 0 "outcome, no agreement" --unit marriage-studio outcome "$c1" --no-agreement \
  --summary "$text" --person "$name"
run 0 "litigate" --unit marriage-studio litigate "$c1" --reason "$text" --person "$name"
run 0 "court result" --unit marriage-studio court-result "$c1" --result judgment \
  --summary "$text" --person "$name"
run 0 "feedback" --unit marriage-studio feedback "$c1" --satisfaction satisfied \
  --note "$text" --person "$name"
run 0 "close" --unit marriage-studio close "$c1" --person "$name"
run 3 "a session on a closed case (refused)" \
  --unit marriage-studio session "$c1" --note "$text" --person "$name"
run 0 "reopen, as the coordinator" reopen "$c1" --reason "$text"

# A handoff refused, sent on, taken back.
intake 0 "intake referred against the rules" "$parties" --kind neighbour --community baihe \
  --source walk_in --summary "$text" --person "$name" --refer-to marriage-studio \
  --reason "$text"
c2=$(first_word)
until_listed marriage-studio inbox "$c2"
run 0 "refuse" --unit marriage-studio refuse "$c2" --reason "$text" --person "$name"
run 3 "refuse it again (refused)" --unit marriage-studio refuse "$c2" --reason "$text"
until_listed police-studio "cases" "$c2.*受理"
run 0 "transfer" --unit police-studio transfer "$c2" --to station-baihe --reason "$text" \
  --person "$name"
run 0 "recall, as the coordinator" recall "$c2" --reason "$text"

# The unit's own reference: a phone is refused; a reference that holds one
# (it has the documented shape) is taken, and must not reach a log either.
intake 3 "a phone number as the unit's reference (refused)" "$parties" --kind divorce \
  --community wangai --source walk_in --summary "$text" --ref "$phone"
intake 0 "a reference with a phone inside" "$parties" --kind divorce --community wangai \
  --source walk_in --summary "$text" --ref "Canary${phone}"
c3=$(first_word)
run 0 "withdraw" --unit police-studio withdraw "$c3" --reason "$text" --person "$name"
intake 3 "a phone as an ID number (refused)" "applicant:${name}:${phone}" --kind divorce \
  --community wangai --source walk_in --summary "$text"
intake 3 "an ID number as a phone (refused)" "applicant:${name}:${id_number}:${id_number}" \
  --kind divorce --community wangai --source walk_in --summary "$text"

# The same while the router is down: queued in the outbox, forwarded later.
live_stop_router
intake 0 "intake queued while the router is down" "$parties" --kind custody \
  --community baihe --source walk_in --summary "$text" --person "$name" --ref "Queued${phone}"
drained() { "$ctl" --timeout 2 --unit police-studio conflicts 2>/dev/null | grep -q "出件箱待转发：0 步"; }
live_start_router || fail "the router did not start again"
live_until 30 "the queued steps were not forwarded within 30 s" drained ||
  fail "the queued steps were never forwarded"

live_stop
logs=$(ls "$demo"/logs/*.log)
echo "searching $(echo "$logs" | wc -l) logs ($(cat $logs | wc -l) lines) for the canaries"
for canary in "$name" "$id_number" "$phone"; do
  if grep -n -F -- "$canary" $logs >"$tmp/hits"; then
    fail "\"$canary\" is in the logs:"
    sed 's/^/    /' "$tmp/hits" | head -20
  else
    echo "ok: \"$canary\" is in no log"
  fi
done
# The checks above must have had something to find: the debug logs name the
# cases by their allocated ids.
if grep -q -F "case=$c1 " $logs; then echo "ok: the logs name $c1 by its id"
else fail "no log line names $c1: the search proves nothing"; fi
[ "$failures" -eq 0 ]
