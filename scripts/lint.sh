#!/bin/sh
# House checks that the compiler does not make (STYLE.md rules 5, 11, 14, 19):
# banned functions, raw allocation, *_int.h includes from outside their folder, file length,
# and clang-format conformance. Prints every finding; exits 1 if there is any.
set -u
cd "$(dirname "$0")/.." || exit 2
status=0
files=$(git ls-files 'src/*.c' 'src/*.h' 2>/dev/null)
[ -n "$files" ] || files=$(find src -name '*.[ch]')

report() { printf '%s\n' "$1"; status=1; }

# Banned string functions.
out=$(grep -nE '(^|[^_[:alnum:]])(strcpy|strcat|sprintf|vsprintf|strncpy|strtok|atoi|atol|gets)[[:space:]]*\(' $files | grep -v 'snprintf\|vsnprintf')
[ -n "$out" ] && report "banned string functions (use kiln_buf / kiln_parse_*):
$out"

# Raw allocation outside core/mem.c.
out=$(grep -nE '(^|[^_[:alnum:]])(malloc|calloc|realloc|free|strdup|strndup)[[:space:]]*\(' $files | grep -v '^src/core/mem.c:' | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*)' | grep -v 'kiln_\|json_\|_free(\|freeaddrinfo\|sqlite3_free\|PQfree\|curl_free\|XGB')
[ -n "$out" ] && report "raw allocation (use core/mem.h):
$out"

# Private headers included from another folder.
for f in $files; do
    dir=$(dirname "$f")
    grep -nE '#include "[a-z_/]+_int\.h"' "$f" | while IFS= read -r line; do
        inc=$(printf '%s' "$line" | sed -E 's/.*#include "([^"]+)".*/\1/')
        case "$inc" in
            */*) incdir="src/$(dirname "$inc")" ;;
            *) incdir="$dir" ;;
        esac
        case "$dir/" in
            "$incdir"/*) ;;
            *) echo "$f: includes private header $inc" ;;
        esac
    done
done > /tmp/kiln-lint-int.$$
if [ -s /tmp/kiln-lint-int.$$ ]; then report "private headers used outside their subsystem:
$(cat /tmp/kiln-lint-int.$$)"; fi
rm -f /tmp/kiln-lint-int.$$

# File length: hard limit 1500 lines (soft limit 800 is reviewed, not enforced).
for f in $files; do
    n=$(wc -l < "$f")
    [ "$n" -gt 1500 ] && report "$f: $n lines (hard limit 1500; split by concern)"
done

# Formatting.
if command -v clang-format >/dev/null 2>&1; then
    out=$(clang-format --dry-run --Werror $files 2>&1 | grep -E '^[^ ].*: error' | cut -d: -f1 | sort -u)
    [ -n "$out" ] && report "not clang-formatted (run 'make format'):
$out"
fi
exit $status
