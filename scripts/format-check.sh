#!/usr/bin/env bash
# make format-check: every tracked .c/.h file against .clang-format, changing
# nothing. Lists the files that differ and exits 1 when there is one; `make
# format` rewrites them. -v prints clang-format's first difference per file.
#
# Formatting differs between clang-format releases, so the check runs only
# with the major version .clang-format names (the one scripts/bootstrap.sh
# installs); CLANG_FORMAT picks another binary (e.g. clang-format-14).
set -euo pipefail
cd "$(dirname "$0")/.."

verbose=0
[ "${1:-}" = "-v" ] && verbose=1
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null; then
  echo "format-check: $cf not found (scripts/bootstrap.sh installs clang-format)" >&2
  exit 2
fi
want=$(sed -n 's/^# clang-format major version: *\([0-9]*\).*/\1/p' .clang-format)
have=$("$cf" --version | sed -n 's/.*clang-format version \([0-9]*\).*/\1/p')
if [ -z "$want" ] || [ "$have" != "$want" ]; then
  echo "format-check: .clang-format is for clang-format ${want:-?}, $cf is ${have:-?}" >&2
  exit 2
fi

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c' '*.h')
else
  mapfile -t files < <(find . -path ./build -prune -o -path './build-*' -prune \
    -o \( -name '*.c' -o -name '*.h' \) -type f -print | sed 's|^\./||' | sort)
fi

bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue # deleted in the work tree, not yet committed
  if ! out=$("$cf" --dry-run -Werror --ferror-limit=1 "$f" 2>&1); then
    echo "$f"
    [ $verbose = 1 ] && printf '%s\n' "$out" | sed 's/^/    /'
    bad=$((bad + 1))
  fi
done
if [ $bad -gt 0 ]; then
  echo "format-check: $bad of ${#files[@]} files differ from .clang-format (make format fixes them)"
  exit 1
fi
echo "format-check: ${#files[@]} files match .clang-format"
