#!/bin/bash
# suite-w4.sh - the whole integration suite again with workers = 4 (the
# scenarios are the same; pgring's setting changes).  make check runs it
# beside suite.sh, which runs at workers = 1 unless WORKERS says otherwise:
# each has its own PostgreSQL, temp directory and ports.
export WORKERS=4
exec "$(dirname "${BASH_SOURCE[0]}")/suite.sh" "$@"
