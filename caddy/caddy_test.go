package caddymaint

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// The end-to-end test builds a Caddy binary with this module (./cmd/caddy,
// as xcaddy does) and the maintenance CLI, runs Caddy with ./Caddyfile in
// front of a real upstream, and switches the state with the CLI.

var bin string // directory of the built binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "caddymaint")
	if err != nil {
		panic(err)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func build(t *testing.T) (caddy, cli string) {
	t.Helper()
	caddy, cli = filepath.Join(bin, "caddy"), filepath.Join(bin, "maintenance")
	for _, b := range []struct{ dir, out, pkg string }{{".", caddy, "./cmd/caddy"}, {"..", cli, "./cmd/maintenance"}} {
		if _, err := os.Stat(b.out); err == nil {
			continue
		}
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", b.pkg, err, out)
		}
	}
	return caddy, cli
}

const waitFor = 10 * time.Second

type answer struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, addr, path string, header map[string]string) answer {
	t.Helper()
	r, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Host = "shop.example.com"
	for k, v := range header {
		r.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: waitFor}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func until(t *testing.T, addr, path string, header map[string]string, want int) answer {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		a := get(t, addr, path, header)
		if a.status == want {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %q, want %d", path, a.status, a.body, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCaddyModule(t *testing.T) {
	caddy, cli := build(t)
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "m.db")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(cli, append([]string{"--store", store}, args...)...).Output()
		if err != nil {
			t.Fatalf("maintenance %q: %v", args, err)
		}
		return string(out)
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/staff-check" {
			if c, err := r.Cookie("sessionid"); err == nil && c.Value == "staff" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.WriteHeader(http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "app: %s %s maintenance=%q\n", r.Method, r.URL.RequestURI(), r.Header.Get("Maintenance"))
	}))
	defer app.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	b, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, r := range [][2]string{
		{"http://:8080 {", "http://:" + port + " {"},
		{"sqlite:/var/lib/maintenance/maintenance.db", store},
		{"127.0.0.1:8000", strings.TrimPrefix(app.URL, "http://")},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("Caddyfile does not contain %q", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("caddy's output:\n%s", out.String())
		}
	}()
	deadline := time.Now().Add(waitFor)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy does not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}

	html := map[string]string{"Accept": "text/html"}
	forged := map[string]string{"Maintenance": "on=?0"}
	if a := get(t, addr, "/cart", forged); a.status != 200 || a.body != "app: GET /cart maintenance=\"\"\n" {
		t.Fatalf("off: %d %q", a.status, a.body)
	}
	// The module declared its site.
	if s := run("sites", "ls"); !strings.Contains(s, "shop.example.com") {
		t.Errorf("sites ls: %q, want shop.example.com declared by the module", s)
	}
	run("on", "--site", "shop.example.com", "--message", "Back at noon", "--retry-after", "10m")
	a := until(t, addr, "/cart", html, 503)
	if !strings.Contains(a.body, "Back at noon") || a.header.Get("Retry-After") != "600" || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		t.Errorf("on: %v %q", a.header, a.body)
	}
	if a := get(t, addr, "/cart", map[string]string{"Accept": "application/json"}); a.status != 503 || a.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("on, JSON: %d %v", a.status, a.header)
	}
	// The exempt path of the Caddyfile, and an ignore pattern from the CLI.
	const told = `maintenance="on, mode=full, retry-after=600"`
	if a := get(t, addr, "/healthz", forged); a.status != 200 || a.body != "app: GET /healthz "+told+"\n" {
		t.Errorf("exempt: %d %q", a.status, a.body)
	}
	run("ignore", "add", "--site", "shop.example.com", "/static/*")
	if a := until(t, addr, "/static/a.css", forged, 200); a.body != "app: GET /static/a.css "+told+"\n" {
		t.Errorf("ignored: %q", a.body)
	}
	// A bypass link.
	// The printed link names the site's host; the visit goes to Caddy.
	link := strings.TrimPrefix(strings.TrimSpace(run("bypass", "create", "--site", "shop.example.com", "--ttl", "1h")), "https://shop.example.com")
	a = until(t, addr, link, nil, 303)
	m := regexp.MustCompile(`^(maintenance_bypass=[^;]+);`).FindStringSubmatch(a.header.Get("Set-Cookie"))
	if m == nil {
		t.Fatalf("bypass link: %v", a.header)
	}
	if a := get(t, addr, "/cart", map[string]string{"Cookie": m[1]}); a.status != 200 || a.body != "app: GET /cart "+told+"\n" {
		t.Errorf("bypass cookie: %d %q", a.status, a.body)
	}
	// The application's own staff (staff_check), not other visitors.
	if a := get(t, addr, "/cart", map[string]string{"Cookie": "sessionid=staff", "Maintenance": "x"}); a.status != 200 || a.body != "app: GET /cart "+told+"\n" {
		t.Errorf("staff: %d %q", a.status, a.body)
	}
	if a := get(t, addr, "/cart", map[string]string{"Cookie": "sessionid=visitor"}); a.status != 503 {
		t.Errorf("a visitor's cookie: %d %q, want 503", a.status, a.body)
	}
	// The client IP is Caddy's: an X-Forwarded-For from a visitor that is
	// not a trusted proxy of Caddy's is not believed.
	run("allow", "add", "--site", "shop.example.com", "192.0.2.7")
	time.Sleep(300 * time.Millisecond)
	if a := get(t, addr, "/cart", map[string]string{"X-Forwarded-For": "192.0.2.7"}); a.status != 503 {
		t.Errorf("claimed allowed IP: %d", a.status)
	}
	run("allow", "add", "--site", "shop.example.com", "127.0.0.1")
	until(t, addr, "/cart", nil, 200)
	run("allow", "rm", "--site", "shop.example.com", "127.0.0.1")
	until(t, addr, "/cart", nil, 503)
	run("off", "--site", "shop.example.com")
	until(t, addr, "/cart", nil, 200)
}

