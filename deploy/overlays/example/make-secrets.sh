#!/usr/bin/env bash
# Writes the example overlay's credential files into secrets/ (git-ignored, mode 0600).
# DB_USER and DB_PASSWORD come from the environment when set (your database's real ones); anything
# unset is generated at random. Existing files are kept, so re-running never rotates by accident.
set -euo pipefail
umask 077
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"

random() { head -c 48 /dev/urandom | base64 | tr -d '/+=\n' | head -c 50; }

write() {
  local file="$dir/$1" value="$2"
  if [ -e "$file" ]; then
    echo "kept    $file"
  else
    printf '%s' "$value" > "$file"
    echo "created $file"
  fi
}

write db-user "${DB_USER:-sidecar_demo}"
write db-password "${DB_PASSWORD:-$(random)}"
write django-secret-key "$(random)"
