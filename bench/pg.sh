# bench/pg.sh: the PostgreSQL parts of bench/run.sh (pgaccept1, pgaccept20,
# pge2e), sourced by it: relayd with --spool postgres://..., one node or
# two on one database, measured in the same run as the bbolt rows and
# Postfix.
#
# The server is a throw-away one in the scratch directory ($W/pg, on the
# same disk as relayd's bbolt spool and Postfix's queue): Debian's
# binaries, run as user postgres when the bench runs as root (PostgreSQL
# refuses root), listening on a Unix socket in $W/pg only, durable as a
# production spool must be (fsync on, synchronous_commit on, full page
# writes), shared_buffers 256MB, everything else at PostgreSQL's
# defaults. Each measured relayd gets a fresh database, created after a
# CHECKPOINT so that no run inherits another's dirty pages.
#
# Knobs: PG_SLOTS (8: --delivery-concurrency of every relayd in the pge2e
# rows, per node), PG_DELAY_MS (20: how long the sink of the pge2e rows
# takes to answer each message, in milliseconds), PG_STATEMENTS (0; 1: load
# pg_stat_statements and log each run's costliest statements), PG_SAMPLE
# (0; 1: log what the holder of the writers' lock was doing, sampled every
# 10 ms, in pgaccept20's smtp-source run and the pge2e runs).

PG_DIR=$W/pg
PG_BIN=
PG_UP=0
SYS_PG=   # a system cluster that installing the package started ("15 main")
PG_AS=()  # prefix that runs a command as the server's owner
P_NODE2=$((BASE_PORT + 6)) # the second node's SMTP listener
PG_SLOTS=${PG_SLOTS:-8}
PG_DELAY_MS=${PG_DELAY_MS:-20}

