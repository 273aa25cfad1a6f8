#!/usr/bin/env bash
# Prints where the nginx source archives of the build matrix are by default:
# ../shared/nginx-src next to the repository (or next to its main checkout, for a
# git worktree elsewhere). Prints the first candidate when none exists.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
first=$repo/../shared/nginx-src
main_checkout=$(cd "$repo" && git rev-parse --path-format=absolute --git-common-dir 2>/dev/null | xargs -r dirname)
for candidate in "$first" ${main_checkout:+"$main_checkout/../shared/nginx-src"}; do
  if [[ -d $candidate ]]; then
    (cd "$candidate" && pwd)
    exit 0
  fi
done
echo "$first"
