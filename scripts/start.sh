#!/bin/sh
# `npm start [-- ARGS]`: dependencies, a build, then livescan. A livescan already running from
# this checkout must not have dist/ rebuilt under it only for the second one to find its ports
# taken: the ports are checked first, with the code already built (exit 3: a port is taken, and
# main.js has said which variable to change). A fresh clone has nothing built and nothing running.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
if [ -f dist/main.js ]; then
  rc=0
  node dist/main.js --check "$@" >/dev/null || rc=$?
  [ "$rc" -ne 3 ] || exit 3
fi
npm run build --silent
exec node dist/main.js "$@"
