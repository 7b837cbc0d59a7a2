#!/usr/bin/env bash
# Compares boiler start with goreman on this machine: log throughput and peak
# RSS in one run (3 processes × N lines, output to a file), then the RSS of
# the supervisor idling over 3 sleeping processes.
#
#   go build -o /tmp/boiler ./cmd/boiler
#   go install github.com/mattn/goreman@v0.3.16   # not a dependency of this module
#   supervisor/testdata/compare-goreman.sh /tmp/boiler "$(go env GOPATH)/bin/goreman" [N]
set -euo pipefail
boiler=$1 goreman=$2 n=${3:-1000000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
printf 'p1: seq %d\np2: seq %d\np3: seq %d\n' "$n" "$n" "$n" > Procfile.lines
printf 'p1: exec sleep 1000\np2: exec sleep 1000\np3: exec sleep 1000\n' > Procfile.idle

# breaks counts the lines whose number does not follow the previous one of
# the same process: a line torn in two shows up as breaks.
breaks() {
	sed 's/\x1b\[[0-9;]*m//g' "$1" | awk -F' [|] ' '
		$1 ~ /p[123]/ && $2 ~ /^[0-9]+$/ { p = $1; sub(/.*p/, "p", p); sub(/\..*/, "", p); lines++
			if ($2 != last[p] + 1) bad++; last[p] = $2 }
		END { printf "%d lines, %d sequence breaks", lines, bad }'
}

for tool in boiler goreman; do
	if [ "$tool" = boiler ]; then cmd=("$boiler" start -f Procfile.lines --no-color); else cmd=("$goreman" -f Procfile.lines start); fi
	/usr/bin/time -f '%e %M' -o time.txt "${cmd[@]}" > out.txt 2>&1
	read -r wall rss < time.txt
	echo "$tool: 3 x $n lines in ${wall}s ($(awk -v n="$n" -v w="$wall" 'BEGIN { printf "%d", 3 * n / w }') lines/s), peak RSS ${rss} KiB, $(breaks out.txt)"
done
for tool in boiler goreman; do
	if [ "$tool" = boiler ]; then "$boiler" start -f Procfile.idle --no-color > idle.txt 2>&1 & else "$goreman" -f Procfile.idle start > idle.txt 2>&1 & fi
	pid=$!
	sleep 2
	echo "$tool idle over 3 processes: $(grep VmRSS /proc/$pid/status | tr -s ' \t' ' ')"
	kill -TERM "$pid"
	wait "$pid" || true
done
