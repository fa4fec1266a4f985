#!/usr/bin/env bash
# Signalling load: `sipline answer --media none` vs `sipp -sn uas`, both driven by the same
# `sipp -sn uac` on loopback (UDP), one rate after another, measured in the same run.
#
# For each rate: achieved calls/s, failed calls, retransmissions (sipp's stat file), CPU time of
# the answering process (utime+stime from /proc/PID/stat) per call, the CPU time sipp uac spent,
# and the CPU the rest of the machine used meanwhile (other work on a shared machine).
# Then memory per established dialog: RSS of the answering process before the calls and with
# MEM_CALLS calls up (INVITE transactions still in their 32 s wait; RSS never shrinks anyway).
#
# Usage (from the repository root, after `cargo build --release -p sipline-cli`):
#   benches/sipp_load.sh
# Settings (environment):
#   RATES="500 1000 2000 4000 6000 8000 10000"  calls/s to ask for, in order
#   SECS=6            seconds of calls per point (calls per point = rate * SECS)
#   SIPLINE=target/release/sipline
#   SIPLINE_STDOUT=/dev/null   where sipline's one-line-per-event output goes (a file to keep it)
#   SIPLINE_ARGS=""   more flags for sipline answer (e.g. --max-transactions 1000000 for long runs)
#   PEERS="sipline sipp"       which answering sides to measure
#   MEM_CALLS=10000 MEM_RATE=2000  (MEM_CALLS=0 skips the memory test)
#   BASE_PORT=15060   UDP ports BASE_PORT.. are used on 127.0.0.1
#   KEEP=1            keep the temporary directory (sipp stat/error files, sipline output)
# Output: one table row per rate and answering side on stdout, and a summary of memory.
set -euo pipefail

RATES=${RATES:-"500 1000 2000 4000 6000 8000 10000"}
SECS=${SECS:-6}
SIPLINE_ARGS=${SIPLINE_ARGS:-}
SIPLINE=${SIPLINE:-target/release/sipline}
SIPLINE_STDOUT=${SIPLINE_STDOUT:-/dev/null}
PEERS=${PEERS:-"sipline sipp"}
MEM_CALLS=${MEM_CALLS:-10000}
MEM_RATE=${MEM_RATE:-2000}
BASE_PORT=${BASE_PORT:-15060}
BUF=4194304

[[ -x $SIPLINE ]] || { echo "no $SIPLINE: cargo build --release -p sipline-cli" >&2; exit 1; }
command -v sipp >/dev/null || { echo "sipp not installed (apt-get install sip-tester)" >&2; exit 1; }
SIPLINE=$(readlink -f "$SIPLINE")
if [[ $SIPLINE_STDOUT != /dev/null ]]; then SIPLINE_STDOUT=$(readlink -f "$SIPLINE_STDOUT"); fi

TMP=$(mktemp -d /tmp/sipp_load.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
cd "$TMP"

TICK=$(getconf CLK_TCK)
NCPU=$(nproc)
port=$BASE_PORT

# utime+stime of a process (all its threads), in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# Busy ticks of the whole machine (all but idle and iowait).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }

# Waits until something listens on UDP 127.0.0.1:$1.
wait_udp() {
    local i
    for i in $(seq 100); do
        ss -Hlun "sport = :$1" | grep -q . && return 0
        sleep 0.05
    done
    echo "nothing listens on udp $1" >&2
    return 1
}

# Starts the answering side $1 on port $2; prints its pid.
start_uas() {
    local kind=$1 p=$2
    case $kind in
    sipline)
        "$SIPLINE" answer --listen "udp:127.0.0.1:$p" --media none $SIPLINE_ARGS \
            >"$SIPLINE_STDOUT" 2>"sipline.$p.err" &
        echo $!
        ;;
    sipp)
        sipp -sn uas -i 127.0.0.1 -p "$p" -nostdin -bg -buff_size $BUF >"uas.$p.out" 2>&1
        sed -n 's/.*PID=\[\([0-9]*\)\].*/\1/p' "uas.$p.out"
        ;;
    esac
}

stop_pid() {
    kill -TERM "$1" 2>/dev/null || return 0
    local i
    for i in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}

# Value of column $2 in the last line of sipp stat file $1 (StartTime/CurrentTime: epoch seconds).
stat_col() {
    awk -F';' -v col="$2" '
        NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
        { last = $0 }
        END {
            n = split(last, f, ";"); v = f[idx[col]]
            if (col ~ /Time$/) { m = split(v, t, "\t"); v = t[m] }
            print v
        }' "$1"
}

printf '%-7s %6s %8s %6s %7s %10s %10s %6s %6s\n' \
    side rate achieved failed retrans uas_us/call uac_us/call other% load1
RESULTS=$TMP/results.txt
: >"$RESULTS"

