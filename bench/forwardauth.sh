#!/usr/bin/env bash
# bench/forwardauth.sh measures the gate inside the proxies people run, with
# wrk, on this machine, in one go, all in front of the same bare Go upstream
# (bench/upstream), every site off (the pass-through path):
#
#   nginx           nginx proxy_pass, upstream keepalive
#   nginx-auth      nginx + auth_request to `maintenance forward-auth`
#                   (keepalive to both): examples/nginx.conf itself
#   caddy           Caddy reverse_proxy (Caddy built from caddy/ with the
#                   module: the same binary and process for the three cases)
#   caddy-module    Caddy + the `maintenance` directive (caddy/Caddyfile)
#   caddy-fauth     Caddy + forward_auth to `maintenance forward-auth`
#                   (examples/Caddyfile)
#   serve           maintenance serve --access-log=false
#
# Usage: bench/forwardauth.sh   (wrk, nginx, curl, taskset and go installed)
# Environment: DURATION [10s], WARMUP [2s], CONNS [64], ROUNDS [3], as in
# bench/proxy.sh; wrk on the first CPU, every server on the others.
# The table shows medians over rounds; ratios are medians of each round's.
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '%s\n' "$*" >&2; }
die() {
	say "forwardauth.sh: $*"
	exit 1
}
for t in wrk curl go taskset; do command -v $t >/dev/null || die "$t is needed"; done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || die "nginx is needed"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fabench.XXXXXX")
[[ -d $tmp ]] || die "no temporary directory"
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
((ncpu >= 2)) || die "2 CPUs or more are needed"
on_wrk=(taskset -c 0)
on_srv=(taskset -c "1-$((ncpu - 1))")
start() {
	local name=$1
	shift
	"${on_srv[@]}" "$@" >"$tmp/$name.log" 2>&1 &
	pids+=($!)
}
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
ready() {
	local name=$1 url=$2 want=$3 got i
	for ((i = 0; i < 100; i++)); do
		got=$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)
		[[ $got == "$want" ]] && return 0
		sleep 0.1
	done
	say "forwardauth.sh: $name at $url answers ${got:-nothing}, not $want; its log:"
	tail -n 20 "$tmp/$name.log" >&2 || true
	exit 1
}

say "building maintenance, bench/upstream and Caddy with the module"
(cd "$repo" && go build -o "$tmp/maintenance" ./cmd/maintenance && go build -o "$tmp/upstream" ./bench/upstream)
(cd "$repo/caddy" && go build -o "$tmp/caddy.bin" ./cmd/caddy)

p_up=$(free_port)
p_dec=$(free_port)
p_serve=$(free_port)
p_nginx=$(free_port)
p_nginxauth=$(free_port)
p_caddy=$(free_port)
p_caddymod=$(free_port)
p_caddyfa=$(free_port)
store="sqlite:$tmp/m.db"
"$tmp/maintenance" --store "$store" init >/dev/null
"$tmp/maintenance" --store "$store" sites add shop.example.com >/dev/null

start upstream "$tmp/upstream" -listen "127.0.0.1:$p_up"
ready upstream "http://127.0.0.1:$p_up/" 200
start decision "$tmp/maintenance" --store "$store" forward-auth --listen "127.0.0.1:$p_dec" --trusted-proxy 127.0.0.1
start serve "$tmp/maintenance" --store "$store" serve --listen "127.0.0.1:$p_serve" \
	--upstream "http://127.0.0.1:$p_up" --access-log=false
ready serve "http://127.0.0.1:$p_serve/" 200

# nginx: the example's server for auth_request, and the same proxy_pass
# location without it, in one nginx with one worker.
mkdir -p "$tmp/nginx"
sed -e "s/127.0.0.1:8000/127.0.0.1:$p_up/; s/127.0.0.1:8081/127.0.0.1:$p_dec/; s/listen 127.0.0.1:8080;/listen 127.0.0.1:$p_nginxauth;/" \
	"$repo/examples/nginx.conf" >"$tmp/nginx/site.conf"
cat >"$tmp/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	include $tmp/nginx/site.conf;
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
}
NGINX
start nginx "$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e stderr
ready nginx "http://127.0.0.1:$p_nginx/" 200
ready nginx-auth "http://127.0.0.1:$p_nginxauth/" 200

# Caddy: one process, three sites (same binary, same settings).
mkdir -p "$tmp/caddy"
{
	cat <<CADDY
{
	admin off
	auto_https off
	storage file_system $tmp/caddy
	log {
		output discard
	}
}
http://:$p_caddy {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:$p_up
}
CADDY
	sed -n '/^http:\/\/:8080 {/,$p' "$repo/caddy/Caddyfile" |
		sed -e "s#http://:8080 {#http://:$p_caddymod {#; s#sqlite:/var/lib/maintenance/maintenance.db#$store#; s#127.0.0.1:8000#127.0.0.1:$p_up#"
	sed -n '/^http:\/\/:8080 {/,$p' "$repo/examples/Caddyfile" |
		sed -e "s#http://:8080 {#http://:$p_caddyfa {#; s#127.0.0.1:8081#127.0.0.1:$p_dec#; s#127.0.0.1:8000#127.0.0.1:$p_up#"
} >"$tmp/Caddyfile"
start caddy env HOME="$tmp/caddy" XDG_CONFIG_HOME="$tmp/caddy" XDG_DATA_HOME="$tmp/caddy" \
	"$tmp/caddy.bin" run --config "$tmp/Caddyfile" --adapter caddyfile
