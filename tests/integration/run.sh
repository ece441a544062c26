#!/bin/sh
# Run the integration tier from the repository root.
#   POOLER=usher (default; binary from USHER_BIN, default build/usher)
#   POOLER=pgbouncer (Debian's /usr/sbin/pgbouncer, the reference)
# Extra arguments go to pytest, e.g. tests/integration/run.sh -k auth -x
set -eu
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 -m pytest -q tests/integration "$@"
