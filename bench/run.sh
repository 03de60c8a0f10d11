#!/usr/bin/env bash
# bench/run.sh: relayd measured side by side with Postfix on this machine.
#
#   make bench                 # or: bench/run.sh
#   QUICK=1 make bench         # smaller counts, no 1,000,000-message spool (a smoke run)
#   POSTFIX=0 make bench       # relayd alone (smtp-source and smtp-sink are still used)
#
# It builds relayd, relayctl and relayload into a scratch directory, installs
# Postfix if smtp-source/smtp-sink are missing (apt-get, as root), runs a
# throw-away Postfix instance bound to 127.0.0.1 with its own config and queue
# directories on the same disk as relayd's spool, feeds both servers with the
# same load, and prints one markdown table: our figure, Postfix's, the ratio,
# the target. Everything it starts (relayd, smtp-sink, Postfix) it stops on
# exit, error or Ctrl-C. Every wait is bounded.
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
# many off/on pairs it averages; more on a busy machine). The bulk and big spools are filled by bench/fill,
# straight into the spool file: set-up, not a measurement.
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
	log "building relayd, relayctl, relayload"
	go build -o "$W/bin/relayd" ./cmd/relayd
	go build -o "$W/bin/relayctl" ./cmd/relayctl
	go build -o "$W/bin/relayload" ./cmd/relayload
	go build -o "$W/bin/fill" ./bench/fill
	go build -o "$W/bin/hooksink" ./bench/hooksink
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

# fill COUNT CREDENTIAL: COUNT messages of BULKSIZE bytes written straight
# into the stopped relayd's spool (bench/fill: set-up, not a measurement).
fill() {
	timeout "$LIMIT" "$W/bin/fill" --spool "$RD_DATA/spool.db" --count "$1" --size "$BULKSIZE" --credential "$2" >/dev/null ||
		die "filling the spool of $RD_DATA failed"
}

# field NAME LINE: the value of NAME=... in relayload's line ("rate", not "msgrate").
field() { grep -oE "(^| )$1=[0-9.]+" <<<"$2" | head -1 | sed 's/.*=//'; }

# ---------------------------------------------------------------- results

ROWS=()
# row MEASURE OURS POSTFIX RATIO TARGET VERDICT
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }

# ratio A B: A/B as "12.3×" (or "—")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "—"; else printf "%.1f×\n", a / b }'; }
# verdict OK: "met" or "missed"
verdict() { if awk "BEGIN { exit !($1) }"; then echo met; else echo "**missed**"; fi; }
# pct A B: A relative to B, as "+3 %"
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.0f %%", 100 * (a - b) / b }'; }
num() { awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); n = length(s); o = ""; for (i = 1; i <= n; i++) { o = o substr(s, i, 1); if ((n - i) % 3 == 0 && i < n) o = o "," } print o }'; }

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
			r=$(field rate "$(load "$P_RELAYD" "$SESSIONS" "$N20" --user default --password "$RD_PASS")")
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