ready caddy "http://127.0.0.1:$p_caddy/" 200
ready caddy-module "http://127.0.0.1:$p_caddymod/" 200
ready caddy-fauth "http://127.0.0.1:$p_caddyfa/" 200

cases=(nginx nginx-auth caddy caddy-module caddy-fauth serve)
declare -A url
url[nginx]=http://127.0.0.1:$p_nginx/
url[nginx-auth]=http://127.0.0.1:$p_nginxauth/
url[caddy]=http://127.0.0.1:$p_caddy/
url[caddy-module]=http://127.0.0.1:$p_caddymod/
url[caddy-fauth]=http://127.0.0.1:$p_caddyfa/
url[serve]=http://127.0.0.1:$p_serve/

results=$tmp/results
: >"$results"
to_ms() {
	awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
measure() {
	local round=$1 c=$2 out rps p99 errs
	"${on_wrk[@]}" wrk -t 1 -c "$CONNS" -d "$WARMUP" "${url[$c]}" >/dev/null
	out=$("${on_wrk[@]}" wrk -t 1 -c "$CONNS" -d "$DURATION" --latency "${url[$c]}")
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
	errs=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
	errs=$((${errs:-0} + $(awk '/Non-2xx or 3xx/ {print $NF}' <<<"$out" | grep . || echo 0)))
	echo "$round $c $rps $p99 $errs" >>"$results"
	say "$(printf '  round %s  %-13s %9.0f req/s  p99 %7.2f ms  errors %d' "$round" "$c" "$rps" "$p99" "$errs")"
}
say "measuring: wrk -t1 -c$CONNS -d$DURATION --latency after a $WARMUP warm-up, $ROUNDS round(s)"
for ((r = 1; r <= ROUNDS; r++)); do
	order=("${cases[@]}")
	if ((r % 2 == 0)); then
		order=()
		for ((i = ${#cases[@]} - 1; i >= 0; i--)); do order+=("${cases[$i]}"); done
	fi
	for c in "${order[@]}"; do measure "$r" "$c"; done
done

awk -v rounds="$ROUNDS" -v order="${cases[*]}" -v nginxv="$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')" \
	-v caddyv="$("$tmp/caddy.bin" version | awk '{print $1}')" '
function median(a, n,    i, j, t, b) {
	for (i = 1; i <= n; i++) b[i] = a[i]
	for (i = 2; i <= n; i++) for (j = i; j > 1 && b[j-1] > b[j]; j--) { t = b[j]; b[j] = b[j-1]; b[j-1] = t }
	return n % 2 ? b[(n+1)/2] : (b[n/2] + b[n/2+1]) / 2
}
function ratio(a, b, f,    r, n, x) {
	n = 0
	for (r = 1; r <= rounds; r++) if ((r, b) in f && f[r, b] > 0) x[++n] = f[r, a] / f[r, b]
	return n ? median(x, n) : 0
}
{ rps[$1, $2] = $3; p99[$1, $2] = $4; errs[$2] += $5 }
END {
	nc = split(order, cs, " ")
	printf "nginx %s, Caddy %s (built from caddy/), median of %d round(s)\n\n", nginxv, caddyv, rounds
	print "| case | req/s | p99 (ms) |"
	print "|---|---:|---:|"
	for (i = 1; i <= nc; i++) {
		c = cs[i]; n = 0
		for (r = 1; r <= rounds; r++) { x[++n] = rps[r, c]; y[n] = p99[r, c] }
		printf "| %s | %.0f | %.2f |%s\n", c, median(x, n), median(y, n), errs[c] ? " (" errs[c] " errors)" : ""
	}
	print ""
	print "| ratio | value | target | |"
	print "|---|---:|---:|---|"
	v = ratio("caddy-module", "caddy", rps); printf "| Caddy+module / Caddy req/s | %.2f | >= 0.95 | %s |\n", v, v >= 0.95 ? "met" : "NOT met"
	v = ratio("nginx-auth", "nginx", rps); printf "| nginx+forward-auth / nginx req/s | %.2f | >= 0.60 | %s |\n", v, v >= 0.6 ? "met" : "NOT met"
	v = ratio("nginx-auth", "nginx", p99); printf "| nginx+forward-auth / nginx p99 | %.2f | <= 2.00 | %s |\n", v, v <= 2 ? "met" : "NOT met"
	printf "| Caddy+forward_auth / Caddy req/s | %.2f | - | |\n", ratio("caddy-fauth", "caddy", rps)
	printf "| serve / nginx req/s | %.2f | - | |\n", ratio("serve", "nginx", rps)
	printf "| serve / Caddy req/s | %.2f | - | |\n", ratio("serve", "caddy", rps)
}' "$results"
