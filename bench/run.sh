#!/usr/bin/env bash
# bench/run.sh: relayd measured side by side with Postfix on this machine.
#
#   make bench                 # or: bench/run.sh
#   QUICK=1 make bench         # smaller counts, no 1,000,000-message spool (a smoke run)
#   POSTFIX=0 make bench       # relayd alone (smtp-source and smtp-sink are still used)
#   ONLY="ceiling accept1" bench/run.sh   # only some parts (see ONLY below)
#
# It builds relayd, relayctl, relayload and the bench tools into a scratch
# directory, installs Postfix if smtp-source/smtp-sink are missing (apt-get,
# as root), runs a throw-away Postfix instance bound to 127.0.0.1 with its
# own config and queue directories on the same disk as relayd's spool, feeds
# both servers with the same load, and prints one markdown table: our
# figure, Postfix's, the ratio, the target and whether it was met. The
# targets are ratios to Postfix measured in the same run (issue 17), so
# that the machine's speed cancels out. Everything it starts (relayd,
# smtp-sink, Postfix) it stops on exit, error or Ctrl-C. Every wait is
# bounded.
#
# The PostgreSQL rows (parts pgaccept1, pgaccept20, pge2e; bench/pg.sh):
# relayd with --spool postgres://..., on a throw-away PostgreSQL server
# (Debian's, installed by apt-get if missing) in the scratch directory,
# so on the same disk as relayd's bbolt spool and Postfix's queue, with
# fsync and synchronous_commit on, listening on a Unix socket only. The
# accept rows sit beside bbolt's and Postfix's of the same run; pge2e
# delivers into bench/slowsink, which answers each message after
# PG_DELAY_MS, so that the delivery slots, not two relayd sharing the
# CPUs, bound the rate: bbolt, one node, then two nodes on one database.
#
# The storage ceiling (part "ceiling", first, before any server runs so
# that the disk is quiet): bench/ceiling, in the scratch directory, times
# an fdatasync of 4 KiB (overwritten, and into a new block as bbolt's
# grown file takes them), one bbolt commit of SIZE bytes (two fdatasyncs:
# data, then meta page), and a bare group-commit loop over bbolt opened as
# the spool opens it: SESSIONS writers each putting N20 / SESSIONS values
# of SIZE bytes one after the other, one goroutine committing whatever is
# queued in one transaction (as spool.commitLoop does), no SMTP. That rate
# is as many fsync'd messages per second as this disk takes through
# bbolt: no accept can beat it, and the accept rows at SESSIONS sessions
# say which share of it relayd reaches (issue 17's target: half).
#
# Knobs (environment): BENCH_DIR (where the scratch directory goes, default
# /var/tmp: never a tmpfs, where fsync costs nothing), BASE_PORT (default
# 2790, and the 5 after it), SIZE (10240), SESSIONS (20), N1 (2,000: messages at 1 session),
# N20 (20,000: at SESSIONS sessions, end to end, and the release test), NBULK
# (100,000), NBIG (1,000,000), POSTFIX (1), QUICK (0), KEEP (0: keep the
# scratch directory), DELIVERY_CONCURRENCY (relayd's --delivery-concurrency;
# default: relayd's own), BRAKE (relayd's brake flags for every run but the
# brake's own: default "--brake-rate 1000000", the detector counting every
# message but a bench's 20,000 in seconds not tripping it), BRAKE_ONLY (1:
# only the brake on/off accept comparison, no Postfix), BRAKE_ROUNDS (2: how
# many off/on pairs it averages; more on a busy machine), PG_SLOTS (8:
# --delivery-concurrency of each relayd in the pge2e rows), PG_DELAY_MS
# (20: the pge2e sink's delay per message), PG_STATEMENTS (0; 1: log the
# costliest SQL of each PostgreSQL run, from pg_stat_statements), PG_SAMPLE
# (0; 1: log what the holder of the spool's writers' lock was doing,
# sampled; see bench/pg.sh). BASE_PORT + 6 is the second PostgreSQL
# node's SMTP port. The bulk and big spools are filled by bench/fill,
# straight into the spool file: set-up, not a measurement.
#
# ONLY (default: every part) runs only the parts it names, space-separated:
#   ceiling   the storage's fdatasync, commit and group-commit figures
#   accept1   accept at 1 session: relayload (with the 250 latency) and smtp-source
#   accept20  accept at SESSIONS sessions: relayload and smtp-source
#   http      accept over the Mail Send API
#   release   N20 held messages released to the sink (fills them as accept20 does)
#   e2e       end to end with hold 0s
#   webhooks  accept and end to end with a webhook on every event vs none
#   brake     accept with the runaway brake on vs off
#   bulk      drop / hold / flush of NBULK by selector
#   big       NBIG spooled: RSS, accept rate, start-up (none when NBIG=0, as with QUICK=1)
#   pgaccept1   accept on PostgreSQL, 1 session: relayload (with the 250 latency) and smtp-source
#   pgaccept20  accept on PostgreSQL, SESSIONS sessions: relayload and smtp-source
#               (brings accept20 along: its target is Postfix's accept20 figure)
#   pge2e     end to end, hold 0s, into the slow sink: bbolt, 1 node and 2 nodes on PostgreSQL
# Postfix runs only for the parts that compare with it.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

QUICK=${QUICK:-0}
POSTFIX=${POSTFIX:-1}
SIZE=${SIZE:-10240}
SESSIONS=${SESSIONS:-20}
BULKSIZE=1024
if [ "$QUICK" = 1 ]; then
	N1=${N1:-500} N20=${N20:-5000} NBULK=${NBULK:-20000} NBIG=${NBIG:-0}
else
	N1=${N1:-2000} N20=${N20:-20000} NBULK=${NBULK:-100000} NBIG=${NBIG:-1000000}
fi
NOTHER=$((NBULK / 10))
PARTS="ceiling accept1 accept20 http release e2e webhooks brake bulk big pgaccept1 pgaccept20 pge2e"
ONLY=$(echo ${ONLY:-$PARTS}) # one space between words, for on()
for part in $ONLY; do
	[[ " $PARTS " == *" $part "* ]] || { echo "bench: ONLY: no part \"$part\" (parts: $PARTS)" >&2; exit 2; }
