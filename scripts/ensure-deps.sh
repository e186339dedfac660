#!/bin/sh
# Installs what livescan needs on a fresh Debian machine with Node 20, and nothing when it is
# already there: node_modules from the lock file, and redis-server from Debian's packages.
set -eu
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ensure-deps: installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "ensure-deps: redis-server missing, installing Debian's package" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
  # Debian's package starts a system-wide instance; livescan runs its own on a free port.
fi
