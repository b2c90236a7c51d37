package maintenance_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/file"
)

// fileStore opens a file store at path, closed with the test.
func fileStore(t *testing.T, path string) maintenance.Store {
	t.Helper()
	st, err := file.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// eventually polls cond every few milliseconds until it holds, for at most d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// status returns the status code the gate gives a request.
func status(h http.Handler) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://shop.example.com/", nil))
	return w.Code
}

var app = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") })

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestGateSurvivesStoreOutage: while the store cannot be read, the gate keeps
// serving its last state with zero failed requests, says so, and is back in
// sync soon after the store returns.
func TestGateSurvivesStoreOutage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	st := fileStore(t, path)
	update(t, st, maintenance.On(nil, maintenance.OnOptions{}))
	g := newGate(t, st, maintenance.Options{Logger: quiet()})
	h := g.Handler(app)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Int64
	var n atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if c := status(h); c != 503 && c != 200 {
					bad.Add(1)
				}
				n.Add(1)
			}
		}()
	}
	// The store breaks: the gate notices, and keeps answering 503.
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the gate reports the store error", func() bool { return g.StoreError() != nil })
	if c := status(h); c != 503 {
		t.Errorf("during the outage: status %d, want the last state's 503", c)
	}
	// The store comes back and changes: the gate follows within 2 s.
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	s := update(t, fileStore(t, path), maintenance.Off(nil))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := g.WaitVersion(ctx, s.Version); err != nil {
		t.Fatalf("gate not back in sync within 2s of the store's return: %v", err)
	}
	t.Logf("back in sync %s after the store returned; %d requests", time.Since(back), n.Load())
	stop.Store(true)
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d failed requests during the outage", bad.Load())
	}
	if c := status(h); c != 200 {
		t.Errorf("after the outage: status %d, want 200", c)
	}
	eventually(t, 2*time.Second, "the store error clears", func() bool { return g.StoreError() == nil })
}

// TestGateColdStart: a gate that starts while the store is unreachable uses
// its state cache, else the failure policy, and follows the store once it
// is back.
func TestGateColdStart(t *testing.T) {
	dir := t.TempDir()
	path, cache := filepath.Join(dir, "m.json"), filepath.Join(dir, "cache.json")
	st := fileStore(t, path)
	update(t, st, maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{}))
	// A first gate writes the cache.
	g := newGate(t, st, maintenance.Options{StateCache: cache})
	g.Close()
	if _, err := os.Stat(cache); err != nil {
		t.Fatalf("no state cache written: %v", err)
	}
	good, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		opts maintenance.Options
		want int
	}{
		{"cache", maintenance.Options{StateCache: cache}, 503},
		{"no cache, fail open", maintenance.Options{}, 200},
		{"no cache, fail closed", maintenance.Options{FailClosed: true}, 503},
		{"unreadable cache, fail open", maintenance.Options{StateCache: path}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Logger = quiet()
			g := newGate(t, st, tt.opts)
			if c := status(g.Handler(app)); c != tt.want {
				t.Errorf("status %d, want %d", c, tt.want)
			}
			if g.StoreError() == nil {
				t.Errorf("StoreError() = nil while the store is unreadable")
			}
		})
	}

	// The store returns: a fail-closed gate follows it (the site is off).
	g = newGate(t, st, maintenance.Options{FailClosed: true, Logger: quiet()})
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "the fail-closed gate follows the store", func() bool {
		w := httptest.NewRecorder()
		g.Handler(app).ServeHTTP(w, httptest.NewRequest("GET", "http://other.test/", nil))
		return w.Code == 200
	})
}

// TestGateFollowsVersionBackwards: a store that lost its data is followed,
// and the gate says so until the next change.
func TestGateFollowsVersionBackwards(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	st := fileStore(t, path)
	for range 3 {
		update(t, st, maintenance.On(nil, maintenance.OnOptions{}))
		update(t, st, maintenance.Off(nil))
	}
	s := update(t, st, maintenance.On(nil, maintenance.OnOptions{}))
	g := newGate(t, st, maintenance.Options{Logger: quiet()})
	waitVersion(t, g, s.Version)
	// The store loses everything: an empty store file replaces it (a file
	// that is only deleted makes the store unreachable instead).
	empty := filepath.Join(filepath.Dir(path), "empty.json")
	e, err := file.Open(t.Context(), empty)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Create(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.Close()
	if err := os.Rename(empty, path); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "the gate follows the emptied store", func() bool { return g.Version() == 0 })
	if err := g.StoreError(); err == nil || !strings.Contains(err.Error(), "backwards") {
		t.Errorf("StoreError() = %v, want a note that the version went backwards", err)
	}
	if c := status(g.Handler(app)); c != 200 {
		t.Errorf("status %d, want the emptied store's 200", c)
	}
	s = update(t, st, maintenance.On(nil, maintenance.OnOptions{}))
	waitVersion(t, g, s.Version)
	if err := g.StoreError(); err != nil {
		t.Errorf("StoreError() = %v after a new change, want nil", err)
	}
}