# need_postgres finds PostgreSQL's server binaries (the newest of
# /usr/lib/postgresql/*/bin), installing Debian's postgresql if there are none.
need_postgres() {
	pg_find && return 0
	if [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; then
		die "PostgreSQL's server is not installed and we are not root: install the Debian package postgresql"
	fi
	log "installing postgresql (Debian package)"
	$SUDO apt-get update -qq >/dev/null
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
	pg_find || die "postgresql installed, but no /usr/lib/postgresql/*/bin/initdb"
	# The package creates a cluster "main" and may start it: ours to stop.
	SYS_PG=$(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" { print $1, $2; exit }' || true)
}

pg_find() {
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n | tail -1)
	[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ]
}

# pg_start: initdb and start the bench's server in $PG_DIR.
pg_start() {
	mkdir -p "$PG_DIR"
	if [ "$(id -u)" = 0 ]; then
		local owner=postgres
		id postgres >/dev/null 2>&1 || owner=nobody
		chown "$owner" "$PG_DIR"
		PG_AS=(runuser -u "$owner" --)
	fi
	log "starting PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }') in $PG_DIR (fsync on)"
	"${PG_AS[@]}" env LC_ALL=C "$PG_BIN/initdb" -D "$PG_DIR/data" -U relay --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 ||
		die "initdb failed; see $PG_DIR/initdb.log"
	local preload=
	[ "${PG_STATEMENTS:-0}" = 1 ] && preload="shared_preload_libraries = 'pg_stat_statements'"
	cat >>"$PG_DIR/data/postgresql.conf" <<EOF
# bench/run.sh: durable as a spool must be, on the Unix socket only.
listen_addresses = ''
unix_socket_directories = '$PG_DIR'
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 256MB
max_connections = 200
track_wal_io_timing = on
$preload
EOF
	PG_UP=1
	"${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 start >/dev/null ||
		die "PostgreSQL did not start; see $PG_DIR/log"
	[ "${PG_STATEMENTS:-0}" = 1 ] && pg_sql "CREATE EXTENSION pg_stat_statements" >/dev/null
	PGVER="PostgreSQL $(pg_sql "SHOW server_version" | awk '{ print $1 }')"
}

# pg_stop: stops the server (cleanup), and a system one the install started.
pg_stop() {
	if [ "$PG_UP" = 1 ]; then
		"${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			"${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
		PG_UP=0
	fi
	if [ -n "$SYS_PG" ]; then
		$SUDO pg_ctlcluster $SYS_PG stop >/dev/null 2>&1 || true
	fi
}

# pg_sql SQL [DATABASE]: runs SQL as the superuser; prints unaligned rows.
pg_sql() { "$PG_BIN/psql" -h "$PG_DIR" -U relay -d "${2:-postgres}" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# pg_db NAME: a checkpoint, then a fresh database NAME; prints its URL.
pg_db() {
	pg_sql CHECKPOINT >/dev/null
	pg_sql "CREATE DATABASE $1" >/dev/null || die "CREATE DATABASE $1 failed"
	echo "postgres://relay@/$1?host=$PG_DIR"
}

# pg_relayd NAME URL HOLD UPSTREAM_PORT SMTP_PORT [FLAGS...]: relayd as
# node NAME of the shared spool at URL, as relayd_start starts it (hold
# window, upstream, trusted network for smtp-source, the bench's brake),
# without the Mail Send API and console. Sets PG_PID; RD_PASS when this
# node created the spool (the bootstrap credential).
PG_PID=
pg_relayd() {
	local name=$1 url=$2 hold=$3 up=$4 port=$5 data=$W/relayd-$1
	shift 5
	mkdir -p "$data"
	local brake=(${BRAKE:---brake-rate 1000000})
	"$W/bin/relayd" --data "$data" --spool "$url" --node-name "$name" --smtp-listen "127.0.0.1:$port" --console-listen off \
		--hold "$hold" --upstream "smtp://127.0.0.1:$up?tls=none" --trusted-networks 127.0.0.1/32 "${brake[@]}" "$@" \
		>>"$data.stdout" 2>>"$data.log" &
	PG_PID=$!
	PIDS+=("$PG_PID")
	local end=$((SECONDS + 60))
	until banner "$port"; do
		kill -0 "$PG_PID" 2>/dev/null && [ $SECONDS -lt $end ] || die "relayd $name did not start; see $data.log"
		sleep 0.01
	done
	local pass
	pass=$(awk '/password:/ { p = $2 } END { print p }' "$data.stdout")
	[ -z "$pass" ] || RD_PASS=$pass
}

# pg_node_stop PID: stops a node (as relayd_stop does).
pg_node_stop() {
	kill "$1" 2>/dev/null || true
	wait_gone "$1" 60 || die "relayd did not stop"
}

# pg_idle DATABASE: waits (10 s at most) until no server process serves
# DATABASE, so that its statistics are flushed (a backend flushes them as
# it exits).
pg_idle() {
	local end=$((SECONDS + 10))
	until [ "$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE datname = '$1'")" = 0 ]; do
		[ $SECONDS -ge $end ] && return 0
		sleep 0.05
	done
}

# pg_wal: "bytes fsyncs fsync_ms" of the server's WAL so far (pg_stat_wal).
pg_wal() { pg_sql "SELECT wal_bytes, wal_sync, wal_sync_time FROM pg_stat_wal" | tr '|' ' '; }

# pg_wal_row BEFORE AFTER MESSAGES: "KiB WAL per message; messages per WAL
# fsync; ms per fsync" between two pg_wal readings.
pg_wal_row() {
	awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {
		split(a, x, " "); split(b, y, " ")
		s = y[2] - x[2]
		per = 0; ms = 0
		if (s > 0) { per = n / s; ms = (y[3] - x[3]) / s }
		printf "%.1f KiB WAL per message; %.1f messages per WAL fsync (%d fsyncs, %.2f ms each)", (y[1] - x[1]) / 1024 / n, per, s, ms
	}'
}

# pg_statements DATABASE: with PG_STATEMENTS=1, logs the statements that
# cost the most server time since the last reset, then resets.
pg_statements() {
	[ "${PG_STATEMENTS:-0}" = 1 ] || return 0
	log "PostgreSQL: costliest statements on $1 (calls, total ms, mean ms, rows, statement)"
	pg_sql "SELECT calls, round(total_exec_time), round(mean_exec_time::numeric, 3), rows, left(regexp_replace(query, '\s+', ' ', 'g'), 110)
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$1'
		ORDER BY total_exec_time DESC LIMIT 10" | sed 's/^/   /' >&2
	pg_sql "SELECT 'write transactions: ' || calls || ', waiting for the writers'' lock ' || round(mean_exec_time::numeric, 2) || ' ms each on average'
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$1' AND query LIKE '%pg_advisory_xact_lock%'" | sed 's/^/   /' >&2
	pg_sql "SELECT pg_stat_statements_reset()" >/dev/null
}

# pg_run NAME HOLD UPSTREAM_PORT: one node on a fresh database NAME,
# on P_RELAYD, as the accept rows' relayd (RD_PID, RD_DATA), its WAL
# counted from here (PG_WAL0).
PG_WAL0=
pg_run() {
	local url
	url=$(pg_db "$1")
	[ "${PG_STATEMENTS:-0}" = 1 ] && pg_sql "SELECT pg_stat_statements_reset()" >/dev/null
	PG_WAL0=$(pg_wal)
	pg_relayd "$1" "$url" "$2" "$3" "$P_RELAYD" "${@:4}"
	RD_PID=$PG_PID RD_DATA=$W/relayd-$1
}

# pg_done NAME MESSAGES: stops the node pg_run started; its WAL row into
# PG_WALROW.
PG_WALROW=
pg_done() {
	relayd_stop
	pg_idle "$1"
	pg_statements "$1"
	PG_WALROW=$(pg_wal_row "$PG_WAL0" "$(pg_wal)" "$2")
}

# pg_sample_start DATABASE: with PG_SAMPLE=1, samples every 10 ms (one
# psql session) what the holder of the writers' lock is doing, and how
# many backends wait for it. A write transaction is the one with an xid
# (the driver asks for it as it takes the lock); "waiting for relayd" is
# its backend idle in the transaction, between relayd's round trips.
PG_SAMPLER=
pg_sample_start() {
	[ "${PG_SAMPLE:-0}" = 1 ] || return 0
	local q="SELECT coalesce((SELECT CASE WHEN wait_event_type IN ('IO', 'LWLock') THEN 'in COMMIT or a write: ' || wait_event
		WHEN state = 'idle in transaction' THEN 'waiting for relayd between round trips' ELSE 'executing SQL' END
		FROM pg_stat_activity WHERE datname = '$1' AND backend_xid IS NOT NULL AND wait_event_type IS DISTINCT FROM 'Lock' LIMIT 1),
		'no write transaction') || ', ' || (SELECT count(*) FROM pg_stat_activity WHERE datname = '$1' AND wait_event_type = 'Lock') || ' waiting for the lock';"
	q=$(tr '\n\t' '  ' <<<"$q")
	{ while :; do echo "$q"; sleep 0.01; done | "$PG_BIN/psql" -h "$PG_DIR" -U relay -d postgres -XAtq >"$W/samples-$1"; } 2>/dev/null &
	PG_SAMPLER=$!
	disown "$PG_SAMPLER" # no "Terminated" notice when it is stopped
}

# pg_sample_stop DATABASE: stops the sampler; logs its shares.
pg_sample_stop() {
	[ -n "$PG_SAMPLER" ] || return 0
	# Its children first (the loop and psql): orphaned, they would linger.
	pkill -P "$PG_SAMPLER" 2>/dev/null || true
	kill "$PG_SAMPLER" 2>/dev/null || true
	PG_SAMPLER=
	log "PostgreSQL $1: the writers' lock holder, by share of $(wc -l <"$W/samples-$1") samples"
	sort "$W/samples-$1" | uniq -c | sort -rn | awk -v n="$(wc -l <"$W/samples-$1")" '{ c = $1; $1 = ""; printf "   %5.1f %%%s\n", 100 * c / n, $0 }' >&2
}

# pg_accept_bench: accept on PostgreSQL, into relayd's hold (1h, as the
# bbolt accept rows): relayload then smtp-source, one relayd and database
# per session count.
pr1= pr20= pgs1= pgs20= pgw1= pgw20=
pg_accept_bench() {
	if on pgaccept1; then
		log "PostgreSQL accept: relayload and smtp-source, 1 session"
		pg_run pgaccept1 1h "$P_DEAD"
		pr1=$(load "$P_RELAYD" 1 "$N1" --new-conn-per-message --user default --password "$RD_PASS")
		pgs1=$(feed "$P_RELAYD" 1 "$N1")
		pg_done pgaccept1 $((2 * N1))
		pgw1=$PG_WALROW
	fi
	if on pgaccept20; then
		log "PostgreSQL accept: relayload and smtp-source, $SESSIONS sessions"
		pg_run pgaccept20 1h "$P_DEAD"
		warm_login
		pr20=$(load "$P_RELAYD" "$SESSIONS" "$N20" --new-conn-per-message --user default --password "$RD_PASS")
		pg_sample_start pgaccept20
		pgs20=$(feed "$P_RELAYD" "$SESSIONS" "$N20")
		pg_sample_stop pgaccept20
		pg_done pgaccept20 $((2 * N20 + 10))
		pgw20=$PG_WALROW
	fi
}

# slowsink N: bench/slowsink on P_SINK, answering each message after
# PG_DELAY_MS, exiting after N (as sink does with smtp-sink).
slowsink() {
	port_free "$P_SINK" || die "port $P_SINK is busy"
	"$W/bin/slowsink" --listen "127.0.0.1:$P_SINK" --delay "${PG_DELAY_MS}ms" --count "$1" 2>>"$W/slowsink.log" &
	SINK_PID=$!
	PIDS+=("$SINK_PID")
	wait_banner "$P_SINK" 10 || die "slowsink did not start"
}

# pg_e2e_bench: end to end, hold 0s, into slowsink, every relayd with
# PG_SLOTS delivery slots: bbolt (the reference), one node on
# PostgreSQL, then two nodes on one database, each fed half the sessions
# and half the messages at once. Each figure is from the first message
# sent to the last one at the sink.
pge_bolt= pge1= pge2= pgea1= pgew1= pgew2=
pg_e2e_bench() {
	local t0 slots=(--delivery-concurrency "$PG_SLOTS")
	log "end to end into a sink answering after $PG_DELAY_MS ms, $PG_SLOTS slots per relayd: bbolt"
	DELIVERY_CONCURRENCY=$PG_SLOTS relayd_start pge2e-bolt 0s "$P_SINK"
	slowsink "$N20"
	t0=$(now)
	feed "$P_RELAYD" "$SESSIONS" "$N20" >/dev/null
	wait_gone "$SINK_PID" "$LIMIT" || die "relayd (bbolt): not all delivered within ${LIMIT}s"
	pge_bolt=$(secs "$t0" "$(now)")
	relayd_stop

	log "end to end on PostgreSQL: one node"
	pg_run pge2e1 0s "$P_SINK" "${slots[@]}"
	slowsink "$N20"
	pg_sample_start pge2e1
	t0=$(now)
	pgea1=$(feed "$P_RELAYD" "$SESSIONS" "$N20")
	wait_gone "$SINK_PID" "$LIMIT" || die "relayd (PostgreSQL, one node): not all delivered within ${LIMIT}s"
	pge1=$(secs "$t0" "$(now)")
	pg_sample_stop pge2e1
	pg_done pge2e1 "$N20"
	pgew1=$PG_WALROW

	log "end to end on PostgreSQL: two nodes, $((SESSIONS / 2)) sessions each"
	local url a b fa fb half=$((N20 / 2))
	url=$(pg_db pge2e2)
	PG_WAL0=$(pg_wal)
	pg_relayd pge2e2-a "$url" 0s "$P_SINK" "$P_RELAYD" "${slots[@]}"
	a=$PG_PID
	pg_relayd pge2e2-b "$url" 0s "$P_SINK" "$P_NODE2" "${slots[@]}"
	b=$PG_PID
	slowsink "$N20"
	pg_sample_start pge2e2
	t0=$(now)
	feed "$P_RELAYD" $((SESSIONS / 2)) "$half" >/dev/null &
	fa=$!
	feed "$P_NODE2" $((SESSIONS - SESSIONS / 2)) $((N20 - half)) >/dev/null &
	fb=$!
	wait "$fa" || die "feeding node a failed"
	wait "$fb" || die "feeding node b failed"
	wait_gone "$SINK_PID" "$LIMIT" || die "relayd (PostgreSQL, two nodes): not all delivered within ${LIMIT}s"
	pge2=$(secs "$t0" "$(now)")
	pg_sample_stop pge2e2
	pg_node_stop "$a"
	pg_node_stop "$b"
	pg_idle pge2e2
	pg_statements pge2e2
	pgew2=$(pg_wal_row "$PG_WAL0" "$(pg_wal)" "$N20")
	pg_sql CHECKPOINT >/dev/null # its cost here, not in the parts that follow
}

# with_bolt FIGURE BOLT: FIGURE, and bbolt's figure of the same run beside
# it when that part ran.
with_bolt() { echo "$1${2:+ (bbolt: $2)}"; }

pg_accept_rows() {
	local a b
	if on pgaccept1; then
		row "accept on PostgreSQL, 1 session (relayload, AUTH, msgs/s)" "$(with_bolt "$(num "$(field rate "$pr1")")" "$(num "$(field rate "$r1")")")" \
			"$(num "$(field rate "$p1")")" "$(ratio "$(field rate "$pr1")" "$(field rate "$p1")")" "" ""
		b=$(field p50 "$r1")
		row "250 latency p50 / p99 on PostgreSQL, 1 session (ms)" "$(with_bolt "$(field p50 "$pr1") / $(field p99 "$pr1")" "$(pair "$b" "$(field p99 "$r1")")")" \
			"$(pair "$(field p50 "$p1")" "$(field p99 "$p1")")" "" "" ""
		a=$(rate "$N1" "$pgs1") b=
		[ -n "$s1" ] && b=$(num "$(rate "$N1" "$s1")")
		local pa1=
		[ -n "$ps1" ] && pa1=$(rate "$N1" "$ps1")
		row "accept on PostgreSQL, 1 session (smtp-source, msgs/s)" "$(with_bolt "$(num "$a")" "$b")" "$(num "$pa1")" "$(ratio "$a" "$pa1")" "" ""
		row "PostgreSQL's WAL, 1 session (both loads)" "$pgw1" "" "" "" ""
	fi
	if on pgaccept20; then
		row "accept on PostgreSQL, $SESSIONS sessions (relayload, AUTH, msgs/s)" "$(with_bolt "$(num "$(field rate "$pr20")")" "$(num "$(field rate "$r20")")")" \
			"$(num "$(field rate "$p20")")" "$(ratio "$(field rate "$pr20")" "$(field rate "$p20")")" "" ""
		row "250 latency p50 / p99 on PostgreSQL, $SESSIONS sessions (ms)" "$(with_bolt "$(field p50 "$pr20") / $(field p99 "$pr20")" "$(pair "$(field p50 "$r20")" "$(field p99 "$r20")")")" \
			"$(pair "$(field p50 "$p20")" "$(field p99 "$p20")")" "" "" ""
		a=$(rate "$N20" "$pgs20") b=
		[ -n "$s20" ] && b=$(num "$(rate "$N20" "$s20")")
		local pa20=
		[ -n "$ps20" ] && pa20=$(rate "$N20" "$ps20")
		row "**accept on PostgreSQL, $SESSIONS sessions (smtp-source, msgs/s)**" "$(with_bolt "$(num "$a")" "$b")" "$(num "$pa20")" "$(ratio "$a" "$pa20")" \
			"≥ 1.0× Postfix" "$(verdicts "$(if_pf "$a >= $pa20")")"
		row "PostgreSQL's WAL, $SESSIONS sessions (both loads)" "$pgw20" "" "" "" ""
	fi
}

pg_e2e_rows() {
	on pge2e || return 0
	local bolt one two sink="into a sink answering after $PG_DELAY_MS ms, $PG_SLOTS delivery slots per node (at most $(rate $((1000 * PG_SLOTS)) "$PG_DELAY_MS")/s per node)"
	bolt=$(rate "$N20" "$pge_bolt") one=$(rate "$N20" "$pge1") two=$(rate "$N20" "$pge2")
	row "end to end, hold 0s, bbolt, $sink (smtp-source, msgs/s)" "$(num "$bolt")" "" "" "" ""
	row "end to end, hold 0s, PostgreSQL, 1 node, $SESSIONS sessions, $sink (smtp-source, msgs/s)" "$(num "$one") (accept while delivering: $(num "$(rate "$N20" "$pgea1")"))" "" "" "" ""
	row "**end to end, hold 0s, PostgreSQL, 2 nodes on one database × $((SESSIONS / 2)) sessions, $sink (smtp-source, msgs/s)**" \
		"$(num "$two") ($(awk -v a="$two" -v b="$one" 'BEGIN { printf "%.2f", a / b }')× 1 node)" "" "" "2 nodes > 1 node" "$(verdict "$two > $one")"
	row "PostgreSQL's WAL end to end, 1 node / 2 nodes" "$pgew1 / $pgew2" "" "" "" ""
}
