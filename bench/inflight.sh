#!/usr/bin/env bash
# bench/inflight.sh [REV]: relayd's peak resident memory while SESSIONS
# sessions (default 100) each stream a SIZE message (default 20MiB) at once,
# for the relayd of the work tree and, if REV is given, of that commit
# (e.g. main) for comparison. Extra relayd flags: RELAYD_ARGS. See
# bench/inflight/main.go; README "Memory" has the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-100}
SIZE=${SIZE:-20MiB}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/inflight" ./bench/inflight
go build -o "$tmp/relayd" ./cmd/relayd
if [ -n "${1:-}" ]; then
	mkdir "$tmp/src"
	git archive "$1" | tar -x -C "$tmp/src"
	(cd "$tmp/src" && go build -o "$tmp/relayd-rev" ./cmd/relayd)
	printf '%s: ' "$1"
	"$tmp/inflight" --relayd "$tmp/relayd-rev" --sessions "$SESSIONS" --size "$SIZE"
fi
printf 'work tree: '
# shellcheck disable=SC2086
"$tmp/inflight" --relayd "$tmp/relayd" --sessions "$SESSIONS" --size "$SIZE" -- ${RELAYD_ARGS:-}
