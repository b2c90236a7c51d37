package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomaint/maintenance/internal/server"
)

// These tests run `maintenance serve` as a real process (the test binary,
// put on $PATH by testscript.Main) in front of real upstreams on
// 127.0.0.1:0, for what scripts cannot do: signals other than SIGINT,
// WebSockets, streams, large bodies, TLS and HTTP/2.

// waitFor is how long a test waits for a condition before it fails.
const waitFor = 10 * time.Second

// serveProc is a running `maintenance serve`.
type serveProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // host:port it listens on

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on each line and at exit
	exited  bool
	err     error // of Wait, once exited
}

// startServe starts serve in dir (store sqlite:dir/m.db) with args after
// "serve --listen 127.0.0.1:0", and waits until it listens.
func startServe(t *testing.T, dir string, args ...string) *serveProc {
	t.Helper()
	return startServeCmd(t, dir, append([]string{"maintenance", "serve", "--listen", "127.0.0.1:0"}, args...))
}

// startServeCmd is startServe with the command line given whole.
func startServeCmd(t *testing.T, dir string, argv []string) *serveProc {
	t.Helper()
	return startListening(t, dir, `msg="serving https?://([^"]+)"`, argv...)
}

// startListening starts the command argv in dir (store sqlite:dir/m.db),
// and waits until it logs a line matching re, whose first submatch is the
// address it listens on.
func startListening(t *testing.T, dir, re string, argv ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MAINTENANCE_STORE=sqlite:"+filepath.Join(dir, "m.db"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{t: t, cmd: cmd, changed: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		err := cmd.Wait()
		p.mu.Lock()
		p.exited, p.err = true, err
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		if !p.hasExited() {
			p.signal(os.Interrupt)
			p.wait()
		}
		if t.Failed() {
			t.Logf("serve's log:\n%s", strings.Join(p.log(), "\n"))
		}
	})
	m := p.waitLog(re)
	p.addr = m[1]
	return p
}

func (p *serveProc) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

func (p *serveProc) hasExited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

func (p *serveProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitLog waits for a log line matching re, after the lines already
// matched by earlier calls with the same expression, and returns its
// submatches.
func (p *serveProc) waitLog(re string) []string {
	p.t.Helper()
	return p.waitLogN(re, 1)
}

// waitLogN waits until n log lines match re and returns the submatches of
// the nth.
func (p *serveProc) waitLogN(re string, n int) []string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(waitFor)
	for {
		p.mu.Lock()
		found := 0
		for _, l := range p.lines {
			if m := rx.FindStringSubmatch(l); m != nil {
				if found++; found == n {
					p.mu.Unlock()
					return m
				}
			}
		}
		ch, exited := p.changed, p.exited
		p.mu.Unlock()
		if exited {
			p.t.Fatalf("serve exited (%v) before logging %d lines matching %q:\n%s", p.err, n, re, strings.Join(p.log(), "\n"))
		}
		select {
		case <-ch:
		case <-deadline:
			p.t.Fatalf("serve did not log %d lines matching %q within %s:\n%s", n, re, waitFor, strings.Join(p.log(), "\n"))
		}
	}
}

// wait waits for serve to exit and returns its error.
func (p *serveProc) wait() error {
	p.t.Helper()
	deadline := time.After(waitFor + server.DefaultShutdownTimeout)
	for {
		p.mu.Lock()
		ch, exited, err := p.changed, p.exited, p.err
		p.mu.Unlock()
		if exited {
			return err
		}
		select {
		case <-ch:
		case <-deadline:
			p.cmd.Process.Kill()
			p.t.Fatalf("serve did not exit")
		}
	}
}

// upstream starts a test upstream and returns its URL.
func upstream(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// named is an upstream that answers with its name.
func named(t *testing.T, name string) string {
	return upstream(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "app: %s\n", name) })
}

// get makes one request through serve with a Host header and returns the
// status and body.
func get(t *testing.T, c *http.Client, url, host string) (int, string) {
	t.Helper()
	r, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Host = host
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// getReused is get, and says whether the request went on a connection
// used before.
func getReused(t *testing.T, c *http.Client, url, host string) (int, string, bool) {
	t.Helper()
	var reused bool
	r, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	r = r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
	}))
	r.Host = host
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), reused
}

// wsEcho is an upstream that upgrades to a line echo: each line comes back
// upper-cased. A raw HTTP/1.1 Upgrade, as a WebSocket handshake starts.
func wsEcho(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "want an upgrade", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	brw.Flush()
	for {
		line, err := brw.ReadString('\n')
		if err != nil {
			return
		}
		brw.WriteString(strings.ToUpper(line))
		brw.Flush()
	}
}

// wsConn is the client side of an upgraded connection.
type wsConn struct {
	net.Conn
	br *bufio.Reader
}

func dialUpgrade(t *testing.T, addr, host string) *wsConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(waitFor))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: status %d, want 101", resp.StatusCode)
	}
	return &wsConn{conn, br}
}

func (c *wsConn) echo(t *testing.T, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitFor))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatal(err)
	}
	got, err := c.br.ReadString('\n')
	if err != nil || got != strings.ToUpper(msg)+"\n" {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
	}
}

func TestServeStopFinishesRequests(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	up := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	p := startServe(t, t.TempDir(), "--upstream", up)
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + p.addr + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, string(b), err}
	}()
	<-started
	p.signal(syscall.SIGTERM)
	p.waitLog(`msg="stopping; finishing requests under way"`)
	// The listener closes: no new connection while the slow request
	// finishes.
	deadline := time.Now().Add(waitFor)
	for {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("serve still accepts connections after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.hasExited() {
		t.Fatal("serve exited with a request under way")
	}
	close(release)
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Errorf("the slow request: %d %q %v; want 200 finished", r.status, r.body, r.err)
	}
	if err := p.wait(); err != nil {
		t.Errorf("serve exited with %v after SIGTERM, want 0", err)
	}
}

