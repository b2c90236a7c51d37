#!/usr/bin/env bash
# bench/proxy.sh measures `maintenance serve` against a bare Go server, Caddy
# and nginx with wrk, on this machine, in one go:
#
#   a. a bare Go upstream (bench/upstream), hit directly
#   b. `maintenance serve --upstream` passing through to it (sqlite store)
#   c. Caddy reverse_proxy to it (admin off, logs off)
#   d. nginx proxy_pass to it, upstream keepalive (worker_processes auto,
#      access_log off)
#   e. serve's maintenance answer (after `maintenance on`), nginx's
#      `return 503` and a bare Go server answering 503 with the same body and
#      headers
#
# Usage: bench/proxy.sh            (from anywhere; run as root, or with wrk,
#                                   nginx, caddy and curl already installed)
#
# Environment (defaults in brackets):
#   DURATION [10s]  measured time of each case
#   WARMUP   [2s]   unmeasured run before each measured one
#   CONNS    [64]   wrk connections
#   ROUNDS   [3]    rounds; every case runs once per round (in reverse order
#                   in even rounds), and the table shows medians (ratios: the
#                   median of each round's ratio)
#   PIN      [auto] 1: wrk on the first half of the CPUs, every server on the
#                   other half (the same for every case); 0: no pinning;
#                   auto: 1 when there are 2 or more CPUs and taskset
#   RAW      []     a file to append every wrk output to
#
# Everything listens on 127.0.0.1, on free ports; files live in a temporary
# directory; every process started here is stopped on exit, Ctrl-C included.
# The result is a Markdown table on stdout; progress goes to stderr.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}
PIN=${PIN:-auto}
RAW=${RAW:-}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '%s\n' "$*" >&2; }
die() { say "proxy.sh: $*"; exit 1; }

# --- tools ------------------------------------------------------------------

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v caddy >/dev/null || missing+=(caddy)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
	command -v apt-get >/dev/null || die "missing ${missing[*]}, and no apt-get to install them"
	sudo=""
	((EUID == 0)) || sudo=sudo
	say "installing ${missing[*]} with apt-get"
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v go >/dev/null || die "go is needed to build maintenance"

# --- processes and cleanup --------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/proxybench.XXXXXX")
# nginx workers may run as nobody: they read the 503 page from here.
chmod 755 "$tmp"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ncpu=$(nproc)
if [[ $PIN == auto ]]; then
	PIN=0
	((ncpu >= 2)) && command -v taskset >/dev/null && PIN=1
fi
if [[ $PIN == 1 ]]; then
	half=$((ncpu / 2))
	wrk_cpus=0
	((half > 1)) && wrk_cpus+="-$((half - 1))"
	srv_cpus=$half
	((ncpu - 1 > half)) && srv_cpus+="-$((ncpu - 1))"
	threads=$half
	on_wrk=(taskset -c "$wrk_cpus")
	on_srv=(taskset -c "$srv_cpus")
	pinning="wrk on CPU $wrk_cpus; servers and upstream on CPU $srv_cpus (taskset, every case alike)"
else
	threads=$(((ncpu + 1) / 2))
	on_wrk=()
	on_srv=()
	pinning="no CPU pinning"
fi

# start NAME CMD...: runs CMD in the background on the servers' CPUs, its
# output in $tmp/NAME.log. (taskset execs CMD: $! is CMD's own pid.)
start() {
	local name=$1
	shift
	"${on_srv[@]}" "$@" >"$tmp/$name.log" 2>&1 &
	pids+=($!)
}

# Ports are picked below the kernel's ephemeral range, where no outgoing
# connection (wrk's, the proxies') can hold one; a port with a listener is
# skipped.
read -r eph_low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph_low=32768
((eph_low > 11000)) || eph_low=61000
used_ports=" "
free_port() {
	local p
	while :; do
		p=$((10000 + RANDOM % (eph_low - 10000)))
		[[ $used_ports == *" $p "* ]] && continue
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		used_ports+="$p "
		echo "$p"
		return
	done
}

# ready NAME URL STATUS: waits until URL answers STATUS.
ready() {
	local name=$1 url=$2 want=$3 got i
	for ((i = 0; i < 100; i++)); do
		got=$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)
		[[ $got == "$want" ]] && return 0
		sleep 0.1
	done
	say "proxy.sh: $name at $url answers ${got:-nothing}, not $want; its log:"
	tail -n 20 "$tmp/$name.log" >&2 || true
	exit 1
}

# --- build and start --------------------------------------------------------

say "building maintenance and bench/upstream in $repo"
(cd "$repo" && go build -o "$tmp/maintenance" ./cmd/maintenance && go build -o "$tmp/upstream" ./bench/upstream)

p_up=$(free_port)
p_serve=$(free_port)
p_caddy=$(free_port)
p_nginx=$(free_port)
p_serve503=$(free_port)
p_servelog=$(free_port)
p_go503=$(free_port)
p_nginx503=$(free_port)

start upstream "$tmp/upstream" -listen "127.0.0.1:$p_up"
ready upstream "http://127.0.0.1:$p_up/" 200