for rate in $RATES; do
    calls=$((rate * SECS))
    for kind in $PEERS; do
        port=$((port + 2))
        pid=$(start_uas "$kind" "$port")
        PIDS+=("$pid")
        wait_udp "$port"
        sleep 0.3
        c0=$(cpu_ticks "$pid"); b0=$(busy_ticks); t0=$(now)
        stf=uac.$port.csv
        rc=0
        # (sipp's -timeout has been seen not to end a run that overloaded its peer: kill it.)
        /usr/bin/time -f '%U %S' -o "uac.$port.time" \
            timeout -s KILL $((SECS * 2 + 30)) sipp -sn uac "127.0.0.1:$port" -i 127.0.0.1 -p $((port + 1)) -r "$rate" -m "$calls" \
            -nostdin -timeout $((SECS * 2 + 10))s -buff_size $BUF \
            -trace_stat -stf "$stf" -trace_err -error_file "uac.$port.errors.log" \
            >"uac.$port.out" 2>&1 || rc=$?
        t1=$(now)
        # Let the answering side finish what the last messages started (short: sipp uas polls
        # at ~2% CPU when idle, sipline does not).
        sleep 0.5
        c1=$(cpu_ticks "$pid"); b1=$(busy_ticks); t2=$(now); ld=$(load1)
        stop_pid "$pid"
        ok=$(stat_col "$stf" 'SuccessfulCall(C)')
        failed=$(stat_col "$stf" 'FailedCall(C)')
        retrans=$(stat_col "$stf" 'Retransmissions(C)')
        start=$(stat_col "$stf" StartTime)
        end=$(stat_col "$stf" CurrentTime)
        # (time writes "Command exited with non-zero status N" first when sipp fails.)
        read -r uu us < <(tail -n 1 "uac.$port.time")
        row=$(awk -v ok="$ok" -v s="$start" -v e="$end" -v c0="$c0" -v c1="$c1" -v b0="$b0" \
            -v b1="$b1" -v tk="$TICK" -v uu="$uu" -v us="$us" -v w0="$t0" -v w2="$t2" \
            -v n="$NCPU" -v calls="$calls" 'BEGIN {
                ach = ok / (e - s)
                uas = (c1 - c0) / tk * 1e6 / calls
                uac = (uu + us) * 1e6 / calls
                # CPU used by everything but our two processes, as % of the machine.
                other = ((b1 - b0) / tk - (c1 - c0) / tk - (uu + us)) / ((w2 - w0) * n) * 100
                if (other < 0) other = 0
                printf "%.0f %.1f %.1f %.0f", ach, uas, uac, other
            }')
        read -r ach uas uac other <<<"$row"
        printf '%-7s %6s %8s %6s %7s %10s %10s %6s %6s\n' \
            "$kind" "$rate" "$ach" "$failed" "$retrans" "$uas" "$uac" "$other" "$ld"
        echo "$kind $rate $ach $failed $retrans $uas $uac $other $ld $ok $rc" >>"$RESULTS"
        if [[ $failed != 0 || $rc != 0 ]]; then
            echo "  ($kind at $rate/s: sipp exit $rc; first errors:)" >&2
            head -5 "uac.$port.errors.log" 2>/dev/null | sed 's/^/    /' >&2 || true
        fi
    done
done

# sipline's CPU per call over sipp uas's, rate by rate.
echo
echo "CPU per call, sipline / sipp uas:"
awk '$1 == "sipline" { s[$2] = $6 } $1 == "sipp" { p[$2] = $6 }
     END { for (r in s) if (r in p && p[r] > 0) printf "  %6d/s  %.2fx\n", r, s[r] / p[r] }' \
    "$RESULTS" | sort -n

# Memory per established dialog.
if ((MEM_CALLS > 0)); then
    echo
    echo "Memory: $MEM_CALLS concurrent calls (sipp uac -r $MEM_RATE -d 60000), RSS of the answering side"
    for kind in $PEERS; do
        port=$((port + 2))
        pid=$(start_uas "$kind" "$port")
        PIDS+=("$pid")
        wait_udp "$port"
        sleep 0.5
        r0=$(rss_kb "$pid")
        stf=mem.$port.csv
        sipp -sn uac "127.0.0.1:$port" -i 127.0.0.1 -p $((port + 1)) -r "$MEM_RATE" \
            -m "$MEM_CALLS" -l "$MEM_CALLS" -d 60000 -nostdin -buff_size $BUF \
            -trace_stat -stf "$stf" -fd 1 -trace_err -error_file "mem.$port.errors.log" \
            >"mem.$port.out" 2>&1 &
        upid=$!
        PIDS+=("$upid")
        # Wait until sipp has every call up (it dumps its stats every second), then 2 s more
        # for the last ACKs.
        up=0
        for _ in $(seq $((MEM_CALLS / MEM_RATE + 30))); do
            sleep 1
            [[ -s $stf ]] || continue
            up=$(stat_col "$stf" 'CurrentCall')
            created=$(stat_col "$stf" 'TotalCallCreated')
            ((created >= MEM_CALLS && up >= MEM_CALLS)) && break
        done
        sleep 2
        r1=$(rss_kb "$pid")
        failed=$(stat_col "$stf" 'FailedCall(C)')
        up=$(stat_col "$stf" 'CurrentCall')
        stop_pid "$upid"
        stop_pid "$pid"
        awk -v k="$kind" -v r0="$r0" -v r1="$r1" -v n="$up" -v f="$failed" 'BEGIN {
            printf "  %-7s RSS %d KiB idle, %d KiB with %d calls up: %.0f B per call (%d failed)\n",
                k, r0, r1, n, (r1 - r0) * 1024 / n, f
        }'
    done
fi
