#!/usr/bin/env bash
# Prints where the nginx source archives of the build matrix are: $WHY502_NGINX_SRC
# when set, else ../shared/nginx-src next to the repository (or next to its main
# checkout, for a git worktree elsewhere). Prints the first candidate when none
# exists. The one place the scripts (build-nginx.sh, test-matrix.sh, test.sh) ask.
set -euo pipefail
if [[ -n ${WHY502_NGINX_SRC:-} ]]; then
  echo "$WHY502_NGINX_SRC"
  exit 0
fi
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
