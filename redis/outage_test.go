package redis_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/testenv"
	"github.com/gomaint/maintenance/redis"
)

// Outage timing: how long the server stays down while requests flow, and
// how soon after its return a gate must serve a change made then (the target:
// back in sync within 2 s).
const (
	outage = time.Second
	inSync = 2 * time.Second
)

// redisServer is a private redis-server for fault tests, on a port of its
// own, with its files in a temporary directory.
type redisServer struct {
	bin, dir string
	port     int
	// conf is a configuration file, or empty; args are the arguments after
	// the port and directory; ready is a line the server prints once it
	// accepts connections.
	conf  string
	args  []string
	ready string

	cmd    *exec.Cmd
	output *lockedBuffer
}

// startRedis starts a private redis-server. With persist, every write is in
// its append-only file before it is acknowledged, so that the data survives
// kill -9; without, a restart starts empty. It is killed when the test ends.
func startRedis(t *testing.T, persist bool, args ...string) *redisServer {
	t.Helper()
	if persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	return startServer(t, "Ready to accept connections", "", args...)
}

// startServer starts redis-server with the configuration file conf, if not
// empty, and args, and waits for it to print ready.
func startServer(t *testing.T, ready, conf string, args ...string) *redisServer {
	t.Helper()
	s := &redisServer{
		bin:   testenv.Binary(t, "redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server"),
		dir:   t.TempDir(),
		port:  freePort(t),
		conf:  conf,
		args:  args,
		ready: ready,
	}
	s.start(t)
	t.Cleanup(func() { s.kill(t) })
	return s
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *redisServer) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }
func (s *redisServer) url() string  { return "redis://" + s.addr() + "/0" }

// start starts the server and waits until it prints s.ready (after loading
// its append-only file, if any).
func (s *redisServer) start(t *testing.T) {
	t.Helper()
	var args []string
	if s.conf != "" {
		args = append(args, s.conf) // a configuration file comes first
	}
	args = append(args, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--logfile", "", "--daemonize", "no")
	args = append(args, s.args...)
	s.cmd = exec.Command(s.bin, args...)
	s.output = new(lockedBuffer)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = s.output
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			fmt.Fprintln(s.output, sc.Text())
			if !signalled && strings.Contains(sc.Text(), s.ready) {
				close(ready)
				signalled = true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("redis-server %s not ready within 10 s; output:\n%s", strings.Join(args, " "), s.output)
	}
}

// kill stops the server with SIGKILL, as a crash would, and waits for it.
func (s *redisServer) kill(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Errorf("killing redis-server: %v", err)
	}
	s.cmd.Wait()
	s.cmd = nil
}

// lockedBuffer collects a process's output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// traffic sends requests to a gated app from several goroutines until
// stopped, and counts the answers: the app's 200 and the maintenance 503
// are served; anything else, a transport error included, is a failure.
type traffic struct {
	ok200, ok503, failed atomic.Int64
	firstFailure         atomic.Pointer[string]

	stop chan struct{}
	wg   sync.WaitGroup
}

func startTraffic(url string, client *http.Client, workers int) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	for range workers {
		tr.wg.Go(func() {
			for {
				select {
				case <-tr.stop:
					return
				default:
				}
				tr.request(client, url)
			}
		})
	}
	return tr
}

func (tr *traffic) request(client *http.Client, url string) {
	fail := func(msg string) {
		tr.failed.Add(1)
		tr.firstFailure.CompareAndSwap(nil, &msg)
	}
	resp, err := client.Get(url)
	if err != nil {
		fail(err.Error())
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		fail(fmt.Sprintf("reading the answer: %v", err))
	case resp.StatusCode == http.StatusOK && string(body) == "app":
		tr.ok200.Add(1)
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Cache-Control") == "no-store":
		tr.ok503.Add(1)
	default:
		fail(fmt.Sprintf("status %d, body %.100q", resp.StatusCode, body))
	}
}

func (tr *traffic) served() int64 { return tr.ok200.Load() + tr.ok503.Load() }