done
# pgaccept20's target is Postfix's accept20 (smtp-source) figure of the same run.
[[ " $ONLY " == *" pgaccept20 "* && " $ONLY " != *" accept20 "* ]] && ONLY="$ONLY accept20"
BASE_PORT=${BASE_PORT:-2790}
P_RELAYD=$BASE_PORT          # relayd's SMTP listener
P_POSTFIX=$((BASE_PORT + 1)) # Postfix's smtpd
P_SINK=$((BASE_PORT + 2))    # smtp-sink, the upstream of both
P_DEAD=$((BASE_PORT + 3))    # nothing listens: deliveries fail fast and are retried later
P_HOOK=$((BASE_PORT + 4))    # bench/hooksink, the webhook receiver
P_HTTP=$((BASE_PORT + 5))    # relayd's Mail Send API (--http-listen)
LIMIT=${LIMIT:-600}          # seconds any one step may take

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
# on PART...: true when one of the parts is to run (ONLY).
on() {
	local p
	for p; do [[ " $ONLY " == *" $p "* ]] && return 0; done
	return 1
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }

SUDO=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null && SUDO=sudo
fi

# ---------------------------------------------------------------- scratch, cleanup

PATH=$PATH:/usr/sbin
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/relay-bench.XXXXXX")
mkdir -p "$W/bin"
chmod 755 "$W"
PIDS=()       # relayd and smtp-sink processes we started
PFX_CONF=     # our Postfix instance, once started
SYS_POSTFIX=0 # a system Postfix that the package install started (we stop it again)

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait_gone "$p" 35 || kill -9 "$p" 2>/dev/null || true
	done
	if [ -n "$PFX_CONF" ]; then
		$SUDO postfix -c "$PFX_CONF" stop >/dev/null 2>&1 || true
		local master
		master=$(cat "$W/postfix/queue/pid/master.pid" 2>/dev/null | tr -d ' ' || true)
		if [ -n "$master" ] && wait_gone "$master" 10; then :; elif [ -n "$master" ]; then $SUDO kill "$master" 2>/dev/null || true; fi
	fi
	if [ "$SYS_POSTFIX" = 1 ]; then
		$SUDO postfix stop >/dev/null 2>&1 || true
	fi
	pg_stop
	if [ "${KEEP:-0}" = 1 ]; then
		log "kept $W"
	else
		$SUDO rm -rf "$W"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_gone PID SECONDS: true once PID has exited.
wait_gone() {
	local pid=$1 end=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.02
	done
	wait "$pid" 2>/dev/null || true
	return 0
}

