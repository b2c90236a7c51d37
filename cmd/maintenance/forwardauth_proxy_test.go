package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance/internal/testenv"
)

// These tests run real nginx and real Caddy with the configurations of
// examples/ (the files themselves, with this test's ports) in front of a real
// upstream, and `maintenance forward-auth` deciding, and switch the state
// with the CLI.

// The addresses in the example files, replaced by the tests' own.
const (
	exampleApp      = "127.0.0.1:8000"
	exampleDecision = "127.0.0.1:8081"
)

// The test's visitor connects from 127.0.0.3, so that it is not the
// trusted proxy (127.0.0.1) and its address can be allowed.
const visitorIP = "127.0.0.3"

// exampleFile returns an example file with the test's addresses.
func exampleFile(t *testing.T, name string, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i < len(repl); i += 2 {
		if !strings.Contains(s, repl[i]) {
			t.Fatalf("examples/%s does not contain %q", name, repl[i])
		}
		s = strings.ReplaceAll(s, repl[i], repl[i+1])
	}
	return s
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startDaemon runs a proxy in the foreground until the test ends, and
// waits until addr accepts connections.
func startDaemon(t *testing.T, addr string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, out.String())
		}
	})
	deadline := time.Now().Add(waitFor)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited: %s", name, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s: %s", name, addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// appUpstream is the application: it says what it got. Its staff check,
// /staff-check, answers 204 for the cookie sessionid=staff.
func appUpstream(t *testing.T) string {
	u := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/staff-check" {
			if c, err := r.Cookie("sessionid"); err == nil && c.Value == "staff" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.WriteHeader(http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "app: %s %s maintenance=%q\n", r.Method, r.URL.RequestURI(), r.Header.Get("Maintenance"))
	})
	return strings.TrimPrefix(u, "http://")
}

// startDecision starts `maintenance forward-auth` on the store of dir, with
// the command line of docs/recipes.md (and of README.md, which must be the
// same) on a port of the test's, and the site and staff check the tests
// use.
func startDecision(t *testing.T, dir, app string) string {
	t.Helper()
	var line string
	for _, doc := range []string{"docs/recipes.md", "README.md"} {
		b, err := os.ReadFile(filepath.Join("..", "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile("(?m)^```sh\n(maintenance forward-auth [^\n&]*?) ?&?$").FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s has no ```sh block that starts with maintenance forward-auth", doc)
		}
		if line != "" && string(m[1]) != line {
			t.Fatalf("%s starts forward-auth with %q, docs/recipes.md with %q", doc, m[1], line)
		}
		line = string(m[1])
	}
	if !strings.Contains(line, "--listen "+exampleDecision) {
		t.Fatalf("docs/recipes.md starts forward-auth with %q, not --listen %s as the examples expect", line, exampleDecision)
	}
	args := strings.Fields(strings.Replace(line, "--listen "+exampleDecision, "--listen 127.0.0.1:0", 1))
	args = append(args, "--site", "shop.example.com", "--staff-check", "http://"+app+"/staff-check")
	p := startListening(t, dir, `msg="forward-auth on http://([^"]+)"`, args...)
	return p.addr
}

// visitor is an HTTP client from visitorIP that does not follow redirects.
func visitor() *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(visitorIP)}, Timeout: 5 * time.Second}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       waitFor,
	}
}

type visit struct {
	method, path string
	header       map[string]string
}

type seen struct {
	status int
	header http.Header
	body   string
}