// end stops the traffic and fails the test if any request failed.
func (tr *traffic) end(t *testing.T) {
	t.Helper()
	close(tr.stop)
	tr.wg.Wait()
	t.Logf("requests: %d answered 200, %d answered 503, %d failed", tr.ok200.Load(), tr.ok503.Load(), tr.failed.Load())
	if n := tr.failed.Load(); n > 0 {
		t.Errorf("%d requests failed; the first: %s", n, *tr.firstFailure.Load())
	}
}

// siteStatus is the gate's answer to /_maintenance/status.
type siteStatus struct {
	On      bool   `json:"on"`
	Message string `json:"message"`
	Version int64  `json:"version"`
}

// awaitStatus polls the gate's status page until cond holds, and fails the
// test if that takes past deadline.
func awaitStatus(t *testing.T, client *http.Client, base string, deadline time.Time, what string, cond func(siteStatus) bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var last siteStatus
	for {
		resp, err := client.Get(base + maintenance.StatusPath)
		if err != nil {
			t.Fatalf("GET %s: %v", maintenance.StatusPath, err)
		}
		err = json.NewDecoder(resp.Body).Decode(&last)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("decoding %s: %v", maintenance.StatusPath, err)
		}
		if cond(last) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gate does not show %s by the deadline; it shows %+v", what, last)
		}
		<-tick.C
	}
}

// TestOutage kills the Redis server under a gate that serves requests
// continuously, keeps the requests flowing while it is down, restarts it on
// the same port, and makes a change through a new handle: no request fails,
// the gate serves its last state while the server is away, and it serves the
// change within 2 s of the server's return.
func TestOutage(t *testing.T) {
	t.Run("Persistent", func(t *testing.T) { testOutage(t, true) })
	t.Run("Volatile", func(t *testing.T) { testOutage(t, false) })
}

func testOutage(t *testing.T, persist bool) {
	srv := startRedis(t, persist)
	key := withQuery(t, srv.url(), "prefix", newPrefix())
	st := mustOpen(t, key)
	probe := mustOpen(t, key)
	const before, after = "before the outage", "after the outage"
	// A few changes, so that the version reached after a restart without
	// persistence stays below the gate's: a gate compares versions only, and
	// would take the same number again for the state it has.
	update(t, st, maintenance.AddSites("shop.example.com"))
	update(t, st, maintenance.AddIgnore("", "/health", ""))
	on := update(t, st, maintenance.On(nil, maintenance.OnOptions{Message: ptr(before)}))

	gate, err := maintenance.New(t.Context(), st, maintenance.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	web := httptest.NewServer(gate.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "app")
	})))
	defer web.Close()
	client := web.Client()
	tr := startTraffic(web.URL+"/", client, 4)
	awaitStatus(t, client, web.URL, time.Now().Add(5*time.Second), "the state before the outage", func(s siteStatus) bool {
		return s.On && s.Message == before && s.Version == on.Version
	})

	srv.kill(t)
	down := tr.served()
	// While the server is away, calls fail, soon.
	for name, call := range map[string]func(context.Context) error{
		"Load":   func(ctx context.Context) error { _, err := probe.Load(ctx); return err },
		"Update": func(ctx context.Context) error { _, err := probe.Update(ctx, maintenance.Off(nil)); return err },
	} {
		start := time.Now()
		err := call(t.Context())
		d := time.Since(start)
		switch {
		case err == nil:
			t.Errorf("%s succeeded while the server is down", name)
		case d > 3*time.Second:
			t.Errorf("%s took %s to fail while the server is down: %v", name, d, err)
		default:
			t.Logf("%s failed in %s while the server is down: %v", name, d.Round(time.Millisecond), err)
		}
	}
	// The outage lasts a while, with requests flowing.
	<-time.After(outage)
	if tr.served() == down {
		t.Error("no request was answered while the server was down")
	}
	awaitStatus(t, client, web.URL, time.Now(), "the last state while the server is down", func(s siteStatus) bool {
		return s.On && s.Message == before
	})

	srv.start(t)
	back := time.Now()
	fresh := mustOpen(t, key)
	cur := load(t, fresh)
	switch {
	case persist && cur.Version != on.Version:
		t.Fatalf("version after a restart with persistence = %d, want %d", cur.Version, on.Version)
	case !persist && cur.Version != 0:
		t.Fatalf("version after a restart without persistence = %d, want 0", cur.Version)
	}
	if persist {
		// The version moves on: WaitVersion says when the gate has it, and
		// requests pass again.
		next := update(t, fresh, maintenance.Off(nil))
		ctx, cancel := context.WithDeadline(t.Context(), back.Add(inSync))
		defer cancel()
		if err := gate.WaitVersion(ctx, next.Version); err != nil {
			t.Fatalf("gate at version %d %s after the restart, want %d: %v", gate.Version(), time.Since(back), next.Version, err)
		}
		awaitStatus(t, client, web.URL, back.Add(inSync), "the change made after the restart", func(s siteStatus) bool {
			return !s.On && s.Version == next.Version
		})
	} else {
		// The version went back (to 1 now): the gate must follow what the
		// store holds, which its status page shows.
		next := update(t, fresh, maintenance.On(nil, maintenance.OnOptions{Message: ptr(after)}))
		awaitStatus(t, client, web.URL, back.Add(inSync), "the change made after the restart", func(s siteStatus) bool {
			return s.On && s.Message == after && s.Version == next.Version
		})
	}
	t.Logf("the gate served the change %s after the server's return", time.Since(back).Round(time.Millisecond))
	tr.end(t)
}

