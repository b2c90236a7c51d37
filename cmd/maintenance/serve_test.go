package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
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
	deadline := time.After(waitFor + defaultShutdownTimeout)
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

func TestServeWebSocket(t *testing.T) {
	up := upstream(t, wsEcho)
	p := startServe(t, t.TempDir(), "--upstream", up)
	ws := dialUpgrade(t, p.addr, "chat.example.com")
	for _, msg := range []string{"hello", "through serve", "bye"} {
		ws.echo(t, msg)
	}
	ws.Close()
	p.waitLog(`msg=request method=GET host=chat\.example\.com path=/ws status=101 `)
}

func TestServeEventStream(t *testing.T) {
	next := make(chan struct{})
	up := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		rc := http.NewResponseController(w)
		for i := range 3 {
			fmt.Fprintf(w, "event: tick\ndata: %d\n\n", i)
			rc.Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	})
	p := startServe(t, t.TempDir(), "--upstream", up)
	resp, err := http.Get("http://" + p.addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		// Event i arrives while the upstream holds the stream open: each
		// one was passed on as it came, not at the end.
		var ev []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("event %d: %v after %q", i, err, ev)
			}
			if line == "\n" {
				break
			}
			ev = append(ev, line)
		}
		if want := []string{"event: tick\n", fmt.Sprintf("data: %d\n", i)}; fmt.Sprint(ev) != fmt.Sprint(want) {
			t.Fatalf("event %d: %q, want %q", i, ev, want)
		}
		next <- struct{}{}
	}
}

