package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
)

// Tests of a running server: streams, uploads, TLS and HTTP/2, hold,
// metrics across a reload, the Maintenance header, the staff check.

// TestServeWebSocket: a WebSocket passes through, both ways, and is
// logged with status 101.
func TestServeWebSocket(t *testing.T) {
	up := newWSUpstream(t)
	p := start(t, t.TempDir(), "--upstream", up.url)
	ws, status := dialWS(t, p.addr)
	if ws == nil {
		t.Fatalf("upgrade: status %d, want 101", status)
	}
	for _, msg := range []string{"hello", "through serve", "bye"} {
		ws.echo(t, msg)
	}
	ws.Close()
	p.waitLog(`msg=request method=GET host=chat\.example\.com path=/ws status=101 `)
}

// named is an upstream that answers with its name.
func named(t *testing.T, name string) string {
	return upstream(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "app: %s\n", name) })
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
	p := start(t, t.TempDir(), "--upstream", up)
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
	p := start(t, t.TempDir(), "--upstream", up)

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
	p := start(t, dir, "--upstream", up, "--tls-cert", filepath.Join(dir, "cert.pem"), "--tls-key", filepath.Join(dir, "key.pem"))
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

	// A reload reads the certificate again: new connections get the new one.
	cert2 := selfSigned(t, dir, 2)
	if err := p.reload(); err != nil {
		t.Fatal(err)
	}
	p.waitLog(`msg=reloaded `)
	resp, err = client(cert2).Get("https://" + p.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Int64() != 2 {
		t.Errorf("after a reload the certificate's serial is %s, want 2", got)
	}

	// A broken pair on reload keeps the running certificate.
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.reload(); err == nil || !strings.Contains(err.Error(), "tls-key") {
		t.Fatalf("a reload with a broken key: %v, want an error naming --tls-key", err)
	}
	resp, err = client(cert2).Get("https://" + p.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
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
		p := start(t, dir, "--upstream", up, "--hold-timeout", "1m", "--hold-limit", "1")
		p.change(on(maintenance.OnOptions{Mode: ptr(maintenance.ModeHold), Message: ptr("Deploying")}))
		waitOn(t, p.addr, true)
		held := holdOne(t, p.addr)
		p.waitLog(`status=503 .* site=\* outcome=blocked maintenance=true$`)
		p.change(off())
		r := <-held
		if r.err != nil || r.status != 200 || r.body != "app: app\n" {
			t.Fatalf("held request after off: %d %q %v, want the application's 200", r.status, r.body, r.err)
		}
		p.waitLog(`status=200 .* site=\* outcome=held maintenance=false$`)
	})
	t.Run("timed out", func(t *testing.T) {
		dir := t.TempDir()
		p := start(t, dir, "--upstream", up, "--hold-timeout", "300ms")
		p.change(on(maintenance.OnOptions{Mode: ptr(maintenance.ModeHold), Message: ptr("Deploying")}))
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
		p := start(t, dir, "--upstream", up, "--hold-timeout", "1m", "--hold-limit", "1")
		p.change(on(maintenance.OnOptions{Mode: ptr(maintenance.ModeHold)}))
		waitOn(t, p.addr, true)
		held := holdOne(t, p.addr)
		stopped := make(chan error, 1)
		go func() { stopped <- p.Shutdown() }()
		r := <-held
		if r.err != nil || r.status != 503 {
			t.Fatalf("held request on stop: %d %v, want the maintenance answer", r.status, r.err)
		}
		if err := <-stopped; err != nil {
			t.Errorf("Shutdown: %v, want nil", err)
		}
	})
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
	p := start(t, dir, "--upstream", slow, "--metrics-listen", "127.0.0.1:0")
	m := p.waitLog(`msg="metrics on (http://\S+/metrics)"`)
	go http.Get("http://" + p.addr + "/")
	<-started
	if err := p.reload(); err != nil {
		t.Fatal(err)
	}
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