func (v visit) do(t *testing.T, proxy string) seen {
	t.Helper()
	method := v.method
	if method == "" {
		method = "GET"
	}
	r, err := http.NewRequest(method, "http://"+proxy+v.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Host = "shop.example.com"
	for k, val := range v.header {
		r.Header.Set(k, val)
	}
	resp, err := visitor().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return seen{resp.StatusCode, resp.Header, string(b)}
}

// until repeats v until its status is want (the gates follow the store
// within a few hundred milliseconds), and returns that answer.
func (v visit) until(t *testing.T, proxy string, want int) seen {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		s := v.do(t, proxy)
		if s.status == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %d %q, want %d", v.method, v.path, s.status, s.body, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// proxyCases runs the visitor's cases through a proxy on addr in front of
// the application, with the decision server on the store of dir.
func proxyCases(t *testing.T, dir, proxy string) {
	html := map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
	// Off: the application answers; a Maintenance header of the visitor's
	// never reaches it.
	if s := (visit{path: "/cart?x=1", header: map[string]string{"Maintenance": "on"}}).until(t, proxy, 200); s.body != "app: GET /cart?x=1 maintenance=\"\"\n" {
		t.Errorf("off: %q", s.body)
	}
	cli(t, dir, "on", "--site", "shop.example.com", "--retry-after", "30m", "--message", "Back soon")
	// On: the page with its status and Retry-After, not the proxy's own page.
	s := visit{path: "/cart", header: html}.until(t, proxy, 503)
	if s.header.Get("Retry-After") != "1800" || !strings.HasPrefix(s.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(s.body, "Back soon") {
		t.Errorf("on, HTML: %v %q", s.header, s.body)
	}
	// JSON clients, POST included (the body goes to the decision server's
	// answer, not to the application).
	s = visit{method: "POST", path: "/api/orders", header: map[string]string{"Accept": "application/json"}}.do(t, proxy)
	if s.status != 503 || s.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(s.body, `"status":503`) {
		t.Errorf("on, JSON: %d %v %q", s.status, s.header, s.body)
	}
	// The status endpoint.
	s = visit{path: "/_maintenance/status"}.do(t, proxy)
	if s.status != 200 || !strings.Contains(s.body, `"on":true`) {
		t.Errorf("status: %d %q", s.status, s.body)
	}
	// An ignored path.
	cli(t, dir, "ignore", "add", "--site", "shop.example.com", "/static/*")
	// The application is told, and never by the visitor.
	const told = `maintenance="on, mode=full, retry-after=1800"`
	forged := map[string]string{"Maintenance": "on=?0"}
	if s := (visit{path: "/static/app.css", header: forged}).until(t, proxy, 200); s.body != "app: GET /static/app.css "+told+"\n" {
		t.Errorf("ignored path: %q, want the Maintenance header %s", s.body, told)
	}
	// The application's own staff (its /staff-check says 204), not others.
	if s := (visit{path: "/cart", header: map[string]string{"Cookie": "sessionid=staff", "Maintenance": "x"}}).do(t, proxy); s.status != 200 || s.body != "app: GET /cart "+told+"\n" {
		t.Errorf("staff: %d %q", s.status, s.body)
	}
	if s := (visit{path: "/cart", header: map[string]string{"Cookie": "sessionid=visitor"}}).do(t, proxy); s.status != 503 {
		t.Errorf("a visitor's cookie: %d %q, want 503", s.status, s.body)
	}
	if s := (visit{path: "/static/../cart"}).do(t, proxy); s.status == 200 {
		t.Errorf("ignored path with dot segments: %d %q", s.status, s.body)
	}
	// An allowed IP: the visitor's, not one it claims.
	cli(t, dir, "allow", "add", "--site", "shop.example.com", "192.0.2.7")
	time.Sleep(300 * time.Millisecond)
	if s := (visit{path: "/", header: map[string]string{"X-Forwarded-For": "192.0.2.7"}}).do(t, proxy); s.status != 503 {
		t.Errorf("an allowed IP claimed in X-Forwarded-For: %d %q", s.status, s.body)
	}
	cli(t, dir, "allow", "add", "--site", "shop.example.com", visitorIP)
	if s := (visit{path: "/", header: forged}).until(t, proxy, 200); s.body != "app: GET / "+told+"\n" {
		t.Errorf("allowed IP: %q, want the Maintenance header %s", s.body, told)
	}
	cli(t, dir, "allow", "rm", "--site", "shop.example.com", visitorIP)
	visit{path: "/"}.until(t, proxy, 503)
	// A bypass link: the cookie comes back to the visitor, and lets it in.
	out, err := exec.Command("maintenance", "--store", "sqlite:"+filepath.Join(dir, "m.db"), "bypass", "create", "--site", "shop.example.com", "--ttl", "1h").Output()
	if err != nil {
		t.Fatal(err)
	}
	// The printed link names the site's host; the visit goes to the proxy.
	link := strings.TrimPrefix(strings.TrimSpace(string(out)), "https://shop.example.com")
	s = visit{path: link}.until(t, proxy, 303)
	m := regexp.MustCompile(`^(maintenance_bypass=[^;]+);`).FindStringSubmatch(s.header.Get("Set-Cookie"))
	if m == nil || s.header.Get("Location") != "/" {
		t.Fatalf("bypass link: %d %v", s.status, s.header)
	}
	if s := (visit{path: "/cart", header: map[string]string{"Cookie": m[1]}}).do(t, proxy); s.status != 200 || !strings.HasPrefix(s.body, "app: GET /cart") {
		t.Errorf("bypass cookie: %d %q", s.status, s.body)
	}
	// Read-only: reads pass, writes get the answer.
	cli(t, dir, "on", "--site", "shop.example.com", "--mode", "read-only")
	visit{path: "/cart"}.until(t, proxy, 200)
	if s := (visit{method: "POST", path: "/cart", header: map[string]string{"Accept": "application/json"}}).do(t, proxy); s.status != 503 ||
		s.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("read-only POST: %d %v %q", s.status, s.header, s.body)
	}
	if s := (visit{method: "POST", path: "/cart"}).do(t, proxy); s.status != 503 {
		t.Errorf("read-only POST: %d", s.status)
	}
	cli(t, dir, "off", "--site", "shop.example.com")
	visit{method: "POST", path: "/cart"}.until(t, proxy, 200)
}

func TestForwardAuthNginx(t *testing.T) {
	nginx := testenv.Binary(t, "nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	app := appUpstream(t)
	decision := startDecision(t, dir, app)
	proxy := freePort(t)
	site := exampleFile(t, "nginx.conf", exampleApp, app, exampleDecision, decision, "listen 127.0.0.1:8080;", "listen "+proxy+";")
	for _, d := range []string{"body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		os.Mkdir(filepath.Join(dir, d), 0o700)
	}
	user := ""
	if os.Getuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
daemon off;
master_process off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/site.conf;
}
`, user, dir)
	if err := os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, proxy, nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx's error log:\n%s", b)
		}
	})
	proxyCases(t, dir, proxy)
}

func TestForwardAuthCaddy(t *testing.T) {
	caddy := testenv.Binary(t, "caddy", "/usr/bin/caddy")
	dir := t.TempDir()
	app := appUpstream(t)
	decision := startDecision(t, dir, app)
	proxy := freePort(t)
	_, port, _ := net.SplitHostPort(proxy)
	conf := exampleFile(t, "Caddyfile", exampleApp, app, exampleDecision, decision, "http://:8080 {", "http://:"+port+" {")
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, proxy, caddy, "run", "--config", path, "--adapter", "caddyfile")
	proxyCases(t, dir, proxy)
}