# Without its access log, as Caddy and nginx run here without theirs; a
# second serve with it (one slog line per request to a file), beside.
start serve "$tmp/maintenance" --store "sqlite:$tmp/serve.db" serve \
	--listen "127.0.0.1:$p_serve" --upstream "http://127.0.0.1:$p_up" --access-log=false
ready serve "http://127.0.0.1:$p_serve/" 200
start servelog "$tmp/maintenance" --store "sqlite:$tmp/serve.db" serve \
	--listen "127.0.0.1:$p_servelog" --upstream "http://127.0.0.1:$p_up"
ready servelog "http://127.0.0.1:$p_servelog/" 200

# A second serve whose store is in maintenance from the start.
"$tmp/maintenance" --store "sqlite:$tmp/serve503.db" init >/dev/null
"$tmp/maintenance" --store "sqlite:$tmp/serve503.db" on >/dev/null
start serve503 "$tmp/maintenance" --store "sqlite:$tmp/serve503.db" serve \
	--listen "127.0.0.1:$p_serve503" --upstream "http://127.0.0.1:$p_up" --access-log=false
ready serve503 "http://127.0.0.1:$p_serve503/" 503

# The bare Go 503 server and nginx answer serve's page with serve's headers.
mkdir -p "$tmp/www"
curl -s -o "$tmp/www/503.html" "http://127.0.0.1:$p_serve503/"
chmod -R a+rX "$tmp/www"
start go503 "$tmp/upstream" -listen "127.0.0.1:$p_go503" -status 503 -body "$tmp/www/503.html" \
	-header 'Cache-Control: no-store' -header 'Vary: Accept' \
	-header 'X-Content-Type-Options: nosniff' -header 'X-Robots-Tag: noindex'
ready go503 "http://127.0.0.1:$p_go503/" 503

mkdir -p "$tmp/caddy"
cat >"$tmp/Caddyfile" <<EOF
{
	admin off
	auto_https off
	storage file_system $tmp/caddy
	log {
		output discard
	}
}
http://127.0.0.1:$p_caddy {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$p_up
}
EOF
start caddy env HOME="$tmp/caddy" XDG_CONFIG_HOME="$tmp/caddy" XDG_DATA_HOME="$tmp/caddy" \
	caddy run --config "$tmp/Caddyfile" --adapter caddyfile
ready caddy "http://127.0.0.1:$p_caddy/" 200

mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log stderr warn;
events {
	worker_connections 4096;
}
http {
	access_log off;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	types {
		text/html html;
	}
	upstream app {
		server 127.0.0.1:$p_up;
		keepalive 128;
	}
	server {
		listen 127.0.0.1:$p_nginx;
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto \$scheme;
		}
	}
	server {
		listen 127.0.0.1:$p_nginx503;
		charset utf-8;
		error_page 503 /503.html;
		location / {
			return 503;
		}
		location = /503.html {
			internal;
			root $tmp/www;
			add_header Cache-Control no-store always;
			add_header Vary Accept always;
			add_header X-Content-Type-Options nosniff always;
			add_header X-Robots-Tag noindex always;
		}
	}
}
EOF
start nginx "$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e stderr
ready nginx "http://127.0.0.1:$p_nginx/" 200
ready nginx "http://127.0.0.1:$p_nginx503/" 503

# --- measure ----------------------------------------------------------------

cases=(upstream serve servelog caddy nginx serve503 go503 nginx503)
declare -A url label
url[upstream]=http://127.0.0.1:$p_up/
url[serve]=http://127.0.0.1:$p_serve/
url[servelog]=http://127.0.0.1:$p_servelog/
url[caddy]=http://127.0.0.1:$p_caddy/
url[nginx]=http://127.0.0.1:$p_nginx/
url[serve503]=http://127.0.0.1:$p_serve503/
url[go503]=http://127.0.0.1:$p_go503/
url[nginx503]=http://127.0.0.1:$p_nginx503/
label[upstream]="a. bare Go upstream, direct"
label[serve]="b. maintenance serve, pass-through"
label[servelog]="b. maintenance serve, pass-through, access log on"
label[caddy]="c. Caddy reverse_proxy"
label[nginx]="d. nginx proxy_pass, keepalive"
label[serve503]="e. maintenance serve, 503 page"
label[go503]="e. bare Go server, 503 page"
label[nginx503]="e. nginx return 503, 503 page"

# results: one line per measurement: round case req/s p99-ms errors
results=$tmp/results
: >"$results"

# to_ms VALUE: wrk's 1.23us / 4.56ms / 1.2s as milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000
		else if (v ~ /ms$/) n += 0
		else if (v ~ /m$/) n *= 60000
		else if (v ~ /s$/) n *= 1000
		printf "%.3f", n
	}'
}

