package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
)

// These tests run a Server in process on 127.0.0.1:0, in front of real
// upstreams, with its store in a temporary directory; they read its log as
// it is written. The command's tests keep a few that need a process:
// signals, the descriptor limit, the CLI.

// waitFor is how long a test waits for a condition before it fails.
const waitFor = 10 * time.Second

// testServer is a started Server.
type testServer struct {
	*Server
	t    *testing.T
	args []string // as given to start
	addr string   // host:port it listens on
	st   maintenance.Store
	log  *logLines
}

// start starts a server whose store is sqlite:dir/m.db, with args after
// "--listen 127.0.0.1:0" as on serve's command line. The test's cleanup
// closes it.
func start(t *testing.T, dir string, args ...string) *testServer {
	t.Helper()
	store := "sqlite:" + filepath.Join(dir, "m.db")
	args = append([]string{"--listen", "127.0.0.1:0", "--store", store}, args...)
	cfg, err := load(noDefaults, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines := newLogLines()
	s, err := New(cfg, Options{Logger: NewLogger(lines, cfg.JSONLog()), Demo: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	st, err := storeurl.Open(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, t: t, args: args, addr: s.Addr(), st: st, log: lines}
	t.Cleanup(func() {
		s.Close()
		st.Close()
		cancel()
		if t.Failed() {
			t.Logf("the server's log:\n%s", strings.Join(lines.all(), "\n"))
		}
	})
	return ts
}

// reload loads the configuration again from the same arguments (and the
// files they name), as SIGHUP does, and reloads the server with it.
func (s *testServer) reload() error {
	cfg, err := load(noDefaults, s.args...)
	if err != nil {
		return err
	}
	return s.Reload(cfg)
}

// change applies cs to the store, as the CLI would, and waits until the
// server's gate serves them.
func (s *testServer) change(cs ...maintenance.Change) {
	s.t.Helper()
	ctx := context.Background()
	var version int64
	for _, c := range cs {
		c.Actor = "test"
		st, err := s.st.Update(ctx, c)
		if err != nil {
			s.t.Fatal(err)
		}
		version = st.Version
	}
	ctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	if err := s.cur.Load().gate.WaitVersion(ctx, version); err != nil {
		s.t.Fatalf("the gate did not serve version %d: %v", version, err)
	}
}

// on is the change of 'maintenance on' for the default site.
func on(o maintenance.OnOptions) maintenance.Change { return maintenance.On(nil, o) }

// off is the change of 'maintenance off'.
func off() maintenance.Change { return maintenance.Off(nil) }

func ptr[T any](v T) *T { return &v }

// waitLog waits for a log line matching re and returns its submatches.
func (s *testServer) waitLog(re string) []string {
	s.t.Helper()
	return s.waitLogN(re, 1)
}

// waitLogN waits until n log lines match re and returns the submatches of
// the nth.
func (s *testServer) waitLogN(re string, n int) []string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(waitFor)
	for {
		lines, changed := s.log.snapshot()
		found := 0
		for _, l := range lines {
			if m := rx.FindStringSubmatch(l); m != nil {
				if found++; found == n {
					return m
				}
			}
		}
		select {
		case <-changed:
		case <-deadline:
			s.t.Fatalf("the server did not log %d lines matching %q within %s:\n%s", n, re, waitFor, strings.Join(lines, "\n"))
		}
	}
}

// logLines is a log destination that keeps its lines.
type logLines struct {
	mu      sync.Mutex
	lines   []string
	partial string
	changed chan struct{} // closed and replaced on each line
}

func newLogLines() *logLines { return &logLines{changed: make(chan struct{})} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	text := l.partial + string(p)
	parts := strings.Split(text, "\n")
	l.partial = parts[len(parts)-1]
	l.lines = append(l.lines, parts[:len(parts)-1]...)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *logLines) snapshot() ([]string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...), l.changed
}

func (l *logLines) all() []string {
	lines, _ := l.snapshot()
	return lines
}

// upstream starts a test upstream and returns its URL.
func upstream(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// get makes a GET with an optional Host and returns the status and body.
func get(t *testing.T, c *http.Client, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
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
