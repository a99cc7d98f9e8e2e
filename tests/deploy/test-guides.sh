#!/bin/sh
# test-guides.sh - the guides, run as written. Every command line shown in
# docs/operator-guide.md, docs/coordinator-guide.md and docs/mediactl.md is
# run, in that order, against one fresh quickstart deployment (deploy/
# quickstart on a temporary directory: the four reference scenarios, then
# whatever the guides do), and its output is compared with the output the
# guide shows.
#
# What counts as a command (keep guides to this):
#   - a fenced block opened with ```sh whose first line starts with "$ " is a
#     transcript; blocks with any other info string (```, ```ini, ```json, a
#     ```sh block of plain commands) are not run;
#   - in a transcript, a line starting with "$ " is a command; a command line
#     ending in "\" continues on the next line; a command holding a here-document
#     (<<'EOF' or <<EOF) continues to the line holding only its delimiter;
#   - every other line, up to the next "$ " line or the block's end, is the
#     expected output (stdout and stderr together; trailing blank lines
#     dropped); `$ echo $?` prints the previous command's exit status;
#   - outside blocks, a line "<!-- guide-test: stop router -->" or
#     "<!-- guide-test: start router -->" stops or starts the router there
#     (for the "router cannot be reached" examples), and
#     "<!-- guide-test: any order -->" compares the next command's output as
#     a set of lines without their leading step numbers: a case file's
#     receipts (签收) are recorded when the receiving unit's signature
#     arrives, so their place among the other steps varies.
# Commands run with `mediactl` on PATH (the build's), MEDIATION_CONFIG set to
# the deployment, in a scratch directory. "2026" in a command means this
# year (and this year in the output reads as 2026).
#
# Compared after normalising both sides (times are ignored): date-times
# (2026-11-28 08:24[:05]) read <time>; backup names (20261128T082859.255+0800)
# <time>; durations and sizes (8秒, 3 毫秒, 131072 字节) N; JSON *_ms numbers
# and next_cursor <...>; an anchor line's fields (mediation-anchor/1 at=...
# sig=...) <...>; the deployment's directory reads /var/lib/mediation;
# runs of spaces count as one, trailing spaces none.
# A read-only command (list, show, inbox, cases, conflicts, stuck, ...) whose
# output differs is retried for up to 10 s before it fails: handoffs reach a
# unit's inbox a moment after the step that made them.
#
# Usage: test-guides.sh SOURCE_DIR BUILD_DIR [--update]
#   --update  writes each guide back with the outputs this run printed (the
#             real ones, times included): review with git diff
# A failure prints the guide's file and line, the command, and a diff
# (--- the guide, +++ this run).
set -eu

src=$1
build=$2
update=${3:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mediation-guides.XXXXXX")
. "$src/tests/deploy/live.sh"
cleanup() { live_stop || stuck=yes; rm -rf "$tmp"; [ -z "${stuck:-}" ] || exit 1; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

demo="$tmp/demo"
work="$tmp/work"
items="$tmp/items"
mkdir -p "$work" "$items" "$tmp/bin"
ln -s "$build/services/mediactl" "$tmp/bin/mediactl"
year=$(date +%Y)
docs="docs/operator-guide.md docs/coordinator-guide.md docs/mediactl.md"

# --- extraction: items/N.where, N.cmd and N.exp, or N.directive -----------
total=$(cd "$src" && awk -v mode=extract -v dir="$items" -f tests/deploy/guides.awk $docs)
[ "$total" -gt 0 ] || { echo "FAIL: no commands found in $docs"; exit 1; }

# --- normalising ------------------------------------------------------------
normalise() {
  sed -E \
    -e "s#$demo#/var/lib/mediation#g" \
    -e "s/(^|[^0-9])$year([^0-9]|$)/\\12026\\2/g" \
    -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?/<time>/g' \
    -e 's/[0-9]{8}T[0-9]{6}(\.[0-9]{3})?(Z|[+-][0-9]{4})?/<time>/g' \
    -e 's/[0-9]+( ?)(毫秒|秒|分钟|小时|天|字节)/N\1\2/g' \
    -e 's/"([a-z_]*_ms)": [0-9]+/"\1": N/g' \
    -e 's/"next_cursor": "[^"]*"/"next_cursor": "<cursor>"/g' \
    -e 's/(at|step|cases|root|sig)=[0-9a-f]+/\1=<...>/g' \
    -e 's/[[:space:]]+$//' -e 's/  +/ /g' "$1"
}

read_only() {
  for w in $(cat "$1"); do
    case "$w" in
      list|show|inbox|cases|conflicts|stuck|figures|report|health|methods|roster|access-log)
        return 0 ;;
      intake|accept|refuse|transfer|recall|start|assign|release|session|outcome|litigate| \
      court-result|feedback|close|reopen|withdraw|legal-aid|dismiss|backup|verify|echo)
        return 1 ;;
    esac
  done
  return 1
}