func TestUnmarshalCaddyfile(t *testing.T) {
	var h Handler
	d := caddyfile.NewTestDispenser(`maintenance sqlite:/tmp/m.db {
		site shop.example.com *.example.org
		exempt /healthz
		exempt POST /webhooks/*
		templates /etc/pages
		state_cache /var/cache/m.json
		fail closed
		block_staff
		release v42
		staff_check http://127.0.0.1:8000/staff-check
		staff_check_ttl 1m
	}`)
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Handler{Store: "sqlite:/tmp/m.db", Sites: []string{"shop.example.com", "*.example.org"},
		Exempt: []string{"/healthz", "POST /webhooks/*"}, Templates: "/etc/pages", StateCache: "/var/cache/m.json",
		FailClosed: true, BlockStaff: true, Release: "v42",
		StaffCheck: "http://127.0.0.1:8000/staff-check", StaffCheckTTL: caddy.Duration(time.Minute)}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Errorf("got %+v\nwant %+v", h, want)
	}
	for in, msg := range map[string]string{
		`maintenance`:                "needs a store",
		`maintenance sqlite:x extra`: "wrong argument count",
		`maintenance sqlite:x {
colour red
}`: `unknown subdirective "colour"`,
		`maintenance sqlite:x {
exempt static
}`: "exempt",
		`maintenance sqlite:x {
site "bad host!"
}`: "site",
		`maintenance sqlite:x {
fail sometimes
}`: `fail "sometimes": accepted: open, closed`,
		`maintenance sqlite:x {
block_staff yes
}`: "wrong argument count",
		`maintenance {
store
}`: "wrong argument count",
		`maintenance sqlite:x {
exempt GET /a /b
}`: "wrong argument count",
		`maintenance sqlite:x {
templates /a /b
}`: "wrong argument count",
		`maintenance sqlite:x {
site
}`: "wrong argument count",
		`maintenance sqlite:x {
release
}`: "wrong argument count",
		`maintenance sqlite:x {
state_cache a b
}`: "wrong argument count",
		`maintenance sqlite:x {
exempt
}`: "wrong argument count",
		`maintenance sqlite:x {
fail
}`: "wrong argument count",
		`maintenance sqlite:x {
store sqlite:y more
}`: "wrong argument count",
		`maintenance sqlite:x {
staff_check /staff-check
}`: `staff_check: staff-check URL "/staff-check": accepted: the absolute URL`,
		`maintenance sqlite:x {
staff_check http://u:secret@app/staff
}`: "without user info",
		`maintenance sqlite:x {
staff_check http://app/_maintenance/x
}`: "not under the gate's own /_maintenance/",
		`maintenance sqlite:x {
staff_check_ttl 0s
}`: `staff_check_ttl "0s": accepted: a duration from 1s to 1h`,
		`maintenance sqlite:x {
staff_check_ttl 2h
}`: `staff_check_ttl "2h": accepted`,
		`maintenance sqlite:x {
staff_check_ttl soon
}`: `staff_check_ttl "soon": accepted`,
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		in = strings.ReplaceAll(in, "\n", " ")
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want an error saying %q", in, err, msg)
		}
	}
}