# banner PORT: true when an SMTP server answers 220 on 127.0.0.1:PORT.
banner() {
	local line
	{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	read -r -t 2 line <&3 || true
	exec 3<&- 3>&-
	[[ $line == 220* ]]
}

# wait_banner PORT SECONDS
wait_banner() {
	local end=$((SECONDS + $2))
	until banner "$1"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.01
	done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The PostgreSQL parts: server, nodes, their benches and rows.
. "$ROOT/bench/pg.sh"

# ---------------------------------------------------------------- tools

# need_postfix installs Postfix, whose package has smtp-source and smtp-sink,
# unless they are there already.
need_postfix() {
	if command -v smtp-source >/dev/null && command -v smtp-sink >/dev/null && command -v postfix >/dev/null; then
		return 0
	fi
	if [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; then
		die "Postfix (with smtp-source and smtp-sink) is not installed and we are not root: install the Debian package postfix"
	fi
	log "installing postfix (Debian package; smtp-source and smtp-sink ship in it)"
	local before=0
	pgrep -x master >/dev/null && before=1
	echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
	$SUDO apt-get update -qq >/dev/null
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
	# "No configuration" leaves no main.cf, so no system instance should run;
	# if one was started by the install, it is ours to stop.
	if [ $before = 0 ] && pgrep -x master >/dev/null; then SYS_POSTFIX=1; fi
	command -v smtp-source >/dev/null || PATH=$PATH:/usr/sbin
}

build() {
	log "building relayd, relayctl, relayload and the bench tools"
	go build -o "$W/bin/relayd" ./cmd/relayd
	go build -o "$W/bin/relayctl" ./cmd/relayctl
	go build -o "$W/bin/relayload" ./cmd/relayload
	go build -o "$W/bin/fill" ./bench/fill
	go build -o "$W/bin/hooksink" ./bench/hooksink
	go build -o "$W/bin/ceiling" ./bench/ceiling
	go build -o "$W/bin/slowsink" ./bench/slowsink
}

# ---------------------------------------------------------------- relayd

RD_PID= RD_DATA= RD_PASS=

# relayd_start NAME HOLD UPSTREAM_PORT [DATA [BRAKE_FLAGS]]: a relayd on P_RELAYD with its
# defaults, but for the hold window, the upstream and a trusted network for
# smtp-source (which cannot AUTH). Logs at the default level, to a file
# beside the data directory (relayd refuses to take over a directory that
# holds anything but its own files).
relayd_start() {
	RD_DATA=${4:-$W/relayd-$1}
	mkdir -p "$RD_DATA"
	local extra=()
	[ -n "${DELIVERY_CONCURRENCY:-}" ] && extra=(--delivery-concurrency "$DELIVERY_CONCURRENCY")
	# The bench sends 20,000 messages of one credential in seconds: at
	# the default --brake-rate 600 the brake would hold them (it is meant
	# to), and a tripped credential is no longer counted, which would
	# flatter the figures. So the rate trigger is set out of reach, and
	# the detector still does all its work on every message.
	local brake=(${BRAKE:---brake-rate 1000000})
	[ -n "${5:-}" ] && read -r -a brake <<<"$5"
	"$W/bin/relayd" --data "$RD_DATA" --smtp-listen "127.0.0.1:$P_RELAYD" --http-listen "127.0.0.1:$P_HTTP" --console-listen off --hold "$2" \
		--upstream "smtp://127.0.0.1:$3?tls=none" --trusted-networks 127.0.0.1/32 "${extra[@]}" "${brake[@]}" \
		>>"$RD_DATA.stdout" 2>>"$RD_DATA.log" &
	RD_PID=$!
	PIDS+=("$RD_PID")
	wait_banner "$P_RELAYD" 60 || die "relayd did not start; see $RD_DATA.log"
	RD_PASS=$(awk '/password:/ { p = $2 } END { print p }' "$RD_DATA.stdout")
	RD_KEY=$(awk '/api key:/ { p = $3 } END { print p }' "$RD_DATA.stdout")
}

# cputicks PID: the process's user and system CPU time, in clock ticks.
cputicks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# settle PID [SECONDS]: waits (30 s at most, or SECONDS) until the process
# used no CPU for half a second.
settle() {
	local a b i
	for i in $(seq $((${2:-30} * 2))); do
		a=$(cputicks "$1")
		sleep 0.5
		b=$(cputicks "$1")
		[ "$a" = "$b" ] && return 0
	done
}

relayd_stop() {
	kill "$RD_PID" 2>/dev/null || true
	wait_gone "$RD_PID" 60 || die "relayd did not stop"
}

relayctl() { "$W/bin/relayctl" --admin "unix:$RD_DATA/admin.sock" "$@"; }

# mem PID FIELD: a /proc/PID/status field (VmRSS, RssAnon, RssFile, VmHWM) in MB.
mem() { awk -v f="$2:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# ---------------------------------------------------------------- webhooks

# hooksink_start: the webhook receiver on P_HOOK, answering 200 at once.
hooksink_start() {
	port_free "$P_HOOK" || die "port $P_HOOK is busy"
	"$W/bin/hooksink" --listen "127.0.0.1:$P_HOOK" 2>>"$W/hooksink.log" &
	PIDS+=("$!")
	local end=$((SECONDS + 10))
	until hook_count >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && die "hooksink did not start; see $W/hooksink.log"
		sleep 0.01
	done
}

# hook_count: how many events hooksink has received.
hook_count() {
	local n
	{ exec 3<>"/dev/tcp/127.0.0.1/$P_HOOK"; } 2>/dev/null || return 1
	printf 'GET /count HTTP/1.0\r\n\r\n' >&3
	n=$(tail -n 1 <&3)
	exec 3<&- 3>&-
	[[ $n =~ ^[0-9]+$ ]] && echo "$n"
}

# wait_events N SECONDS: until hooksink has received N events.
wait_events() {
	local end=$((SECONDS + $2))
	until [ "$(hook_count)" -ge "$1" ]; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.01
	done
}

# webhook_add: subscribes hooksink to every event of the running relayd.
webhook_add() { relayctl webhook add bench --url "http://127.0.0.1:$P_HOOK/events" >/dev/null || die "webhook add failed"; }

# ---------------------------------------------------------------- Postfix

PFX=$W/postfix

postfix_start() {
	mkdir -p "$PFX/etc" "$PFX/queue" "$PFX/data"
	cp /etc/postfix/master.cf "$PFX/etc/"
	[ -f /etc/postfix/dynamicmaps.cf ] && cp /etc/postfix/dynamicmaps.cf "$PFX/etc/"
	[ -d /etc/postfix/dynamicmaps.cf.d ] && cp -r /etc/postfix/dynamicmaps.cf.d "$PFX/etc/"
	cat >"$PFX/etc/main.cf" <<EOF
# Throw-away instance for bench/run.sh: loopback only, its own queue.
compatibility_level = 3.6
queue_directory = $PFX/queue
data_directory = $PFX/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bench.localhost
mydestination =
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$P_SINK
alias_maps =
alias_database =
local_recipient_maps =
smtp_tls_security_level = none
maillog_file_prefixes = $PFX
maillog_file = $PFX/maillog
EOF
	local pc="postconf -c $PFX/etc"
	# smtpd on our port instead of 25; no chroot (the queue is private).
	$SUDO $pc -M# smtp/inet
	$SUDO $pc -M "127.0.0.1:$P_POSTFIX/inet = 127.0.0.1:$P_POSTFIX inet n - n - - smtpd"
	$SUDO $pc -F '*/*/chroot = n'
	$SUDO chown -R postfix "$PFX/data"
	PFX_CONF=$PFX/etc
	$SUDO postfix -c "$PFX_CONF" check || die "postfix check failed; see $PFX/maillog"
	$SUDO postfix -c "$PFX_CONF" start >/dev/null || die "postfix did not start; see $PFX/maillog"
	wait_banner "$P_POSTFIX" 30 || die "postfix smtpd does not answer on $P_POSTFIX"
}

# postfix_mode hold|relay|dead: accepted mail goes on hold, is relayed to the
# sink, or is relayed to a port where nothing listens.
postfix_mode() {
	local pc="$SUDO postconf -c $PFX_CONF -e"
	case $1 in
	hold) $pc "smtpd_recipient_restrictions = check_client_access static:HOLD, permit_mynetworks, reject_unauth_destination" "relayhost = [127.0.0.1]:$P_SINK" ;;
	relay) $pc "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination" "relayhost = [127.0.0.1]:$P_SINK" ;;
	dead) $pc "smtpd_recipient_restrictions = check_client_access static:HOLD, permit_mynetworks, reject_unauth_destination" "relayhost = [127.0.0.1]:$P_DEAD" ;;
	esac
	$SUDO postfix -c "$PFX_CONF" reload >/dev/null
	sleep 1
}

postfix_empty() {
	$SUDO postsuper -c "$PFX_CONF" -d ALL >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- load

# sink N: an smtp-sink on P_SINK that exits after N messages.
SINK_PID=
sink() {
	local user=()
	[ "$(id -u)" = 0 ] && user=(-u nobody)
	port_free "$P_SINK" || die "port $P_SINK is busy"
	smtp-sink "${user[@]}" -M "$1" "127.0.0.1:$P_SINK" 1000 &
	SINK_PID=$!
	PIDS+=("$SINK_PID")
	wait_banner "$P_SINK" 10 || die "smtp-sink did not start"
}

# feed PORT SESSIONS COUNT [SIZE]: smtp-source, one connection per
# message; prints the seconds it took.
feed() {
	local t0 t1
	t0=$(now)
	timeout "$LIMIT" smtp-source -s "$2" -m "$3" -l "${4:-$SIZE}" -f load@example.com -t sink@example.net \
		-M bench.localhost "127.0.0.1:$1" >/dev/null || die "smtp-source against port $1 failed"
	t1=$(now)
	secs "$t0" "$t1"
}

# load PORT SESSIONS COUNT [relayload flags]: prints relayload's key=value line.
load() {
	local port=$1 s=$2 n=$3
	shift 3
	"$W/bin/relayload" --addr "127.0.0.1:$port" --concurrency "$s" --count "$n" --size "$SIZE" \
		--timeout "${LIMIT}s" "$@" || die "relayload against port $port failed"
}

# warm_login: one session logs in and sends a few messages, so that
# relayd has the password in its login cache before SESSIONS sessions log
# in at once: twenty cold logins (argon2id each) meet the login throttle,
# which is not what the bench measures.
warm_login() { load "$P_RELAYD" 1 10 --user default --password "$RD_PASS" >/dev/null; }

# fill COUNT CREDENTIAL: COUNT messages of BULKSIZE bytes written straight
# into the stopped relayd's spool (bench/fill: set-up, not a measurement).
fill() {
	timeout "$LIMIT" "$W/bin/fill" --spool "$RD_DATA/spool.db" --count "$1" --size "$BULKSIZE" --credential "$2" >/dev/null ||
		die "filling the spool of $RD_DATA failed"
}

# field NAME LINE: the value of NAME=... in relayload's or bench/ceiling's line ("rate", not
# "msgrate"); nothing, and no failure, when the line has none (a part not run).
field() { grep -oE "(^| )$1=[0-9.]+" <<<"$2" | head -1 | sed 's/.*=//' || true; }

# ---------------------------------------------------------------- results

ROWS=()
# row MEASURE OURS POSTFIX RATIO TARGET VERDICT
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }

# ratio A B: A/B as "12.3×", "1.23×" below 2 (where a target of 1.0× is
# met or missed by less than 0.05), or "—"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "—"; else if (a / b < 2) printf "%.2f×\n", a / b; else printf "%.1f×\n", a / b }'; }
# verdict OK: "met" or "missed"
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo "**missed**"; fi; }
# pct A B: A relative to B, as "+3 %"
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.0f %%", 100 * (a - b) / b }'; }
# num X: X rounded, with thousands separators; nothing for nothing (a
# server not measured).
num() {
	[ -n "$1" ] || return 0
	awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); n = length(s); o = ""; for (i = 1; i <= n; i++) { o = o substr(s, i, 1); if ((n - i) % 3 == 0 && i < n) o = o "," } print o }'
}
# pair A B: "A / B" (p50 / p99), or nothing when A was not measured.
pair() { [ -z "$1" ] || echo "$1 / $2"; }