// echoMaintenance is an upstream that answers the Maintenance header it
// received, or "none".
func echoMaintenance(t *testing.T) string {
	return upstream(t, func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Values("Maintenance")
		if len(v) == 0 {
			v = []string{"none"}
		}
		w.Write([]byte(strings.Join(v, " | ")))
	})
}

// getWith makes a GET through serve with extra request headers and returns
// the status and body.
func getWith(t *testing.T, method, url string, header http.Header) (int, string) {
	t.Helper()
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		r.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// TestServeMaintenanceHeader: the application learns from the Maintenance
// request header that the site is in maintenance (or has a window
// announced) when a request is let through, and never from a client.
func TestServeMaintenanceHeader(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, "--upstream", echoMaintenance(t))
	base := "http://" + p.addr
	forged := http.Header{"Maintenance": {"on, mode=full"}}
	check := func(what, method, path string, h http.Header, want string) {
		t.Helper()
		code, body := getWith(t, method, base+path, h)
		if code != 200 || body != want {
			t.Errorf("%s: %d %q, want 200 %q", what, code, body, want)
		}
	}

	check("off, a client's header", "GET", "/", forged, "none")

	p.change(maintenance.AddIgnore("", "/healthz", ""))
	p.change(on(maintenance.OnOptions{RetryAfter: ptr(30 * time.Minute)}))
	waitOn(t, p.addr, true)
	check("full, an ignored path", "GET", "/healthz", nil, "on, mode=full, retry-after=1800")
	check("full, an ignored path, a client's header", "GET", "/healthz", forged, "on, mode=full, retry-after=1800")

	untilTime := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	until := untilTime.Format(time.RFC3339)
	p.change(on(maintenance.OnOptions{Mode: ptr(maintenance.ModeReadOnly), Until: &untilTime}))
	await := func(want string) {
		t.Helper()
		deadline := time.Now().Add(waitFor)
		for {
			if _, body := getWith(t, "GET", base+"/", nil); body == want || time.Now().After(deadline) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	want := `on, mode=read-only, until="` + until + `"`
	await(want)
	check("read-only, a GET", "GET", "/", forged, want)

	p.change(on(maintenance.OnOptions{Mode: ptr(maintenance.ModeErrors)}))
	await(`on, mode=errors, until="` + until + `"`)
	check("errors mode, a POST", "POST", "/orders", forged, `on, mode=errors, until="`+until+`"`)

	p.change(off())
	waitOn(t, p.addr, false)
	start := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	from, end := start.Format(time.RFC3339), start.Add(time.Hour).Format(time.RFC3339)
	p.change(maintenance.AddWindow("", maintenance.Window{From: start, Until: start.Add(time.Hour)}))
	want = `on=?0, starts="` + from + `", until="` + end + `"`
	await(want)
	check("a window announced", "GET", "/", forged, want)
}

// TestServeStaffCheck: with --staff-check, the application's own staff
// (here a session cookie its /staff-check view knows) pass a site in
// maintenance; visitors, wrong sessions and requests without credentials
// get the page; the answer is cached per credential.
func TestServeStaffCheck(t *testing.T) {
	var checks atomic.Int64
	up := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/staff-check" {
			checks.Add(1)
			if c, err := r.Cookie("sessionid"); err == nil && c.Value == "staff" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.Write([]byte("app: " + r.Header.Get("Maintenance")))
	})
	dir := t.TempDir()
	p := start(t, dir, "--upstream", up, "--staff-check", "/staff-check")
	p.change(on(maintenance.OnOptions{}))
	waitOn(t, p.addr, true)
	base := "http://" + p.addr
	for _, tc := range []struct {
		what   string
		header http.Header
		code   int
		body   string
	}{
		{"staff", http.Header{"Cookie": {"csrftoken=x; sessionid=staff"}}, 200, "app: on, mode=full"},
		{"staff again (cached)", http.Header{"Cookie": {"csrftoken=x; sessionid=staff"}}, 200, "app: on, mode=full"},
		{"a visitor", http.Header{"Cookie": {"sessionid=visitor"}}, 503, ""},
		{"a visitor again (cached)", http.Header{"Cookie": {"sessionid=visitor"}}, 503, ""},
		{"no credentials", nil, 503, ""},
	} {
		code, body := getWith(t, "POST", base+"/orders", tc.header)
		if code != tc.code || tc.body != "" && body != tc.body {
			t.Errorf("%s: %d %.60q, want %d %q", tc.what, code, body, tc.code, tc.body)
		}
	}
	if n := checks.Load(); n != 2 {
		t.Errorf("the application was asked %d times, want 2 (one per credential)", n)
	}
	p.waitLog(`method=POST .* status=200 .* outcome=bypass maintenance=false$`)
}
func TestServeReleaseHoldCapsUpstreamConnections(t *testing.T) {
	var (
		mu            sync.Mutex
		open, maxOpen int
	)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(5 * time.Millisecond)
			io.WriteString(w, "app")
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			switch s {
			case http.StateNew:
				open++
				maxOpen = max(maxOpen, open)
			case http.StateClosed, http.StateHijacked:
				open--
			}
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	dir := t.TempDir()
	p := start(t, dir, "--upstream", "http://"+ln.Addr().String(), "--upstream-max-connections", "8", "--hold-timeout", "1m")
	p.change(on(maintenance.OnOptions{Mode: ptr(maintenance.ModeHold)}))
	waitOn(t, p.addr, true)
	const n = 300
	var wrote atomic.Int64
	answers := make([]chan answer, n)
	for i := range answers {
		answers[i] = make(chan answer, 1)
		go func() {
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/held/%d", p.addr, i), nil)
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Add(1) },
			}))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers[i] <- answer{err: err}
				return
			}
			resp.Body.Close()
			answers[i] <- answer{status: resp.StatusCode}
		}()
	}
	// Released together: whether each one was held yet or not, they all
	// reach the upstream at once.
	waitUntil(t, "the requests are sent", func() bool { return wrote.Load() == n })
	p.change(off())
	for i, a := range answers {
		if r := <-a; r.err != nil || r.status != 200 {
			t.Fatalf("held request %d after off: %d %v", i, r.status, r.err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if maxOpen > 8 {
		t.Errorf("%d connections to the upstream at once, want at most 8", maxOpen)
	}
}

// TestReloadRestartOnly: a reload applies what may change live, keeps the
// running value of each setting that takes effect on a restart only
// (switching TLS on or off too), and says in the log which changed.
func TestReloadRestartOnly(t *testing.T) {
	a, b := named(t, "A"), named(t, "B")
	dir := t.TempDir()
	selfSigned(t, dir, 1)
	p := start(t, dir, "--upstream", a, "--max-connections", "50")
	before := *p.config()
	cfg, err := load(noDefaults, "--upstream", b, "--listen", "127.0.0.1:1", "--max-connections", "7", "--metrics-listen", "127.0.0.1:0",
		"--webhook-lease", "1m", "--log-format", "json", "--store", "sqlite:"+filepath.Join(dir, "other.db"),
		"--tls-cert", filepath.Join(dir, "cert.pem"), "--tls-key", filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	p.waitLog(`level=WARN msg="reload: these settings changed but take effect on a restart only" settings="listen, max-connections, metrics-listen, webhook-lease, log-format, store, tls-cert and tls-key \(switching TLS on or off\)"`)
	p.waitLog(`msg=reloaded `)
	if code, body := get(t, http.DefaultClient, "http://"+p.addr+"/", ""); code != 200 || body != "app: B\n" {
		t.Errorf("after the reload: %d %q, want app: B over plain HTTP", code, body)
	}
	after := p.config()
	got := fmt.Sprint(after.listen, after.maxConns, after.metricsListen, after.webhookLease, after.jsonLog, after.store, after.cert == nil)
	want := fmt.Sprint(before.listen, before.maxConns, before.metricsListen, before.webhookLease, before.jsonLog, before.store, true)
	if got != want {
		t.Errorf("the settings that take effect on a restart only: %s, want the running %s", got, want)
	}
}