func ptr[T any](v T) *T { return &v }

// TestSilentConnection freezes the watcher's connection without closing it,
// as a lost network does: nothing comes back, and no error either. The
// watcher pings the silent connection, replaces it when the ping gets no
// answer, and sends a value for the new subscription; the next change is
// signalled too.
func TestSilentConnection(t *testing.T) {
	t.Cleanup(redis.SetHealthCheck(100 * time.Millisecond)) // after the stores are closed
	key := newKey(t)
	u, err := url.Parse(key)
	if err != nil {
		t.Fatal(err)
	}
	p := startFreezer(t, u.Host)
	viaProxy := *u
	viaProxy.Host = p.addr()
	w, wr := mustOpen(t, viaProxy.String()), mustOpen(t, key)
	ch, err := w.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	await := func(what string) {
		t.Helper()
		select {
		case _, ok := <-ch:
			if !ok {
				t.Fatalf("watch channel closed while waiting for %s", what)
			}
		case <-deadline.C:
			t.Fatalf("no value for %s", what)
		}
	}

	if n := p.freeze(); n == 0 {
		t.Fatal("no connection to freeze")
	}
	await("the new subscription")
	v := update(t, wr, maintenance.AddSites("shop.example.com")).Version
	await("the change")
	if got := load(t, wr).Version; got != v {
		t.Errorf("version = %d, want %d", got, v)
	}
}

// freezer is a TCP proxy whose connections can be frozen: from then on,
// what either side sends is dropped, and neither side is told.
type freezer struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	frozen []*atomic.Bool
	wg     sync.WaitGroup
}

func startFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{l: l, target: target}
	var conns []net.Conn
	var connsMu sync.Mutex
	f.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			connsMu.Lock()
			conns = append(conns, c, s)
			connsMu.Unlock()
			frozen := new(atomic.Bool)
			f.mu.Lock()
			f.frozen = append(f.frozen, frozen)
			f.mu.Unlock()
			f.wg.Go(func() { pipe(s, c, frozen) })
			f.wg.Go(func() { pipe(c, s, frozen) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *freezer) addr() string { return f.l.Addr().String() }

// freeze freezes the connections open now and returns how many.
func (f *freezer) freeze() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fr := range f.frozen {
		fr.Store(true)
	}
	n := len(f.frozen)
	f.frozen = nil
	return n
}

// pipe copies from src to dst until either fails, dropping the data once
// frozen.
func pipe(dst, src net.Conn, frozen *atomic.Bool) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !frozen.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
