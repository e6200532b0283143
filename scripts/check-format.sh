#!/usr/bin/env bash
# Fails, listing them, when tracked C or C++ files (*.h, *.cc, *.c) are not
# laid out as .clang-format says. It only checks; `clang-format -i FILE...`
# fixes them.
#   scripts/check-format.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-packages.sh clang-format

files=()
offenders=()
while IFS= read -r -d '' file; do
  files+=("$file")
  clang-format --dry-run -Werror "$file" >/dev/null 2>&1 || offenders+=("$file")
done < <(git ls-files -z -- '*.h' '*.cc' '*.c')

if ((${#offenders[@]} > 0)); then
  echo "clang-format: ${#offenders[@]} of ${#files[@]} files differ from .clang-format (clang-format -i fixes them):"
  printf '  %s\n' "${offenders[@]}"
  exit 1
fi
echo "clang-format: all ${#files[@]} files as .clang-format says"