# ---------------------------------------------------------------- run

machine() {
	local cpu mem fs
	cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
	mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
	fs=$(df -T "$W" | awk 'NR == 2 { print $2 " on " $1 }')
	echo "$(nproc) CPUs ($cpu), $mem RAM, $fs, Linux $(uname -r), $(go version | awk '{ print $3 }')"
}

# brake_bench: the accept rate with the runaway brake off and on, in the
# same run, alternating so that drift of the machine hits both alike.
# "on" is the default thresholds but for the rate, set out of reach so
# that the run does not trip it (see relayd_start).
brake_bench() {
	local rounds=${BRAKE_ROUNDS:-2}
	log "brake: accept, $SESSIONS sessions kept open, $N20 messages, brake off vs on, $rounds rounds"
	declare -A bsum=([off]=0 [on]=0) bcpu=([off]=0 [on]=0)
	local r c0 c1
	for round in $(seq "$rounds"); do
		for mode in off on; do
			local flags="--brake-duplicates 0 --brake-rate 0"
			[ $mode = on ] && flags="--brake-duplicates 5 --brake-rate 1000000"
			relayd_start "brake-$mode-$round" 1h "$P_DEAD" "" "$flags"
			load "$P_RELAYD" 1 10 --user default --password "$RD_PASS" >/dev/null
			c0=$(cputicks "$RD_PID")
			r=$(load "$P_RELAYD" "$SESSIONS" "$N20" --user default --password "$RD_PASS")
			r=$(field rate "$r")
			c1=$(cputicks "$RD_PID")
			# relayd's CPU time per message: on a busy machine the rate
			# swings with the neighbours, the CPU a message costs much less.
			bcpu[$mode]=$(awk -v a="${bcpu[$mode]}" -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$N20" 'BEGIN { print a + 1e6 * t / hz / n }')
			relayctl brake ls | grep -q 'No credential is braked' || die "the bench tripped the brake ($mode)"
			relayd_stop
			log "brake $mode, round $round: $r msg/s, $(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$N20" 'BEGIN { printf "%.1f", 1e6 * t / hz / n }') µs of relayd CPU per message"
			bsum[$mode]=$(awk -v a="${bsum[$mode]}" -v b="$r" 'BEGIN { print a + b }')
		done
	done
	BRAKE_OFF=$(awk -v s="${bsum[off]}" -v n="$rounds" 'BEGIN { printf "%.0f", s / n }')
	BRAKE_ON=$(awk -v s="${bsum[on]}" -v n="$rounds" 'BEGIN { printf "%.0f", s / n }')
	BRAKE_CPU_OFF=$(awk -v s="${bcpu[off]}" -v n="$rounds" 'BEGIN { printf "%.1f", s / n }')
	BRAKE_CPU_ON=$(awk -v s="${bcpu[on]}" -v n="$rounds" 'BEGIN { printf "%.1f", s / n }')
}

# of_ceiling RATE: RATE as a share of the storage ceiling, " (NN % of the
# ceiling)", or nothing when the ceiling was not measured.
of_ceiling() {
	[ -n "$CEIL" ] || return 0
	awk -v a="$1" -v c="$(field group_rate "$CEIL")" 'BEGIN { if (c > 0) printf " (%.0f %% of the ceiling)", 100 * a / c }'
}

# verdicts COND...: "met" when every condition holds, "**missed**" when
# one does not. An empty COND is a part that was not measured (Postfix
# with POSTFIX=0, the ceiling outside ONLY): the verdict is then on the
# rest, marked "(in part)", or "—" when nothing was.
verdicts() {
	local c expr= part=
	for c; do
		if [ -z "$c" ]; then
			part=" (in part)"
			continue
		fi
		expr="${expr:+$expr && }($c)"
	done
	[ -n "$expr" ] || { echo —; return; }
	echo "$(verdict "$expr")$part"
}

