#!/bin/sh
# Installs what livescan needs on a fresh Debian machine with Node 20, and nothing when it is
# already there: node_modules from the lock file, and redis-server from Debian's packages.
set -eu
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ensure-deps: installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
updated=""
apt_install() {
  # $1: the package, $2: why
  echo "ensure-deps: $1 missing ($2), installing Debian's package" >&2
  if [ -z "$updated" ]; then $SUDO apt-get update -qq; updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$1" >/dev/null
}

# livescan starts its own redis-server on a free port (the package's system instance is unused).
command -v redis-server >/dev/null 2>&1 || apt_install redis-server "needed to run and test livescan"

# The dashboard's browser test drives Debian's Chromium with playwright-core.
if [ "${1:-}" = "--with-browser" ] && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium "needed by the dashboard's browser test"
fi

# The alert rules are checked by promtool and fired by a real Prometheus in the tests (test/ops).
if [ "${1:-}" = "--with-browser" ] && { [ ! -x /usr/bin/prometheus ] || ! command -v promtool >/dev/null 2>&1; }; then
  apt_install prometheus "needed by the alert rules' tests (promtool, a real Prometheus)"
fi
