#!/bin/sh
# check-sizes.sh - no production file over 800 lines, no function over 100.
#
# Production code is every tracked .c/.h file outside tests/, bench/ and
# fuzz/. A function's length is the lines of its body, between the line
# that opens it and its closing brace at column 0 (the project's layout:
# clang-format, K&R braces). ALLOW_LIST names the files and functions over
# the limits on purpose or until they are split, one a line:
#   path                a file over 800 lines
#   path:function       a function over 100 lines
# An entry that is no longer over its limit fails too, so the list only
# shrinks.
#
# Usage: check-sizes.sh SOURCE_DIR ALLOW_LIST
set -eu

src=$1
allow=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
max_file=800
max_function=100

cd "$src"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' | sed 's|^\./||')
files=$(printf '%s\n' "$files" | grep -v -e '^tests/' -e '^bench/' -e '^fuzz/' -e '^build')

# One line per offender: "path" or "path:function", then a tab and the message.
offenders=$(for f in $files; do
  awk -v max_file="$max_file" -v max_function="$max_function" -v path="$f" '
    # A definition starts at column 0 with a name, not a type or a table;
    # its opening brace ends the line of its last parameter.
    /^[A-Za-z_]/ && !/^(typedef|struct|enum|union)[^(]*$/ && !/=/ && !/;[[:space:]]*$/ {
      if (!in_body && index($0, "(") > 0) {
        head = substr($0, 1, index($0, "(") - 1)
        n = split(head, words, /[ *]+/)
        name = words[n]
        candidate = 1
      }
    }
    /;[[:space:]]*$/ && !in_body { candidate = 0 }
    candidate && !in_body && /\{[[:space:]]*$/ { in_body = 1; start = NR; next }
    in_body && /^}/ {
      len = NR - start - 1
      if (len > max_function)
        printf "%s:%s\t%s: function %s() is %d lines long (at most %d)\n", path, name, path, name, len, max_function
      in_body = 0; candidate = 0
    }
    END {
      if (NR > max_file)
        printf "%s\t%s: %d lines long (at most %d)\n", path, path, NR, max_file
    }' "$f"
done)

listed=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$allow" | sed 's/[[:space:]]*$//' || true)
failed=0
tab=$(printf '\t')
while IFS=$tab read -r key message; do
  [ -n "$key" ] || continue
  if printf '%s\n' "$listed" | grep -qxF "$key"; then
    echo "allowed for now: $message"
  else
    echo "FAIL: $message: split it (or, for a good reason, list \"$key\" in $allow)"
    failed=1
  fi
done <<END
$offenders
END
for key in $listed; do
  if ! printf '%s\n' "$offenders" | cut -f1 | grep -qxF "$key"; then
    echo "FAIL: $key is within the limits now: remove it from $allow"
    failed=1
  fi
done
[ "$failed" -eq 0 ] || exit 1
echo "ok: no file over $max_file lines, no function over $max_function lines (besides $allow)"