# if_pf COND: COND when Postfix was measured, else nothing (for verdicts).
if_pf() { [ "$PF" = 1 ] && echo "$1" || true; }

storage_rows() {
	local kib=$((SIZE / 1024)) f50 h50 c50
	f50=$(field fsync_p50 "$CEIL") h50=$(field hole_p50 "$CEIL") c50=$(field commit_p50 "$CEIL")
	row "storage: fdatasync of 4 KiB, p50 / p99 (ms)" "$f50 / $(field fsync_p99 "$CEIL")" "" "" "" ""
	row "storage: fdatasync of 4 KiB into a new block (a hole, as in the file bbolt grows), p50 / p99 (ms)" "$h50 / $(field hole_p99 "$CEIL")" "" "" "" ""
	# bbolt syncs the new pages, then the meta page (an overwrite).
	row "storage: one bbolt commit of $kib KiB = two fdatasyncs (data, then meta page), p50 (ms)" \
		"$c50 (the two: $h50 + $f50 = $(awk -v a="$h50" -v b="$f50" 'BEGIN { printf "%.3f", a + b }'))" "" "" "" ""
	row "storage ceiling: bare bbolt group commit, $SESSIONS writers × $kib KiB, no SMTP (msgs/s)" \
		"$(num "$(field group_rate "$CEIL")") ($(awk -v n="$(field group_n "$CEIL")" -v c="$(field group_commits "$CEIL")" 'BEGIN { printf "%.1f", n / c }') per commit)" "" "" "" ""
	row "storage ceiling: bare bbolt group commit, 1 writer × $kib KiB, no SMTP (msgs/s)" "$(num "$(field group1_rate "$CEIL")")" "" "" "" ""
}

accept_rows() {
	local a1 pa1= a20 pa20= x50 p50
	if on accept1; then
		row "accept, 1 session (relayload, AUTH, msgs/s)" "$(num "$(field rate "$r1")")" "$(num "$(field rate "$p1")")" "$(ratio "$(field rate "$r1")" "$(field rate "$p1")")" "" ""
		x50=$(field p50 "$r1") p50=$(field p50 "$p1")
		row "**250 latency p50 / p99, 1 session (ms)**" "$x50 / $(field p99 "$r1")" "$(pair "$p50" "$(field p99 "$p1")")" "" "p50 ≤ Postfix's" "$(verdicts "$(if_pf "$x50 <= $p50")")"
	fi
	if on accept20; then
		row "accept, $SESSIONS sessions (relayload, AUTH, msgs/s)" "$(num "$(field rate "$r20")")" "$(num "$(field rate "$p20")")" "$(ratio "$(field rate "$r20")" "$(field rate "$p20")")" "" ""
		row "250 latency p50 / p99, $SESSIONS sessions (ms)" "$(field p50 "$r20") / $(field p99 "$r20")" "$(pair "$(field p50 "$p20")" "$(field p99 "$p20")")" "" "" ""
	fi
	if on http; then
		row "accept over HTTP (Mail Send API), 1 client, 1 message per request (requests/s = msgs/s)" "$(num "$(field rate "$h1")")" "" "" "" ""
		row "202 latency p50 / p99, 1 client (ms)" "$(field p50 "$h1") / $(field p99 "$h1")" "" "" "" ""
		row "accept over HTTP, $SESSIONS clients, 1 message per request (requests/s = msgs/s)" "$(num "$(field rate "$h20")")" "" "" "" ""
		row "accept over HTTP, $SESSIONS clients, 10 messages per request (requests/s; msgs/s)" "$(num "$(field rate "$h20x10")"); $(num "$(field msgrate "$h20x10")")" "" "" "" ""
	fi
	if on accept1; then
		a1=$(rate "$N1" "$s1")
		[ -n "$ps1" ] && pa1=$(rate "$N1" "$ps1")
		row "**accept, 1 session (smtp-source, msgs/s)**" "$(num "$a1")" "$(num "$pa1")" "$(ratio "$a1" "$pa1")" "≥ 1.0× Postfix" "$(verdicts "$(if_pf "$a1 >= $pa1")")"
	fi
	if on accept20; then
		a20=$(rate "$N20" "$s20")
		[ -n "$ps20" ] && pa20=$(rate "$N20" "$ps20")
		local c=
		[ -n "$CEIL" ] && c="$a20 >= 0.5 * $(field group_rate "$CEIL")"
		row "**accept, $SESSIONS sessions (smtp-source, msgs/s)**" "$(num "$a20")$(of_ceiling "$a20")" "$(num "$pa20")" "$(ratio "$a20" "$pa20")" \
			"≥ 4× Postfix and ≥ 50 % of the storage ceiling" "$(verdicts "$(if_pf "$a20 >= 4 * $pa20")" "$c")"
	fi
}

delivery_rows() {
	local ed_rate ped_rate= ea_rate pea_rate=
	if on e2e; then
		ea_rate=$(rate "$N20" "$ea") ed_rate=$(rate "$N20" "$ed")
		[ -n "$pea" ] && pea_rate=$(rate "$N20" "$pea")
		[ -n "$ped" ] && ped_rate=$(rate "$N20" "$ped")
		row "accept while delivering, hold 0s (smtp-source, msgs/s)" "$(num "$ea_rate")$(of_ceiling "$ea_rate")" "$(num "$pea_rate")" "$(ratio "$ea_rate" "$pea_rate")" "" ""
		row "**end to end, hold 0s: delivered to smtp-sink (msgs/s)**" "$(num "$ed_rate")" "$(num "$ped_rate")" "$(ratio "$ed_rate" "$ped_rate")" "≥ 4× Postfix" "$(verdicts "$(if_pf "$ed_rate >= 4 * $ped_rate")")"
	fi
	if on release; then
		row "**release $(num "$N20") held → all delivered (s)**" "$rel" "$prel" "$(ratio "$prel" "$rel")" "≥ 4× Postfix" "$(verdicts "$(if_pf "$prel >= 4 * $rel")")"
	fi
	if on bulk; then
		for a in drop hold flush; do
			row "**\`$a\` $(num "$NBULK") by selector (s)**" "${bulk[$a]}" "${pbulk[$a]:-}" "$(ratio "${pbulk[$a]:-}" "${bulk[$a]}")" "≥ 5× Postfix" "$(verdicts "$(if_pf "${pbulk[$a]:-} >= 5 * ${bulk[$a]}")")"
		done
	fi
}

