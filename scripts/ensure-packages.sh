#!/usr/bin/env bash
# Installs those of the given Debian packages that are missing, so that every
# make target works on a fresh Debian with nothing but make. Without root it
# installs nothing: it prints the command that would, and fails.
#   scripts/ensure-packages.sh PACKAGE...
set -euo pipefail

missing=()
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
((${#missing[@]} == 0)) && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "Missing Debian packages. Run: sudo apt-get install -y ${missing[*]}"
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