measure() {
	local round=$1 c=$2 out rps p99 errs
	"${on_wrk[@]}" wrk -t "$threads" -c "$CONNS" -d "$WARMUP" "${url[$c]}" >/dev/null
	out=$("${on_wrk[@]}" wrk -t "$threads" -c "$CONNS" -d "$DURATION" --latency "${url[$c]}")
	[[ -n $RAW ]] && printf '### round %s %s\n%s\n' "$round" "$c" "$out" >>"$RAW"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
	errs=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
	errs=${errs:-0}
	if [[ $c != *503 ]]; then
		errs=$((errs + $(awk '/Non-2xx or 3xx/ {print $NF}' <<<"$out" | grep . || echo 0)))
	fi
	echo "$round $c $rps $p99 $errs" >>"$results"
	local note=""
	((errs == 0)) || note="  ($errs errors)"
	say "$(printf '  round %s  %-9s %9.0f req/s  p99 %7.2f ms%s' "$round" "$c" "$rps" "$p99" "$note")"
}

say "measuring: wrk -t $threads -c $CONNS -d $DURATION --latency, after a $WARMUP warm-up; $ROUNDS round(s); $pinning"
# Even rounds run the cases in reverse order, so that a drift of the
# machine's speed during the run weighs on both sides of each ratio alike.
for ((r = 1; r <= ROUNDS; r++)); do
	order=("${cases[@]}")
	if ((r % 2 == 0)); then
		order=()
		for ((i = ${#cases[@]} - 1; i >= 0; i--)); do order+=("${cases[$i]}"); done
	fi
	for c in "${order[@]}"; do measure "$r" "$c"; done
done

# --- report -----------------------------------------------------------------

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME" || uname -s)
nginx_v=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')
caddy_v=$(caddy version | awk '{print $1}')
go_v=$(go env GOVERSION)
rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD 2>/dev/null || rev+="+changes"

awk -v rounds="$ROUNDS" -v conns="$CONNS" -v dur="$DURATION" -v threads="$threads" \
	-v pinning="$pinning" -v cpu="$cpu" -v ncpu="$ncpu" -v os="$os" -v rev="$rev" \
	-v nginxv="$nginx_v" -v caddyv="$caddy_v" -v gov="$go_v" \
	-v order="${cases[*]}" \
	-v labels="$(for c in "${cases[@]}"; do printf '%s\t' "${label[$c]}"; done)" '
function median(a, n,    i, j, t, b) {
	for (i = 1; i <= n; i++) b[i] = a[i]
	for (i = 2; i <= n; i++) for (j = i; j > 1 && b[j-1] > b[j]; j--) { t = b[j]; b[j] = b[j-1]; b[j-1] = t }
	return n % 2 ? b[(n+1)/2] : (b[n/2] + b[n/2+1]) / 2
}
function comma(x,    s, r) {
	s = sprintf("%.0f", x); r = ""
	while (length(s) > 3) { r = "," substr(s, length(s)-2) r; s = substr(s, 1, length(s)-3) }
	return s r
}
# ratio NAME A B FIELD: the median over rounds of A/B.
function ratio(a, b, f,    r, n, x) {
	n = 0
	for (r = 1; r <= rounds; r++) if ((r, b) in f && f[r, b] > 0) x[++n] = f[r, a] / f[r, b]
	return n ? median(x, n) : 0
}
{ rps[$1, $2] = $3; p99[$1, $2] = $4; errs[$2] += $5 }
END {
	nc = split(order, cs, " "); split(labels, ls, "\t")
	printf "`maintenance serve` (%s) vs Caddy %s and nginx %s; %s, %d CPUs, %s, %s\n", rev, caddyv, nginxv, cpu, ncpu, os, gov
	printf "wrk -t%d -c%d -d%s --latency; %s; median of %d round(s)\n\n", threads, conns, dur, pinning, rounds
	print "| case | req/s | p99 (ms) |"
	print "|---|---:|---:|"
	for (i = 1; i <= nc; i++) {
		c = cs[i]; n = 0
		for (r = 1; r <= rounds; r++) { x[++n] = rps[r, c]; y[n] = p99[r, c] }
		mr[c] = median(x, n); mp[c] = median(y, n)
		printf "| %s | %s | %.2f |%s\n", ls[i], comma(mr[c]), mp[c], errs[c] ? " (" errs[c] " errors)" : ""
	}
	print ""
	print "| ratio | value | target | |"
	print "|---|---:|---:|---|"
	v = ratio("serve", "caddy", rps)
	printf "| serve / Caddy req/s | %.2f | >= 1.20 | %s |\n", v, v >= 1.2 ? "met" : "NOT met"
	v = ratio("serve", "caddy", p99)
	printf "| serve / Caddy p99 | %.2f | <= 1.00 | %s |\n", v, v <= 1.0 ? "met" : "NOT met"
	v = ratio("serve503", "go503", rps)
	printf "| serve 503 / bare Go 503 req/s | %.2f | >= 0.90 | %s |\n", v, v >= 0.9 ? "met" : "NOT met"
	printf "| serve / nginx req/s (beside) | %.2f | - | |\n", ratio("serve", "nginx", rps)
	printf "| serve with access log / Caddy req/s (beside) | %.2f | - | |\n", ratio("servelog", "caddy", rps)
	printf "| serve 503 / nginx 503 req/s (beside) | %.2f | - | |\n", ratio("serve503", "nginx503", rps)
	printf "| serve / bare upstream req/s | %.2f | - | |\n", ratio("serve", "upstream", rps)
}' "$results"