// TestGateRegistry: a gate registers itself, reports its version, and is
// forgotten when it closes.
func TestGateRegistry(t *testing.T) {
	st, _ := openStore(t)
	g := newGate(t, st, maintenance.Options{Release: "r42"})
	s := update(t, st, maintenance.On(nil, maintenance.OnOptions{}))
	waitVersion(t, g, s.Version)
	eventually(t, 5*time.Second, "the gate reports the new version", func() bool {
		gs, err := st.Gates(t.Context())
		return err == nil && len(gs) == 1 && gs[0].Version == s.Version && gs[0].Release == "r42" && gs[0].ID == g.Info().ID
	})
	g.Close()
	gs, err := st.Gates(t.Context())
	if err != nil || len(gs) != 0 {
		t.Errorf("after Close: gates %+v, %v; want none", gs, err)
	}
}

// TestGateSameVersionOtherContent: a store that lost its history and came
// back to the version the gate serves, with other content, is followed.
func TestGateSameVersionOtherContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	st := fileStore(t, path)
	s := update(t, st, maintenance.On(nil, maintenance.OnOptions{Message: ptr("before the loss")}))
	var logs lockedBuffer
	g := newGate(t, st, maintenance.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	waitVersion(t, g, s.Version)
	if err := os.Remove(path); err != nil { // the store loses everything...
		t.Fatal(err)
	}
	// ...and is switched again, maybe before the gate notices: same version.
	// (By another program: a handle that saw the file refuses to write a
	// new one in its place, since its store was deleted or moved.)
	s2 := update(t, fileStore(t, path), maintenance.On(nil, maintenance.OnOptions{Message: ptr("after the loss")}))
	if s2.Version != s.Version {
		t.Fatalf("test setup: version %d, want %d again", s2.Version, s.Version)
	}
	eventually(t, 15*time.Second, "the gate serves the new content", func() bool {
		w := httptest.NewRecorder()
		g.Handler(app).ServeHTTP(w, httptest.NewRequest("GET", "http://shop.example.com/", nil))
		return strings.Contains(w.Body.String(), "after the loss")
	})
	// The loss is reported: as the same version with other content when
	// the gate did not see the empty store in between (then StoreError
	// says so until the next change), or as a version that went backwards
	// when it did.
	log := logs.String()
	sameVersion := strings.Contains(log, "is not the one this gate served")
	if !sameVersion && !strings.Contains(log, "went backwards") {
		t.Errorf("the loss was not logged:\n%s", log)
	}
	if err := g.StoreError(); sameVersion && err == nil {
		t.Errorf("StoreError() = nil, want a note that the store lost changes")
	}
}

// lockedBuffer is a bytes.Buffer safe for a logger and a test together.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestGateMaxDuration: maintenance on with no end for longer than
// MaxDuration is reported as forgotten, in the registry too.
func TestGateMaxDuration(t *testing.T) {
	st, _ := openStore(t)
	g := newGate(t, st, maintenance.Options{MaxDuration: time.Nanosecond, Logger: quiet()})
	s := update(t, st, maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{}))
	until := time.Now().Add(time.Hour)
	update(t, st, maintenance.On([]string{"ends.example.com"}, maintenance.OnOptions{Until: &until}))
	waitVersion(t, g, s.Version+1)
	ws := g.Info().Warnings
	if len(ws) != 1 || !strings.Contains(ws[0], "site shop.example.com has been in maintenance") {
		t.Errorf("warnings = %q, want one for shop.example.com (ends.example.com has an end)", ws)
	}
	eventually(t, 5*time.Second, "the registry carries the warning", func() bool {
		gs, err := st.Gates(t.Context())
		return err == nil && len(gs) == 1 && len(gs[0].Warnings) == 1
	})
	if _, err := maintenance.New(t.Context(), st, maintenance.Options{MaxDuration: -time.Second}); !errors.Is(err, maintenance.ErrInvalid) {
		t.Errorf("a negative MaxDuration: %v, want ErrInvalid", err)
	}
}

// blockingStore is a real store whose Load, once block is set, waits until
// its context ends, as a read cut short by the gate's Close does.
type blockingStore struct {
	maintenance.Store
	block   atomic.Bool
	entered chan struct{}
}

func (s *blockingStore) Load(ctx context.Context) (*maintenance.State, error) {
	if s.block.Load() {
		select {
		case s.entered <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Store.Load(ctx)
}

// TestGateCloseIsNoOutage: a read that Close cuts short is not logged as
// the store being unreachable.
func TestGateCloseIsNoOutage(t *testing.T) {
	st, _ := openStore(t)
	bs := &blockingStore{Store: st, entered: make(chan struct{}, 1)}
	var logs lockedBuffer
	g, err := maintenance.New(t.Context(), bs, maintenance.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	bs.block.Store(true)
	update(t, st, maintenance.On(nil, maintenance.OnOptions{})) // the gate reads it...
	<-bs.entered                                                // ...and waits
	g.Close()
	if strings.Contains(logs.String(), "unreachable") {
		t.Errorf("Close was logged as an outage:\n%s", logs.String())
	}
}
