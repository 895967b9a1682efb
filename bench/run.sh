#!/bin/sh
# Pins the load generator to core 1 (the servers pin themselves to core 0) when taskset exists.
cd "$(dirname "$0")/.."
# the p3 servers run the compiled code, as npm start does
[ -n "$BENCH_NO_BUILD" ] || npx tsc -p tsconfig.build.json
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  exec taskset -c 1 node --import tsx bench/run.ts "$@"
fi
exec node --import tsx bench/run.ts "$@"
