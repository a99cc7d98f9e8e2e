#!/bin/sh
# test-quickstart-build.sh - README command 1 on a machine that never had the
# test packages: deploy/quickstart's build step (configure, then the
# programs' targets) with pkg-config unable to find cmocka. pkg-config reads
# only a copy of the system's .pc files without cmocka.pc
# (PKG_CONFIG_LIBDIR), so the configure sees what a fresh bookworm machine
# with only `deploy/install-deps` (no --test) shows it.
#
# Usage: test-quickstart-build.sh SOURCE_DIR
set -eu

src=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mediation-qs-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

mkdir "$tmp/pc"
for d in $(pkg-config --variable pc_path pkg-config | tr ':' ' '); do
  [ -d "$d" ] || continue
  for pc in "$d"/*.pc; do
    [ -e "$pc" ] || continue
    case "$(basename "$pc")" in cmocka.pc) continue ;; esac
    [ -e "$tmp/pc/$(basename "$pc")" ] || cp "$pc" "$tmp/pc/"
  done
done
export PKG_CONFIG_LIBDIR="$tmp/pc"
export PKG_CONFIG_PATH=""
if pkg-config --exists cmocka; then
  echo "FAIL: pkg-config still finds cmocka; the check would prove nothing"
  exit 1
fi
echo "ok: pkg-config cannot find cmocka"

status=0
sh "$src/deploy/quickstart" --build-only --build-dir "$tmp/build" >"$tmp/out" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  echo "FAIL: deploy/quickstart --build-only exited $status without cmocka:"
  sed 's/^/    /' "$tmp/out"
  exit 1
fi
echo "ok: deploy/quickstart configured and built without cmocka"
if grep -q "cmocka not found: building the programs without the test suite" "$tmp/out"; then
  echo "ok: the configure says the test suite is skipped and why"
else
  echo "FAIL: no clear message about the skipped test suite in:"
  sed 's/^/    /' "$tmp/out"
  exit 1
fi
for p in router/mediation-router services/police-studio services/marriage-studio \
  services/community-station services/mediactl services/mediation-web rpc/mediation-keygen; do
  [ -x "$tmp/build/$p" ] || { echo "FAIL: $p was not built"; exit 1; }
done
echo "ok: every program the quickstart runs was built"