feature_rows() {
	if on webhooks; then
		local wa_none wa_hook we_none we_hook
		wa_none=$(field rate "${wacc[none]}") wa_hook=$(field rate "${wacc[hook]}")
		we_none=$(rate "$N20" "${we2e[none]}") we_hook=$(rate "$N20" "${we2e[hook]}")
		row "**accept, $SESSIONS sessions, one webhook on every event vs none (relayload, msgs/s)**" "$(num "$wa_hook") vs $(num "$wa_none") ($(pct "$wa_hook" "$wa_none"))" "" "" "within 10 %" "$(verdict "$wa_hook >= 0.9 * $wa_none")"
		row "**end to end, hold 0s, one webhook on every event vs none (smtp-source, msgs/s)**" "$(num "$we_hook") vs $(num "$we_none") ($(pct "$we_hook" "$we_none"))" "" "" "within 10 %" "$(verdict "$we_hook >= 0.9 * $we_none")"
	fi
	if on brake; then
		row "**accept, $SESSIONS sessions, runaway brake on vs off (relayload, msgs/s)**" "$(num "$BRAKE_ON") vs $(num "$BRAKE_OFF") ($(pct "$BRAKE_ON" "$BRAKE_OFF"))" "" "" "within 5 %" "$(verdict "$BRAKE_ON >= 0.95 * $BRAKE_OFF")"
		row "relayd CPU per accepted message, brake on vs off (µs)" "$BRAKE_CPU_ON vs $BRAKE_CPU_OFF ($(pct "$BRAKE_CPU_ON" "$BRAKE_CPU_OFF"))" "" "" "" ""
	fi
	if on webhooks; then
		row "end to end with the webhook: all $(num $((2 * N20))) events (accepted, delivered) at the receiver (s)" "$whook (mail: ${we2e[hook]})" "" "" "" ""
		row "spool file after end to end, webhook vs none (MB)" "${wsize[hook]} vs ${wsize[none]}" "" "" "" ""
	fi
}

big_rows() {
	local big_rate empty_rate
	big_rate=$(field rate "$big_acc")
	empty_rate=$(field rate "$big_empty")
	row "fill: $(num "$NBIG") × 1 KiB written straight into the spool (bench/fill, set-up only; s)" "$big_fill" "" "" "" ""
	row "**RSS with $(num "$NBIG") spooled, after start-up (MB)**" "$big_rss0" "" "" "< 150 MB" "$(verdict "$big_rss0 < 150")"
	row "**RSS with $(num "$NBIG") spooled, after accepting $(num "$N20") more (MB)**" "$big_rss: $big_anon anonymous + $big_file spool pages mapped" "" "" "< 150 MB" "$(verdict "$big_rss < 150")"
	row "**accept with $(num "$NBIG") spooled (relayload, $SESSIONS sessions, msgs/s)**" "$(num "$big_rate") vs $(num "$empty_rate") empty just before ($(pct "$big_rate" "$empty_rate"))" "" "" "within 10 % of an empty spool" "$(verdict "$big_rate >= 0.9 * $empty_rate")"
	row "**start-up with $(num "$NBIG") spooled, to the SMTP greeting (s)**" "$big_start" "" "" "< 2 s" "$(verdict "$big_start < 2")"
	row "start-up after kill -9, with $(num "$NBIG") spooled (s)" "$big_crash" "" "" "" ""
}

table() {
	if on ceiling; then storage_rows; fi
	accept_rows
	pg_accept_rows
	delivery_rows
	pg_e2e_rows
	feature_rows
	if on big && [ "$NBIG" -gt 0 ]; then big_rows; fi

	echo
	echo "relayd $(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || echo dev) vs $PFXVER, $(date -u +%Y-%m-%d)"
	echo "Machine: $(machine)"
	echo "Messages of $SIZE bytes (bulk and big spool: $BULKSIZE), one new connection per message unless noted; every 250 after an fsync; relayd's delivery slots: ${DELIVERY_CONCURRENCY:-its default}."
	[ "$ONLY" != "$PARTS" ] && echo "Parts run: $ONLY (ONLY)."
	[ "$PG_UP" = 1 ] && echo "Spool on PostgreSQL: $PGVER in the scratch directory (the same disk), fsync and synchronous_commit on, shared_buffers 256MB, Unix socket; a fresh database and a CHECKPOINT before each run; \"(bbolt: …)\" is the bbolt figure of this run."
	echo "Load average before the run: $LOAD_BEFORE, after: $(cut -d' ' -f1 /proc/loadavg) (anything above ~0.5 before means other work shared the 2 cores)."
	echo
	echo "| measurement | relayd | $PFXVER | relayd vs Postfix | target | |"
	echo "|---|---|---|---|---|---|"
	printf '%s\n' "${ROWS[@]}"
}

# ceiling_bench: the storage's own figures (bench/ceiling), with nothing
# else of ours running, so that the disk is quiet.
CEIL=
ceiling_bench() {
	log "storage ceiling: fdatasync, one bbolt commit, bare group commit with $SESSIONS writers and 1 (no SMTP)"
	CEIL=$(timeout "$LIMIT" "$W/bin/ceiling" --dir "$W" --writers "$SESSIONS" --count "$N20" --count1 "$N1" --size "$SIZE") ||
		die "bench/ceiling failed"
	log "ceiling: $CEIL"
}

# pf_mode hold|relay|dead: postfix_mode, unless Postfix is in it already.
PF_MODE=
pf_mode() {
	[ "$PF" = 1 ] && [ "$PF_MODE" != "$1" ] || return 0
	postfix_mode "$1"
	PF_MODE=$1
}