func TestServeReload(t *testing.T) {
	dir := t.TempDir()
	a, b, def := named(t, "A"), named(t, "B"), named(t, "default")
	started, release := make(chan struct{}), make(chan struct{})
	slow := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "slow done")
	})
	ws := upstream(t, wsEcho)
	conf := filepath.Join(dir, "serve.conf")
	write := func(s string) {
		if err := os.WriteFile(conf, []byte(s), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("upstream %s\nsite shop.example.com=%s\nsite slow.example.com=%s\nsite ws.example.com=%s\n", def, a, slow, ws))
	p := startServe(t, dir, "--config", conf)

	// One keep-alive connection, used before and after the reload.
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	base := "http://" + p.addr + "/"
	if code, body := get(t, c, base, "shop.example.com"); code != 200 || body != "app: A\n" {
		t.Fatalf("before the reload: %d %q", code, body)
	}
	// A request under way and an upgraded connection, across the reload.
	slowDone := make(chan string, 1)
	go func() {
		r, _ := http.NewRequest("GET", base, nil)
		r.Host = "slow.example.com"
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			slowDone <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		slowDone <- fmt.Sprint(resp.StatusCode, " ", string(body))
	}()
	<-started
	wsc := dialUpgrade(t, p.addr, "ws.example.com")
	wsc.echo(t, "before")

	// The route of shop moves to B; a new site appears.
	write(fmt.Sprintf("upstream %s\nsite shop.example.com=%s\nsite new.example.com=%s\nsite slow.example.com=%s\nsite ws.example.com=%s\n", def, b, a, slow, ws))
	p.signal(syscall.SIGHUP)
	p.waitLog(`msg=reloaded `)
	if code, body, reused := getReused(t, c, base, "shop.example.com"); code != 200 || body != "app: B\n" || !reused {
		t.Errorf("after the reload: %d %q, connection reused %v; want app: B on the connection opened before", code, body, reused)
	}
	if code, body := get(t, c, base, "new.example.com"); code != 200 || body != "app: A\n" {
		t.Errorf("new route: %d %q, want app: A", code, body)
	}
	wsc.echo(t, "after the reload")
	close(release)
	if got := <-slowDone; got != "200 slow done" {
		t.Errorf("request under way during the reload: %q", got)
	}

	// A bad file: logged, the running configuration stays.
	write("upstream ftp://nope\n")
	p.signal(syscall.SIGHUP)
	p.waitLog(`level=ERROR msg="reload failed; the running configuration stays" err=".*serve.conf:1: upstream \\"ftp://nope\\": accepted`)
	if code, body := get(t, c, base, "shop.example.com"); code != 200 || body != "app: B\n" {
		t.Errorf("after a bad reload: %d %q, want app: B", code, body)
	}
	// A setting that needs a restart: said so, the rest applied. (listen
	// is on the command line, which wins.)
	write(fmt.Sprintf("metrics-listen 127.0.0.1:1\nupstream %s\n", b))
	p.signal(syscall.SIGHUP)
	p.waitLog(`level=WARN msg="reload: these settings changed but take effect on a restart only" settings=metrics-listen`)
	p.waitLogN(`msg=reloaded `, 2)
	if code, body := get(t, c, base, "shop.example.com"); code != 200 || body != "app: B\n" {
		t.Errorf("after the listen change: %d %q, want app: B", code, body)
	}
	if code, body := get(t, c, base, "other.example.com"); code != 200 || body != "app: B\n" {
		t.Errorf("the new default: %d %q, want app: B", code, body)
	}
	wsc.echo(t, "still open")
	wsc.Close()

	// Once their requests are done, the old gates leave the registry: one
	// gate remains.
	deadline := time.Now().Add(waitFor)
	for {
		out, err := exec.Command("maintenance", "--store", "sqlite:"+filepath.Join(dir, "m.db"), "gates", "--json").Output()
		if err != nil {
			t.Fatal(err)
		}
		var g struct{ Gates []json.RawMessage }
		if err := json.Unmarshal(out, &g); err != nil {
			t.Fatalf("gates --json: %v\n%s", err, out)
		}
		if len(g.Gates) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d gates registered, want 1 after the old ones finished:\n%s", len(g.Gates), out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cli runs the maintenance CLI on the store of dir.
func cli(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("maintenance", append([]string{"--store", "sqlite:" + filepath.Join(dir, "m.db")}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("maintenance %q: %v\n%s", args, err, out)
	}
}

// TestServeStoreChoice: serve's store is --store (before the command name
// or after it), else the configuration file's store line, else the store
// the command chose from the environment.
func TestServeStoreChoice(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "serve.conf")
	if err := os.WriteFile(conf, []byte("demo\nstore file:from-file.json\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		global bool // --store before the command
		args   []string
		want   string
	}{
		{name: "the environment", args: []string{"--demo"}, want: "sqlite:env.db"},
		{name: "the file", args: []string{"--config", conf}, want: "file:from-file.json"},
		{name: "--store after the command", args: []string{"--config", conf, "--store", "sqlite:flag.db"}, want: "sqlite:flag.db"},
		{name: "--store before the command", global: true, args: []string{"--config", conf}, want: "sqlite:global.db"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{stdout: io.Discard, stderr: io.Discard, storeURL: "sqlite:env.db", getenv: func(string) string { return "" }}
			if tt.global {
				e.storeURL, e.storeFlag = "sqlite:global.db", true
			}
			c, err := loadServeConfig(e, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if c.Store() != tt.want {
				t.Errorf("store %s, want %s", c.Store(), tt.want)
			}
		})
	}
}