# --- running ----------------------------------------------------------------
live_start "$src" "$build" "$demo" || exit 1
export MEDIATION_CONFIG="$demo/mediation.conf"
export PATH="$tmp/bin:$PATH"
failures=0
last=0
any_order=no
i=1
while [ $i -le "$total" ]; do
  where=$(cat "$items/$i.where")
  if [ -f "$items/$i.directive" ]; then
    d=$(cat "$items/$i.directive")
    case "$d" in
      "stop router") live_stop_router ;;
      "start router") live_start_router ;;
      "any order") any_order=yes ;;
      *) echo "FAIL: $where: unknown directive \"$d\""; failures=$((failures + 1)) ;;
    esac
    i=$((i + 1))
    continue
  fi
  sed -e "s/2026/$year/g" "$items/$i.cmd" >"$items/$i.run"
  tries=0
  while :; do
    if [ "$(cat "$items/$i.run")" = 'echo $?' ]; then
      echo "$last" >"$items/$i.out"
    else
      set +e
      (cd "$work" && sh "$items/$i.run") >"$items/$i.out" 2>&1
      status=$?
      set -e
    fi
    normalise "$items/$i.exp" >"$items/$i.exp.n"
    normalise "$items/$i.out" >"$items/$i.out.n"
    if [ "$any_order" = yes ]; then
      for f in "$items/$i.exp.n" "$items/$i.out.n"; do
        sed -E 's/^ *[0-9]+ //' "$f" | LC_ALL=C sort >"$f.sorted" && mv "$f.sorted" "$f"
      done
    fi
    if cmp -s "$items/$i.exp.n" "$items/$i.out.n"; then break; fi
    tries=$((tries + 1))
    if read_only "$items/$i.run" && [ $tries -lt 50 ]; then sleep 0.2; continue; fi
    echo "FAIL: $where: the output differs from the guide's"
    sed 's/^/    $ /' "$items/$i.cmd"
    diff -u --label "$where (the guide)" --label "this run" "$items/$i.exp.n" "$items/$i.out.n" |
      sed 's/^/    /' || true
    failures=$((failures + 1))
    break
  done
  [ "$(cat "$items/$i.run")" = 'echo $?' ] || last=$status
  any_order=no
  i=$((i + 1))
done
echo "ran $total items of $docs; $failures differ"

if [ "$update" = --update ]; then
  i=1
  while [ $i -le "$total" ]; do
    [ ! -f "$items/$i.out" ] ||
      sed -e "s#$demo#/var/lib/mediation#g" "$items/$i.out" >"$items/$i.upd"
    i=$((i + 1))
  done
  (cd "$src" && awk -v mode=update -v dir="$items" -f tests/deploy/guides.awk $docs)
  for doc in $docs; do mv "$src/$doc.updated" "$src/$doc"; done
  echo "updated $docs with this run's outputs (review: git diff docs/)"
fi
[ "$failures" -eq 0 ]