# accept_bench: relayload at 1 and SESSIONS sessions, the Mail Send API,
# smtp-source at 1 session; both servers into their hold (relayd: hold
# window 1h; Postfix: the hold queue).
r1= p1= r20= p20= h1= h20= h20x10= s1= ps1=
accept_bench() {
	pf_mode hold
	relayd_start accept 1h "$P_DEAD"
	if on accept1; then
		log "accept: relayload, 1 session, a new connection per message"
		r1=$(load "$P_RELAYD" 1 "$N1" --new-conn-per-message --user default --password "$RD_PASS")
		[ "$PF" = 1 ] && p1=$(load "$P_POSTFIX" 1 "$N1" --new-conn-per-message)
	fi
	if on accept20; then
		log "accept: relayload, $SESSIONS sessions, a new connection per message"
		# Twenty cold logins at once meet the login throttle; after the
		# 1-session run the password is in relayd's cache already.
		on accept1 || warm_login
		r20=$(load "$P_RELAYD" "$SESSIONS" "$N20" --new-conn-per-message --user default --password "$RD_PASS")
		[ "$PF" = 1 ] && p20=$(load "$P_POSTFIX" "$SESSIONS" "$N20" --new-conn-per-message)
	fi
	# The same accept over the HTTP Mail Send API (one keep-alive
	# connection per client; relayload counts requests): one message per
	# request, then ten (personalizations) per request.
	if on http; then
		log "accept: Mail Send API over HTTP, 1 and $SESSIONS clients"
		h1=$(load "$P_HTTP" 1 "$N1" --api-key "$RD_KEY")
		h20=$(load "$P_HTTP" "$SESSIONS" "$N20" --api-key "$RD_KEY")
		h20x10=$(load "$P_HTTP" "$SESSIONS" $((N20 / 10)) --api-key "$RD_KEY" --personalizations 10)
	fi
	if on accept1; then
		log "accept: smtp-source, 1 session"
		s1=$(feed "$P_RELAYD" 1 "$N1")
		[ "$PF" = 1 ] && ps1=$(feed "$P_POSTFIX" 1 "$N1")
	fi
	relayd_stop
	[ "$PF" = 1 ] && postfix_empty
	return 0
}

# release_bench: smtp-source at SESSIONS sessions fills both with N20 held
# messages (the accept20 figure), which are then released to the sink.
s20= ps20= rel= prel=
release_bench() {
	pf_mode hold
	log "accept: smtp-source, $SESSIONS sessions ($N20 messages, kept for the release test)"
	relayd_start release 1h "$P_SINK"
	s20=$(feed "$P_RELAYD" "$SESSIONS" "$N20")
	[ "$PF" = 1 ] && ps20=$(feed "$P_POSTFIX" "$SESSIONS" "$N20")
	if ! on release; then
		relayd_stop
		[ "$PF" = 1 ] && postfix_empty
		return 0
	fi
	log "release: $N20 held messages until the sink has them all"
	relayctl hold --all --reason bench >/dev/null
	local t0
	sink "$N20"
	t0=$(now)
	relayctl flush --all >/dev/null
	wait_gone "$SINK_PID" "$LIMIT" || die "relayd: release not delivered within ${LIMIT}s"
	rel=$(secs "$t0" "$(now)")
	relayd_stop
	if [ "$PF" = 1 ]; then
		sink "$N20"
		t0=$(now)
		$SUDO postsuper -c "$PFX_CONF" -H ALL >/dev/null 2>&1
		$SUDO postqueue -c "$PFX_CONF" -f
		wait_gone "$SINK_PID" "$LIMIT" || die "postfix: release not delivered within ${LIMIT}s"
		prel=$(secs "$t0" "$(now)")
		postfix_empty
	fi
}

# e2e_bench: hold 0s, accepted and delivered to the sink.
ea= ed= pea= ped=
e2e_bench() {
	log "end to end: $N20 messages, $SESSIONS sessions, hold 0s"
	local t0
	relayd_start e2e 0s "$P_SINK"
	sink "$N20"
	t0=$(now)
	ea=$(feed "$P_RELAYD" "$SESSIONS" "$N20")
	wait_gone "$SINK_PID" "$LIMIT" || die "relayd: not all delivered within ${LIMIT}s"
	ed=$(secs "$t0" "$(now)")
	relayd_stop
	if [ "$PF" = 1 ]; then
		pf_mode relay
		sink "$N20"
		t0=$(now)
		pea=$(feed "$P_POSTFIX" "$SESSIONS" "$N20")
		wait_gone "$SINK_PID" "$LIMIT" || die "postfix: not all delivered within ${LIMIT}s"
		ped=$(secs "$t0" "$(now)")
		postfix_empty
	fi
}

# webhooks_bench: the accept and end-to-end loads again, with no webhook
# and with one subscribed to every event, one after the other.
declare -A wacc we2e wsize
whook=
webhooks_bench() {
	log "webhooks: accept and end to end, no webhook vs one on every event"
	hooksink_start
	local before t0
	for mode in none hook; do
		relayd_start "wh-$mode" 1h "$P_DEAD"
		[ $mode = hook ] && webhook_add
		warm_login
		wacc[$mode]=$(load "$P_RELAYD" "$SESSIONS" "$N20" --new-conn-per-message --user default --password "$RD_PASS")
		relayd_stop
		relayd_start "wh-$mode-e2e" 0s "$P_SINK"
		[ $mode = hook ] && webhook_add
		before=$(hook_count)
		sink "$N20"
		t0=$(now)
		feed "$P_RELAYD" "$SESSIONS" "$N20" >/dev/null
		wait_gone "$SINK_PID" "$LIMIT" || die "relayd ($mode webhook): not all delivered within ${LIMIT}s"
		we2e[$mode]=$(secs "$t0" "$(now)")
		if [ $mode = hook ]; then
			# message.accepted and message.delivered of each
			wait_events $((before + 2 * N20)) "$LIMIT" || die "the webhook did not get every event within ${LIMIT}s"
			whook=$(secs "$t0" "$(now)")
		fi
		relayd_stop
		wsize[$mode]=$(du -m "$RD_DATA/spool.db" | cut -f1)
	done
}

