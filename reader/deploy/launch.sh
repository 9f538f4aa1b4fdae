#!/bin/sh
# kantine reader launcher: systemd's ExecStart. Starts the release in /opt/kantine-reader/current,
# and rolls an update back by itself: while an update waits for its health check (the reader
# writes $STATE/update/ before it switches slots and removes it once the new version is connected
# and configured), every start is counted; after 3 starts without that, `current` goes back to the
# slot it came from and the version is remembered as failed, so it is not tried again.
set -eu

BASE=${KANTINE_READER_BASE:-/opt/kantine-reader}
STATE=${KANTINE_READER_STATE:-/var/lib/kantine-reader}
NODE=${KANTINE_NODE:-node}
MAX_STARTS=3
UPDATE="$STATE/update"

if [ -f "$UPDATE/to" ]; then
  starts=$(cat "$UPDATE/starts" 2>/dev/null || echo 0)
  starts=$((starts + 1))
  echo "$starts" >"$UPDATE/starts"
  if [ "$starts" -gt "$MAX_STARTS" ]; then
    from=$(cat "$UPDATE/from")
    version=$(cat "$UPDATE/version")
    printf 'kantine-reader launch: release %s did not become healthy in %s starts: back to %s\n' "$version" "$MAX_STARTS" "$from" >&2
    ln -sfn "$from" "$BASE/current.new"
    mv -T "$BASE/current.new" "$BASE/current"
    echo "$version" >>"$STATE/failed-versions"
    rm -rf "$UPDATE"
  fi
fi

exec "$NODE" "$BASE/current/app/kantine-reader.mjs" "$@"