func TestServeLargeUpload(t *testing.T) {
	const size = 64 << 20
	const first = 1 << 20
	gotFirst := make(chan struct{})
	up := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.CopyN(h, r.Body, first)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		close(gotFirst) // the first MiB is here while the client holds the rest
		m, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x", n+m, h.Sum(nil))
	})
	p := startServe(t, t.TempDir(), "--upstream", up)

	rng := mrand.NewChaCha8([32]byte{1})
	data := make([]byte, size)
	rng.Read(data)
	sum := sha256.Sum256(data)
	pr, pw := io.Pipe()
	go func() {
		if _, err := pw.Write(data[:first]); err != nil {
			pw.CloseWithError(err)
			return
		}
		select {
		case <-gotFirst:
		case <-time.After(waitFor):
			pw.CloseWithError(fmt.Errorf("the upstream did not get the first MiB while the upload went on: serve buffers uploads"))
			return
		}
		_, err := pw.Write(data[first:])
		pw.CloseWithError(err)
	}()
	resp, err := http.Post("http://"+p.addr+"/upload", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want := fmt.Sprintf("%d %s", size, hex.EncodeToString(sum[:])); resp.StatusCode != 200 || string(b) != want {
		t.Fatalf("upload: %d %q, want 200 %q", resp.StatusCode, b, want)
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

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir, and returns the certificate.
func selfSigned(t *testing.T, dir string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"shop.example.com"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	cert := selfSigned(t, dir, 1)
	up := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s|%s", r.Proto, r.Header.Get("X-Forwarded-Proto"), r.Header.Get("Forwarded"))
	})
	p := startServe(t, dir, "--upstream", up, "--tls-cert", "cert.pem", "--tls-key", "key.pem")
	p.waitLog(`msg="serving https://`)
	client := func(c *x509.Certificate) *http.Client {
		pool := x509.NewCertPool()
		pool.AddCert(c)
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	}
	resp, err := client(cert).Get("https://" + p.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("client got %s, want HTTP/2", resp.Proto)
	}
	if want := "HTTP/1.1|https|for=127.0.0.1;host=\"" + p.addr + "\";proto=https"; string(body) != want {
		t.Errorf("upstream got %q, want %q", body, want)
	}

	// SIGHUP reloads the certificate: new connections get the new one.
	cert2 := selfSigned(t, dir, 2)
	p.signal(syscall.SIGHUP)
	p.waitLog(`msg=reloaded `)
	resp, err = client(cert2).Get("https://" + p.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Int64() != 2 {
		t.Errorf("after SIGHUP the certificate's serial is %s, want 2", got)
	}

	// A broken pair on reload keeps the running certificate.
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGHUP)
	p.waitLog(`msg="reload failed; the running configuration stays" err=".*tls-key`)
	resp, err = client(cert2).Get("https://" + p.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestLoadServeConfig(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "serve.conf")
	if err := os.WriteFile(conf, []byte(`# a comment
  listen 127.0.0.1:9000
upstream http://127.0.0.1:8000
site a.example.com=http://127.0.0.1:8001
site *.example.org
exempt POST /webhooks/*
exempt /healthz
access-log false
demo false
store file:from-file.json
`), 0o666); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		global    bool // --store before the command
		listen    string
		upstream  string
		routes    string
		sites     string
		exempt    string
		accessLog bool
		store     string
	}{
		{name: "file only", args: []string{"--config", conf}, listen: "127.0.0.1:9000", upstream: "http://127.0.0.1:8000",
			routes: "[a.example.com=http://127.0.0.1:8001]", sites: "[a.example.com *.example.org]", exempt: "[POST /webhooks/* /healthz]", store: "file:from-file.json"},
		{name: "flags win", args: []string{"--config", conf, "--listen", ":1", "--upstream", "http://10.0.0.1", "--access-log", "--store", "sqlite:flag.db"},
			listen: ":1", upstream: "http://10.0.0.1", routes: "[a.example.com=http://127.0.0.1:8001]", sites: "[a.example.com *.example.org]",
			exempt: "[POST /webhooks/* /healthz]", accessLog: true, store: "sqlite:flag.db"},
		{name: "a repeatable flag replaces the list", args: []string{"--config", conf, "--exempt", "/ping", "--site", "b.example.com"}, listen: "127.0.0.1:9000",
			upstream: "http://127.0.0.1:8000", routes: "[]", sites: "[b.example.com]", exempt: "[/ping]", store: "file:from-file.json"},
		{name: "global store wins", args: []string{"--config", conf}, global: true, listen: "127.0.0.1:9000", upstream: "http://127.0.0.1:8000",
			routes: "[a.example.com=http://127.0.0.1:8001]", sites: "[a.example.com *.example.org]", exempt: "[POST /webhooks/* /healthz]", store: "sqlite:global.db"},
		{name: "no file", args: []string{"--demo"}, listen: "127.0.0.1:8080", upstream: "<nil>", routes: "[]", sites: "[]", exempt: "[]", accessLog: true, store: "sqlite:env.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{stdout: io.Discard, stderr: io.Discard, storeURL: "sqlite:env.db", getenv: func(string) string { return "" }}
			if tt.global {
				e.storeURL, e.storeFlag = "sqlite:global.db", true
			}
			c, err := loadServeConfig(e, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			var routes []string
			for _, r := range c.routes {
				routes = append(routes, r.Site+"="+r.Upstream.String())
			}
			up := "<nil>"
			if c.upstream != nil {
				up = c.upstream.String()
			}
			got := fmt.Sprintf("listen=%s upstream=%s routes=%v sites=%v exempt=%v access-log=%v store=%s",
				c.listen, up, fmt.Sprint(routesOrEmpty(routes)), fmt.Sprint(orEmpty(c.gate.Sites)), fmt.Sprint(orEmpty(c.gate.Exempt)), c.accessLog, c.store)
			want := fmt.Sprintf("listen=%s upstream=%s routes=%s sites=%s exempt=%s access-log=%v store=%s",
				tt.listen, tt.upstream, tt.routes, tt.sites, tt.exempt, tt.accessLog, tt.store)
			if got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func routesOrEmpty(s []string) []string { return orEmpty(s) }

func TestParseServeConfig(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // name=value|... or the error
	}{
		{name: "empty", in: "", want: ""},
		{name: "comments and blanks", in: "# x\n\n   # y\n\t\n", want: ""},
		{name: "values keep inner spaces", in: "exempt  POST /webhooks/*  \n", want: "exempt=POST /webhooks/*"},
		{name: "tab separated", in: "listen\t:8080\r\n", want: "listen=:8080"},
		{name: "boolean alone", in: "demo\naccess-log false", want: "demo|access-log=false"},
		{name: "byte order mark", in: "\ufefflisten :1", want: "listen=:1"},
		{name: "a # inside a value is kept", in: "exempt ^/a#b", want: "exempt=^/a#b"},
		{name: "dashes", in: "--listen :1", want: `line 1: "--listen": write names without dashes: listen`},
		{name: "equals", in: "\nlisten=:1", want: `line 2: "listen=:1": write the name and the value separated by a space: listen :1`},
		{name: "upper case", in: "Listen :1", want: `line 1: setting name "Listen": accepted: a flag name without dashes, like listen or trusted-proxy`},
		{name: "control character", in: "listen :1\x00", want: `line 1: control character '\x00'; a line is: name value`},
		{name: "not UTF-8", in: "site \xff", want: "line 1: not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, err := parseServeConfig([]byte(tt.in))
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = formatConfigLines(lines)
			}
			if got != tt.want {
				t.Errorf("parseServeConfig(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func formatConfigLines(lines []configLine) string {
	var parts []string
	for _, l := range lines {
		if l.hasValue {
			parts = append(parts, l.name+"="+l.value)
		} else {
			parts = append(parts, l.name)
		}
	}
	return strings.Join(parts, "|")
}

// FuzzServeConfig checks that the configuration parser never panics, that
// what it accepts is well formed, that writing the settings back as
// "name value" lines parses to the same settings, and that turning them
// into serve's raw settings never panics either.
func FuzzServeConfig(f *testing.F) {
	for _, s := range []string{
		"", "# c\nlisten :8080\n", "site a.com=http://x\nsite *.b.com\n", "demo\n", "access-log false",
		"exempt POST /webhooks/*", "--listen :1", "listen=:1", "\ufeffupstream http://x\r\n", "a\tb\tc",
		"listen", "site \xff", "x \x00", "listen :1\nlisten :2", "config x", "store redis://u:p@h/0",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := parseServeConfig(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q does not name the line", err)
			}
			return
		}
		var b bytes.Buffer
		for _, l := range lines {
			if checkSettingName(l.name) != "" || l.name == "" {
				t.Fatalf("accepted a bad name %q", l.name)
			}
			if l.value != strings.TrimSpace(l.value) && l.value != strings.Trim(l.value, " \t") || strings.ContainsAny(l.value, "\n\r") {
				t.Fatalf("value %q not trimmed or spans lines", l.value)
			}
			if l.hasValue != (l.value != "") {
				t.Fatalf("hasValue %v with value %q", l.hasValue, l.value)
			}
			b.WriteString(l.name)
			if l.hasValue {
				b.WriteString(" " + l.value)
			}
			b.WriteString("\n")
		}
		again, err := parseServeConfig(b.Bytes())
		if err != nil {
			t.Fatalf("the settings written back do not parse: %v\n%s", err, b.String())
		}
		if formatConfigLines(again) != formatConfigLines(lines) {
			t.Fatalf("written back and parsed again: %q, want %q", formatConfigLines(again), formatConfigLines(lines))
		}
		if _, err := serveConfigSettings("f.conf", data); err != nil && !strings.HasPrefix(err.Error(), "f.conf:") {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}

// cli runs the maintenance CLI on the store of dir.
func cli(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("maintenance", append([]string{"--store", "sqlite:" + filepath.Join(dir, "m.db")}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("maintenance %q: %v\n%s", args, err, out)
	}
}

// waitOn waits until serve answers that the default site is on (true) or
// off (false).
func waitOn(t *testing.T, addr string, on bool) {
	t.Helper()
	want := fmt.Sprintf(`"on":%v`, on)
	deadline := time.Now().Add(waitFor)
	for {
		_, body := get(t, http.DefaultClient, "http://"+addr+"/_maintenance/status", "")
		if strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve's status did not say %s within %s: %s", want, waitFor, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type answer struct {
	status  int
	body    string
	elapsed time.Duration
	err     error
}

// goGet starts a GET of path through serve and returns where its answer
// will come.
func goGet(addr, path string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		start := time.Now()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			ch <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		ch <- answer{resp.StatusCode, string(b), time.Since(start), err}
	}()
	return ch
}

// holdOne sends two requests to a serve with --hold-limit 1 whose site is
// on in mode hold: one is held, the other gets the maintenance answer at
// once, which proves that the first is held. It returns the held one's
// answer channel.
func holdOne(t *testing.T, addr string) <-chan answer {
	t.Helper()
	a, b := goGet(addr, "/a"), goGet(addr, "/b")
	select {
	case r := <-a:
		if r.err != nil || r.status != http.StatusServiceUnavailable {
			t.Fatalf("over the hold limit: %d %v, want 503 at once", r.status, r.err)
		}
		return b
	case r := <-b:
		if r.err != nil || r.status != http.StatusServiceUnavailable {
			t.Fatalf("over the hold limit: %d %v, want 503 at once", r.status, r.err)
		}
		return a
	case <-time.After(waitFor):
		t.Fatal("neither request was answered: the hold limit did not apply")
	}
	return nil
}

func TestServeHold(t *testing.T) {
	up := named(t, "app")
	t.Run("released by off", func(t *testing.T) {
		dir := t.TempDir()
		p := startServe(t, dir, "--upstream", up, "--hold-timeout", "1m", "--hold-limit", "1")
		cli(t, dir, "on", "--mode", "hold", "--message", "Deploying")
		waitOn(t, p.addr, true)
		held := holdOne(t, p.addr)
		p.waitLog(`status=503 .* site=\* outcome=blocked maintenance=true$`)
		cli(t, dir, "off")
		r := <-held
		if r.err != nil || r.status != 200 || r.body != "app: app\n" {
			t.Fatalf("held request after off: %d %q %v, want the application's 200", r.status, r.body, r.err)
		}
		p.waitLog(`status=200 .* site=\* outcome=held maintenance=false$`)
	})
	t.Run("timed out", func(t *testing.T) {
		dir := t.TempDir()
		p := startServe(t, dir, "--upstream", up, "--hold-timeout", "300ms")
		cli(t, dir, "on", "--mode", "hold", "--message", "Deploying")
		waitOn(t, p.addr, true)
		r := <-goGet(p.addr, "/")
		if r.err != nil || r.status != 503 || !strings.Contains(r.body, "Deploying") {
			t.Fatalf("held past the timeout: %d %v, want the maintenance answer", r.status, r.err)
		}
		if r.elapsed < 300*time.Millisecond {
			t.Errorf("answered after %s, before the hold timeout", r.elapsed)
		}
		p.waitLog(`status=503 .* outcome=blocked maintenance=true$`)
	})
	t.Run("answered on stop", func(t *testing.T) {
		dir := t.TempDir()
		p := startServe(t, dir, "--upstream", up, "--hold-timeout", "1m", "--hold-limit", "1")
		cli(t, dir, "on", "--mode", "hold")
		waitOn(t, p.addr, true)
		held := holdOne(t, p.addr)
		p.signal(syscall.SIGTERM)
		r := <-held
		if r.err != nil || r.status != 503 {
			t.Fatalf("held request on stop: %d %v, want the maintenance answer", r.status, r.err)
		}
		if err := p.wait(); err != nil {
			t.Errorf("serve exited with %v, want 0", err)
		}
	})
}

func TestServeHoldFlags(t *testing.T) {
	e := &env{stdout: io.Discard, stderr: io.Discard, storeURL: "sqlite:m.db", getenv: func(string) string { return "" }}
	c, err := loadServeConfig(e, []string{"--demo", "--hold-timeout", "2m", "--hold-limit", "5"})
	if err != nil {
		t.Fatal(err)
	}
	if c.gate.HoldTimeout != 2*time.Minute || c.gate.HoldLimit != 5 {
		t.Errorf("hold timeout %s, limit %d; want 2m, 5", c.gate.HoldTimeout, c.gate.HoldLimit)
	}
}

// A reload while a request is under way leaves two gates running until
// that request is done (a stream may take hours): the scrape must still
// work, with one set of series.
func TestServeReloadMetrics(t *testing.T) {
	dir := t.TempDir()
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	slow := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	p := startServe(t, dir, "--upstream", slow, "--metrics-listen", "127.0.0.1:0")
	m := p.waitLog(`msg="metrics on (http://\S+/metrics)"`)
	go http.Get("http://" + p.addr + "/")
	<-started
	p.signal(syscall.SIGHUP)
	p.waitLog(`msg=reloaded `)
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape after a reload with a request under way: %d\n%s", resp.StatusCode, body)
	}
	if n := strings.Count(string(body), "\nmaintenance_state_version "); n != 1 {
		t.Errorf("%d maintenance_state_version series, want 1:\n%s", n, body)
	}
}

// An IPv4-mapped trusted proxy is the IPv4 prefix it maps, as the gate
// takes it: the proxy and the access log, which use the same list, must
// trust the same peers as the gate.
func TestServeTrustedProxyMapped(t *testing.T) {
	e := &env{stdout: io.Discard, stderr: io.Discard, storeURL: "sqlite:m.db", getenv: func(string) string { return "" }}
	c, err := loadServeConfig(e, []string{"--demo", "--trusted-proxy", "::ffff:10.0.0.0/104", "--trusted-proxy", "::ffff:192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.gate.TrustedProxies); got != "[10.0.0.0/8 192.0.2.1/32]" {
		t.Errorf("trusted proxies %s, want [10.0.0.0/8 192.0.2.1/32]", got)
	}
	_, err = loadServeConfig(e, []string{"--demo", "--trusted-proxy", "::ffff:10.0.0.1/104"})
	if err == nil || !strings.Contains(err.Error(), `--trusted-proxy "::ffff:10.0.0.1/104": host bits are set; did you mean ::ffff:10.0.0.0/104?`) {
		t.Errorf("an IPv4-mapped prefix with host bits: %v", err)
	}
}

// TestRetiredGenerationServesNothing: a request that picked a generation
// just before a reload retired it (and maybe closed its gate) goes to the
// generation that replaced it; one counted before keeps the old one open.
func TestRetiredGenerationServesNothing(t *testing.T) {
	mk := func(name string) *generation {
		return &generation{idle: make(chan struct{}), handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name)
		})}
	}
	old, cur := mk("old"), mk("new")
	s := &server{}
	s.cur.Store(old)

	// Counted before the reload: served by the old one, which stays open
	// until the request is done.
	old.active.Add(1)
	s.cur.Store(cur)
	old.retired.Store(true)
	select {
	case <-old.idle:
		t.Fatal("the old generation closed with a request under way")
	default:
	}
	old.done()
	<-old.idle

	// Picked before the reload, counted after: served by the new one.
	w := httptest.NewRecorder()
	if old.serve(w, httptest.NewRequest("GET", "/", nil)) || w.Body.Len() != 0 {
		t.Fatalf("a retired generation served a request: %q", w.Body)
	}
	w = httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Body.String() != "new" {
		t.Errorf("served by %q, want the new generation", w.Body)
	}
	if n := old.active.Load(); n != 0 {
		t.Errorf("the old generation counts %d requests, want 0", n)
	}
}

// TestServeConfigDoc loads the configuration file that docs/serve.md shows,
// as the document has it, and checks that each of its lines is the setting
// the document says.
func TestServeConfigDoc(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "serve.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\n### Configuration file and reload\n.*?\n```\n(.*?\n)```\n").FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/serve.md: no ``` block in the section \"Configuration file and reload\"")
	}
	conf := filepath.Join(t.TempDir(), "serve.conf")
	if err := os.WriteFile(conf, m[1], 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{stdout: io.Discard, stderr: io.Discard, storeURL: "sqlite:env.db", getenv: func(string) string { return "" }}
	c, err := loadServeConfig(e, []string{"--config", conf})
	if err != nil {
		t.Fatalf("docs/serve.md's configuration file: %v\n%s", err, m[1])
	}
	var routes []string
	for _, r := range c.routes {
		routes = append(routes, r.Site+"="+r.Upstream.String())
	}
	got := fmt.Sprintf("listen=%s upstream=%s routes=%v trusted=%v exempt=%v store=%s",
		c.listen, c.upstream, routes, c.gate.TrustedProxies, c.gate.Exempt, c.store)
	want := "listen=:8080 upstream=http://127.0.0.1:8000 routes=[shop.example.com=http://127.0.0.1:8001 *.example.org=http://127.0.0.1:8002] " +
		"trusted=[10.0.0.0/8] exempt=[POST /webhooks/*] store=postgres://maintenance@db/maintenance"
	if got != want {
		t.Errorf("docs/serve.md's configuration file gives\n%s\nwant\n%s", got, want)
	}
}