# bulk_bench: actions by selector on NBULK messages of one credential
# beside NOTHER of another.
declare -A bulk pbulk
bulk_bench() {
	log "bulk: $NBULK + $NOTHER messages of $BULKSIZE bytes"
	relayd_start bulk 1h "$P_DEAD" # creates the spool and its credential
	relayd_stop
	fill "$NBULK" default
	fill "$NOTHER" "" # as from a trusted network: no credential
	local bulk_src=$RD_DATA t0
	for a in drop hold flush; do
		rm -rf "$W/relayd-bulk-$a"
		cp -a "$bulk_src" "$W/relayd-bulk-$a"
		rm -f "$W/relayd-bulk-$a/admin.sock"
		relayd_start "bulk-$a" 1h "$P_DEAD"
		# A fresh start expires the fill's outbox events (no webhook wants
		# them) for a few seconds: the action is measured on a settled relayd.
		settle "$RD_PID"
		t0=$(now)
		relayctl "$a" --credential default --reason bench >/dev/null
		bulk[$a]=$(secs "$t0" "$(now)")
		relayd_stop
		rm -rf "$W/relayd-bulk-$a"
	done
	if [ "$PF" = 1 ]; then
		# Postfix has no selector by client or credential: ALL of one queue.
		pf_mode dead
		feed "$P_POSTFIX" "$SESSIONS" "$NBULK" "$BULKSIZE" >/dev/null
		t0=$(now)
		$SUDO postsuper -c "$PFX_CONF" -H ALL >/dev/null 2>&1 # flush: out of hold, deliverable
		$SUDO postqueue -c "$PFX_CONF" -f
		pbulk[flush]=$(secs "$t0" "$(now)")
		t0=$(now)
		$SUDO postsuper -c "$PFX_CONF" -h ALL >/dev/null 2>&1
		pbulk[hold]=$(secs "$t0" "$(now)")
		t0=$(now)
		$SUDO postsuper -c "$PFX_CONF" -d ALL >/dev/null 2>&1
		pbulk[drop]=$(secs "$t0" "$(now)")
	fi
}

# big_bench: a spool of NBIG messages: RSS, accept rate, start-up.
big_crash= big_fill= big_empty= big_rss0= big_rss= big_anon= big_file= big_start= big_acc=
big_bench() {
	local t0
	# The empty-spool rate the big spool is compared with, measured
	# right before it, so that both see the same machine.
	log "big spool: accepting with an empty spool first"
	relayd_start empty 1h "$P_DEAD"
	warm_login
	big_empty=$(load "$P_RELAYD" "$SESSIONS" "$N20" --new-conn-per-message --user default --password "$RD_PASS")
	relayd_stop
	log "big spool: filling $NBIG messages of $BULKSIZE bytes (a few minutes)"
	relayd_start big 1h "$P_DEAD" # creates the spool and its credential
	relayd_stop
	t0=$(now)
	fill "$NBIG" default
	big_fill=$(secs "$t0" "$(now)")
	log "big spool: start-up, then accepting with $NBIG spooled"
	t0=$(now)
	relayd_start big 1h "$P_DEAD"
	big_start=$(secs "$t0" "$(now)")
	big_rss0=$(mem "$RD_PID" VmRSS)
	# The fill wrote an outbox event per message, which a relayd with no
	# webhook expires once started: set-up, not the accept being measured.
	settle "$RD_PID" 300
	warm_login
	big_acc=$(load "$P_RELAYD" "$SESSIONS" "$N20" --new-conn-per-message --user default --password "$RD_PASS")
	big_rss=$(mem "$RD_PID" VmRSS)
	big_anon=$(mem "$RD_PID" RssAnon)
	big_file=$(mem "$RD_PID" RssFile)
	log "big spool: start-up after kill -9"
	disown "$RD_PID" # no "Killed" notice from the shell
	kill -9 "$RD_PID"
	wait_gone "$RD_PID" 10 || true
	t0=$(now)
	relayd_start big 1h "$P_DEAD"
	big_crash=$(secs "$t0" "$(now)")
	relayd_stop
}

main() {
	[ "$(stat -f -c %T "$W")" = tmpfs ] && die "$W is on tmpfs, where fsync is free: set BENCH_DIR to a disk"
	for p in $P_RELAYD $P_POSTFIX $P_SINK $P_DEAD $P_HOOK $P_HTTP $P_NODE2; do port_free "$p" || die "port $p is busy (set BASE_PORT)"; done
	if [ "${BRAKE_ONLY:-0}" = 1 ]; then
		build
		brake_bench
		echo "| accept, $SESSIONS sessions, brake off | $(num "$BRAKE_OFF") msg/s |"
		echo "| accept, $SESSIONS sessions, brake on | $(num "$BRAKE_ON") msg/s ($(pct "$BRAKE_ON" "$BRAKE_OFF")) |"
		echo "| relayd CPU per message, brake off / on | $BRAKE_CPU_OFF / $BRAKE_CPU_ON µs ($(pct "$BRAKE_CPU_ON" "$BRAKE_CPU_OFF")) |"
		return
	fi
	# smtp-source and smtp-sink come with Postfix.
	on accept1 accept20 release e2e webhooks bulk pgaccept1 pgaccept20 pge2e && need_postfix
	on pgaccept1 pgaccept20 pge2e && need_postgres
	build
	LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
	awk -v l="$LOAD_BEFORE" 'BEGIN { exit !(l > 0.5) }' && log "warning: load average $LOAD_BEFORE before the run: other work skews the figures"

	# Before Postfix starts: nothing of ours touches the disk meanwhile.
	on ceiling && ceiling_bench
	if on pgaccept1 pgaccept20 pge2e; then pg_start; fi

	PFXVER="Postfix"
	PF=0
	if [ "$POSTFIX" = 1 ] && on accept1 accept20 release e2e bulk; then
		PF=1
		PFXVER="Postfix $(postconf -d -h mail_version)"
		log "starting $PFXVER (private instance in $PFX)"
		postfix_start
	fi

	if on accept1 accept20 http; then accept_bench; fi
	if on accept20 release; then release_bench; fi
	if on pgaccept1 pgaccept20; then pg_accept_bench; fi
	if on e2e; then e2e_bench; fi
	if on pge2e; then pg_e2e_bench; fi
	if on webhooks; then webhooks_bench; fi
	if on brake; then brake_bench; fi
	if on bulk; then bulk_bench; fi
	if on big && [ "$NBIG" -gt 0 ]; then big_bench; fi
	table
}

main "$@"