main() {
	[ "$(stat -f -c %T "$W")" = tmpfs ] && die "$W is on tmpfs, where fsync is free: set BENCH_DIR to a disk"
	for p in $P_RELAYD $P_POSTFIX $P_SINK $P_DEAD $P_HOOK $P_HTTP; do port_free "$p" || die "port $p is busy (set BASE_PORT)"; done
	if [ "${BRAKE_ONLY:-0}" = 1 ]; then
		build
		brake_bench
		echo "| accept, $SESSIONS sessions, brake off | $(num "$BRAKE_OFF") msg/s |"
		echo "| accept, $SESSIONS sessions, brake on | $(num "$BRAKE_ON") msg/s ($(pct "$BRAKE_ON" "$BRAKE_OFF")) |"
		echo "| relayd CPU per message, brake off / on | $BRAKE_CPU_OFF / $BRAKE_CPU_ON µs ($(pct "$BRAKE_CPU_ON" "$BRAKE_CPU_OFF")) |"
		return
	fi
	need_postfix
	build
	local load1
	load1=$(cut -d' ' -f1 /proc/loadavg)
	LOAD_BEFORE=$load1
	awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }' && log "warning: load average $load1 before the run: other work skews the figures"

	local pfxver="Postfix"
	if [ "$POSTFIX" = 1 ]; then
		pfxver="Postfix $(postconf -d -h mail_version)"
		log "starting $pfxver (private instance in $PFX)"
		postfix_start
		postfix_mode hold
	fi
	local PF=$POSTFIX

	# --- accepting, both into their hold (relayd: hold window 1h; Postfix: the hold queue)
	log "accept: relayload, $SESSIONS and 1 sessions, a new connection per message"
	relayd_start accept 1h "$P_DEAD"
	local r1 r20 p1= p20= s1 s20 ps1= ps20=
	r1=$(load "$P_RELAYD" 1 "$N1" --new-conn-per-message --user default --password "$RD_PASS")
	[ "$PF" = 1 ] && p1=$(load "$P_POSTFIX" 1 "$N1" --new-conn-per-message)
	r20=$(load "$P_RELAYD" "$SESSIONS" "$N20" --new-conn-per-message --user default --password "$RD_PASS")
	[ "$PF" = 1 ] && p20=$(load "$P_POSTFIX" "$SESSIONS" "$N20" --new-conn-per-message)
	# The same accept over the HTTP Mail Send API (one keep-alive
	# connection per client; relayload counts requests): one message per
	# request, then ten (personalizations) per request.
	log "accept: Mail Send API over HTTP, 1 and $SESSIONS clients"
	local h1 h20 h20x10
	h1=$(load "$P_HTTP" 1 "$N1" --api-key "$RD_KEY")
	h20=$(load "$P_HTTP" "$SESSIONS" "$N20" --api-key "$RD_KEY")
	h20x10=$(load "$P_HTTP" "$SESSIONS" $((N20 / 10)) --api-key "$RD_KEY" --personalizations 10)
	log "accept: smtp-source, 1 session"
	s1=$(feed "$P_RELAYD" 1 "$N1")
	[ "$PF" = 1 ] && ps1=$(feed "$P_POSTFIX" 1 "$N1")
	relayd_stop
	[ "$PF" = 1 ] && postfix_empty

	# --- release: the smtp-source run at SESSIONS sessions fills both with N20 held messages
	log "accept: smtp-source, $SESSIONS sessions ($N20 messages, kept for the release test)"
	relayd_start release 1h "$P_SINK"
	s20=$(feed "$P_RELAYD" "$SESSIONS" "$N20")
	[ "$PF" = 1 ] && ps20=$(feed "$P_POSTFIX" "$SESSIONS" "$N20")
	log "release: $N20 held messages until the sink has them all"
	relayctl hold --all --reason bench >/dev/null
	local t0 rel prel=
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

	# --- end to end, hold 0s: accepted and delivered to the sink
	log "end to end: $N20 messages, $SESSIONS sessions, hold 0s"
	local ea ed pea= ped=
	relayd_start e2e 0s "$P_SINK"
	sink "$N20"
	t0=$(now)
	ea=$(feed "$P_RELAYD" "$SESSIONS" "$N20")
	wait_gone "$SINK_PID" "$LIMIT" || die "relayd: not all delivered within ${LIMIT}s"
	ed=$(secs "$t0" "$(now)")
	relayd_stop
	if [ "$PF" = 1 ]; then
		postfix_mode relay
		sink "$N20"
		t0=$(now)
		pea=$(feed "$P_POSTFIX" "$SESSIONS" "$N20")
		wait_gone "$SINK_PID" "$LIMIT" || die "postfix: not all delivered within ${LIMIT}s"
		ped=$(secs "$t0" "$(now)")
		postfix_empty
	fi

	# --- webhooks: the accept and end-to-end loads again, with no webhook
	# and with one subscribed to every event, one after the other
	log "webhooks: accept and end to end, no webhook vs one on every event"
	hooksink_start
	declare -A wacc we2e wsize
	local whook= before
	for mode in none hook; do
		relayd_start "wh-$mode" 1h "$P_DEAD"
		[ $mode = hook ] && webhook_add
		# One login first, as the accept rows do: twenty cold logins at
		# once meet the login throttle, which is not what this measures.
		load "$P_RELAYD" 1 10 --user default --password "$RD_PASS" >/dev/null
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

	brake_bench

	# --- bulk actions by selector: NBULK messages of one credential, NOTHER of another
	log "bulk: $NBULK + $NOTHER messages of $BULKSIZE bytes"
	relayd_start bulk 1h "$P_DEAD" # creates the spool and its credential
	relayd_stop
	fill "$NBULK" default
	fill "$NOTHER" "" # as from a trusted network: no credential
	local bulk_src=$RD_DATA
	declare -A bulk pbulk
	for a in drop hold flush; do
		rm -rf "$W/relayd-bulk-$a"
		cp -a "$bulk_src" "$W/relayd-bulk-$a"
		rm -f "$W/relayd-bulk-$a/admin.sock"
		relayd_start "bulk-$a" 1h "$P_DEAD"
		t0=$(now)
		relayctl "$a" --credential default --reason bench >/dev/null
		bulk[$a]=$(secs "$t0" "$(now)")
		relayd_stop
		rm -rf "$W/relayd-bulk-$a"
	done
	if [ "$PF" = 1 ]; then
		# Postfix has no selector by client or credential: ALL of one queue.
		postfix_mode dead
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

	# --- a spool of NBIG messages: RSS, accept rate, start-up
	local big_crash= big_fill= big_empty= big_rss0= big_rss= big_anon= big_file= big_start= big_acc=
	if [ "$NBIG" -gt 0 ]; then
		# The empty-spool rate the big spool is compared with, measured
		# right before it, so that both see the same machine.
		log "big spool: accepting with an empty spool first"
		relayd_start empty 1h "$P_DEAD"
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
	fi

	# --- the table
	local v
	row "accept, 1 session (relayload, AUTH, msgs/s)" "$(num "$(field rate "$r1")")" "$(num "$(field rate "$p1")")" "$(ratio "$(field rate "$r1")" "$(field rate "$p1")")" "" ""
	v=$(verdict "$(field p50 "$r1") < 1")
	row "250 latency p50 / p99, 1 session (ms)" "$(field p50 "$r1") / $(field p99 "$r1")" "$(field p50 "$p1") / $(field p99 "$p1")" "" "p50 < 1 ms" "$v"
	row "accept, $SESSIONS sessions (relayload, AUTH, msgs/s)" "$(num "$(field rate "$r20")")" "$(num "$(field rate "$p20")")" "$(ratio "$(field rate "$r20")" "$(field rate "$p20")")" "" ""
	row "250 latency p50 / p99, $SESSIONS sessions (ms)" "$(field p50 "$r20") / $(field p99 "$r20")" "$(field p50 "$p20") / $(field p99 "$p20")" "" "" ""
	local a1 pa1= a20 pa20=
	a1=$(rate "$N1" "$s1")
	[ -n "$ps1" ] && pa1=$(rate "$N1" "$ps1")
	row "accept over HTTP (Mail Send API), 1 client, 1 message per request (requests/s = msgs/s)" "$(num "$(field rate "$h1")")" "" "" "" ""
	row "202 latency p50 / p99, 1 client (ms)" "$(field p50 "$h1") / $(field p99 "$h1")" "" "" "" ""
	row "accept over HTTP, $SESSIONS clients, 1 message per request (requests/s = msgs/s)" "$(num "$(field rate "$h20")")" "" "" "" ""
	row "accept over HTTP, $SESSIONS clients, 10 messages per request (requests/s; msgs/s)" "$(num "$(field rate "$h20x10")"); $(num "$(field msgrate "$h20x10")")" "" "" "" ""
	row "accept, 1 session (smtp-source, msgs/s)" "$(num "$a1")" "$(num "$pa1")" "$(ratio "$a1" "$pa1")" "" ""
	a20=$(rate "$N20" "$s20")
	[ -n "$ps20" ] && pa20=$(rate "$N20" "$ps20")
	v=—
	[ -n "$pa20" ] && v=$(verdict "$a20 >= 10 * $pa20")
	row "**accept, $SESSIONS sessions (smtp-source, msgs/s)**" "$(num "$a20")" "$(num "$pa20")" "$(ratio "$a20" "$pa20")" "≥ 10× Postfix" "$v"
	local ed_rate ped_rate=
	ed_rate=$(rate "$N20" "$ed")
	[ -n "$ped" ] && ped_rate=$(rate "$N20" "$ped")
	row "accept while delivering, hold 0s (smtp-source, msgs/s)" "$(num "$(rate "$N20" "$ea")")" "$([ -n "$pea" ] && num "$(rate "$N20" "$pea")")" "$([ -n "$pea" ] && ratio "$(rate "$N20" "$ea")" "$(rate "$N20" "$pea")" || echo —)" "" ""
	v=—
	[ -n "$ped_rate" ] && v=$(verdict "$ed_rate >= 5 * $ped_rate")
	row "**end to end, hold 0s: delivered to smtp-sink (msgs/s)**" "$(num "$ed_rate")" "$(num "$ped_rate")" "$(ratio "$ed_rate" "$ped_rate")" "≥ 5× Postfix" "$v"
	# The time targets are for 20,000 and 100,000 messages: no verdict on other counts.
	v=—
	[ "$N20" = 20000 ] && v=$(verdict "$rel < 4")
	row "**release $(num "$N20") held → all delivered (s)**" "$rel" "$prel" "$(ratio "$prel" "$rel")" "< 4 s for 20,000" "$v"
	for a in drop hold flush; do
		v=—
		[ "$NBULK" = 100000 ] && v=$(verdict "${bulk[$a]} < 1")
		row "**\`$a\` $(num "$NBULK") by selector (s)**" "${bulk[$a]}" "${pbulk[$a]:-}" "$(ratio "${pbulk[$a]:-}" "${bulk[$a]}")" "< 1 s for 100,000" "$v"
	done
	local wa_none wa_hook we_none we_hook
	wa_none=$(field rate "${wacc[none]}") wa_hook=$(field rate "${wacc[hook]}")
	we_none=$(rate "$N20" "${we2e[none]}") we_hook=$(rate "$N20" "${we2e[hook]}")
	row "**accept, $SESSIONS sessions, one webhook on every event vs none (relayload, msgs/s)**" "$(num "$wa_hook") vs $(num "$wa_none") ($(pct "$wa_hook" "$wa_none"))" "" "" "within 10 %" "$(verdict "$wa_hook >= 0.9 * $wa_none")"
	row "**end to end, hold 0s, one webhook on every event vs none (smtp-source, msgs/s)**" "$(num "$we_hook") vs $(num "$we_none") ($(pct "$we_hook" "$we_none"))" "" "" "within 10 %" "$(verdict "$we_hook >= 0.9 * $we_none")"
	row "**accept, $SESSIONS sessions, runaway brake on vs off (relayload, msgs/s)**" "$(num "$BRAKE_ON") vs $(num "$BRAKE_OFF") ($(pct "$BRAKE_ON" "$BRAKE_OFF"))" "" "" "within 5 %" "$(verdict "$BRAKE_ON >= 0.95 * $BRAKE_OFF")"
	row "relayd CPU per accepted message, brake on vs off (µs)" "$BRAKE_CPU_ON vs $BRAKE_CPU_OFF ($(pct "$BRAKE_CPU_ON" "$BRAKE_CPU_OFF"))" "" "" "" ""
	row "end to end with the webhook: all $(num $((2 * N20))) events (accepted, delivered) at the receiver (s)" "$whook (mail: ${we2e[hook]})" "" "" "" ""
	row "spool file after end to end, webhook vs none (MB)" "${wsize[hook]} vs ${wsize[none]}" "" "" "" ""
	if [ "$NBIG" -gt 0 ]; then
		local big_rate empty_rate
		big_rate=$(field rate "$big_acc")
		empty_rate=$(field rate "$big_empty")
		row "fill: $(num "$NBIG") × 1 KiB written straight into the spool (bench/fill, set-up only; s)" "$big_fill" "" "" "" ""
		row "**RSS with $(num "$NBIG") spooled, after start-up (MB)**" "$big_rss0" "" "" "< 150 MB" "$(verdict "$big_rss0 < 150")"
		row "**RSS with $(num "$NBIG") spooled, after accepting $(num "$N20") more (MB)**" "$big_rss: $big_anon anonymous + $big_file spool pages mapped" "" "" "< 150 MB" "$(verdict "$big_rss < 150")"
		row "**accept with $(num "$NBIG") spooled (relayload, $SESSIONS sessions, msgs/s)**" "$(num "$big_rate") vs $(num "$empty_rate") empty just before ($(awk -v a="$big_rate" -v b="$empty_rate" 'BEGIN { printf "%+.0f %%", 100 * (a - b) / b }'))" "" "" "within 20 %" "$(verdict "$big_rate >= 0.8 * $empty_rate")"
		row "**start-up with $(num "$NBIG") spooled, to the SMTP greeting (s)**" "$big_start" "" "" "< 2 s" "$(verdict "$big_start < 2")"
		row "start-up after kill -9, with $(num "$NBIG") spooled (s)" "$big_crash" "" "" "" ""
	fi

	echo
	echo "relayd $(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || echo dev) vs $pfxver, $(date -u +%Y-%m-%d)"
	echo "Machine: $(machine)"
	echo "Messages of $SIZE bytes (bulk and big spool: $BULKSIZE), one new connection per message unless noted; every 250 after an fsync; relayd's delivery slots: ${DELIVERY_CONCURRENCY:-its default}."
	echo "Load average before the run: $LOAD_BEFORE, after: $(cut -d' ' -f1 /proc/loadavg) (anything above ~0.5 before means other work shared the 2 cores)."
	echo
	echo "| measurement | relayd | $pfxver | relayd vs Postfix | target | |"
	echo "|---|---|---|---|---|---|"
	printf '%s\n' "${ROWS[@]}"
}

main "$@"
