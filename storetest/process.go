package storetest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
)

// Environment variables that make the test binary a helper process.
const (
	envRole  = "MAINTENANCE_STORETEST_HELPER" // "writer", "watcher", "key" or "counter"
	envKey   = "MAINTENANCE_STORETEST_KEY"    // the store's key
	envID    = "MAINTENANCE_STORETEST_ID"     // a writer's or counter's name, used in its patterns or link IDs
	envCount = "MAINTENANCE_STORETEST_COUNT"  // patterns a writer adds, a watcher waits for, or uses a counter counts
)

// helperDeadline bounds the whole work of a helper process.
const helperDeadline = 30 * time.Second

// patternPrefix starts every ignore pattern the writers add.
const patternPrefix = "/storetest/"

// HelperMain must be called from the store package's TestMain; when the process was started by the suite as a helper
// (an env var says so) it does the helper's work and exits; otherwise it returns and TestMain runs m.Run().
//
// A writer adds its patterns to "*" one change at a time. A watcher prints
// "ready" once it watches, then waits, through Watch and Load, until it sees
// the patterns of every writer, and prints "version N" with the version it
// saw. A key reader prints "key D", D the hex SHA-256 of the store's server
// key (never the key itself). A counter counts one use of the links
// sharedLink and its own, one call at a time. Each exits with status 1 and a
// message on stderr when it fails.
func HelperMain(open func(ctx context.Context, key string) (maintenance.Store, error)) {
	role := os.Getenv(envRole)
	if role == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), helperDeadline)
	err := runHelper(ctx, open, role, os.Getenv(envKey), os.Getenv(envID), os.Getenv(envCount))
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "storetest %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runHelper(ctx context.Context, open func(ctx context.Context, key string) (maintenance.Store, error), role, key, id, count string) error {
	n, err := strconv.Atoi(count)
	if err != nil {
		return fmt.Errorf("parsing %s=%q: %w", envCount, count, err)
	}
	st, err := open(ctx, key)
	if err != nil {
		return fmt.Errorf("opening %q: %w", key, err)
	}
	defer st.Close()
	switch role {
	case "writer":
		return writeIgnores(ctx, st, id, n)
	case "watcher":
		v, err := watchIgnores(ctx, st, n, func() { fmt.Println("ready") })
		if err != nil {
			return err
		}
		fmt.Printf("version %d\n", v)
		return nil
	case "key":
		key, err := st.Key(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("key %s\n", keyDigest(key))
		return nil
	case "counter":
		return countUses(ctx, st, id, n)
	}
	return fmt.Errorf("unknown role %q", role)
}

// patternFor is the i-th ignore pattern of writer id.
func patternFor(id string, i int) string {
	return fmt.Sprintf("%s%s/%d", patternPrefix, id, i)
}

// writeIgnores adds n distinct ignore patterns to "*", one change each.
func writeIgnores(ctx context.Context, st maintenance.Store, id string, n int) error {
	for i := range n {
		c := maintenance.AddIgnore("", patternFor(id, i), "")
		c.Actor, c.Source, c.Reason = "writer "+id, "test", "storetest"
		if _, err := st.Update(ctx, c); err != nil {
			return fmt.Errorf("writer %s: adding pattern %d: %w", id, i, err)
		}
	}
	return nil
}

// watchIgnores waits until "*" has n patterns added by writers, re-reading
// the state after every Watch signal, and returns the version it saw. It
// calls ready once the watch is set up.
func watchIgnores(ctx context.Context, st maintenance.Store, n int, ready func()) (int64, error) {
	ch, err := st.Watch(ctx)
	if err != nil {
		return 0, fmt.Errorf("watching: %w", err)
	}
	ready()
	for {
		cur, err := st.Load(ctx)
		if err != nil {
			return 0, fmt.Errorf("loading: %w", err)
		}
		got := 0
		if s := cur.Site(maintenance.DefaultSite); s != nil {
			for _, r := range s.Ignore {
				if strings.HasPrefix(r.Value, patternPrefix) {
					got++
				}
			}
		}
		if got >= n {
			return cur.Version, nil
		}
		select {
		case _, ok := <-ch:
			if !ok {
				return 0, fmt.Errorf("watch channel closed after %d of %d patterns: %w", got, n, ctx.Err())
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("saw %d of %d patterns: %w", got, n, ctx.Err())
		}
	}
}

// helper is a helper process started by the suite.
type helper struct {
	name   string
	cmd    *exec.Cmd
	stderr bytes.Buffer
	// lines receives the lines the helper prints; it is closed at EOF.
	lines chan string
}

// startHelper starts the test binary as a helper; it is killed when ctx is done.
func startHelper(t *testing.T, ctx context.Context, name, role, key, id string, count int) *helper {
	t.Helper()
	h := &helper{name: name, lines: make(chan string)}
	h.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	h.cmd.Env = append(os.Environ(),
		envRole+"="+role, envKey+"="+key, envID+"="+id, envCount+"="+strconv.Itoa(count))
	h.cmd.Stderr = &h.stderr
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		defer close(h.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case h.lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return h
}

// readLine returns the next line the helper prints; it fails the test when
// the helper ends first or ctx is done. what says what the line should be.
func (h *helper) readLine(t *testing.T, ctx context.Context, what string) string {
	t.Helper()
	select {
	case line, ok := <-h.lines:
		if !ok {
			t.Fatalf("%s ended before printing %s: %v", h.name, what, h.wait())
		}
		return line
	case <-ctx.Done():
		t.Fatalf("%s printed no %s: %v; stderr:\n%s", h.name, what, ctx.Err(), h.stderr.Bytes())
	}
	return ""
}

// wait reads the rest of the helper's output and waits for it to end.
func (h *helper) wait() error {
	for range h.lines {
		// Wait must not close the pipe before the reader is done with it.
	}
	if err := h.cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w; stderr:\n%s", h.name, err, h.stderr.Bytes())
	}
	return nil
}

// testProcesses has two processes write at once while a third one watches.
func (s *suite) testProcesses(t *testing.T) {
	t.Parallel()
	const perWriter = 50
	writers := []string{"p1", "p2"}
	key := s.h.New(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*helperDeadline)
	defer cancel()

	watcher := startHelper(t, ctx, "watcher", "watcher", key, "", perWriter*len(writers))
	const hint = "does TestMain call storetest.HelperMain?"
	if line := watcher.readLine(t, ctx, `"ready" (`+hint+`)`); line != "ready" {
		t.Fatalf("watcher printed %q, want \"ready\" (%s)", line, hint)
	}

	var ws []*helper
	for _, id := range writers {
		ws = append(ws, startHelper(t, ctx, "writer "+id, "writer", key, id, perWriter))
	}
	for _, w := range ws {
		if err := w.wait(); err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The writers are done: check the store before waiting for the watcher,
	// which would only time out if changes were lost.
	want := int64(perWriter * len(writers))
	got := load(t, s.open(t, key))
	if got.Version != want {
		t.Errorf("final version = %d, want %d", got.Version, want)
	}
	var patterns, wantPatterns []string
	for _, r := range got.Site(maintenance.DefaultSite).Ignore {
		patterns = append(patterns, r.Value)
	}
	for _, id := range writers {
		for i := range perWriter {
			wantPatterns = append(wantPatterns, patternFor(id, i))
		}
	}
	slices.Sort(patterns)
	slices.Sort(wantPatterns)
	if !slices.Equal(patterns, wantPatterns) {
		t.Fatalf("ignore patterns of * = %d patterns %q, want %d patterns %q", len(patterns), patterns, len(wantPatterns), wantPatterns)
	}

	line := watcher.readLine(t, ctx, "the final version")
	if err := watcher.wait(); err != nil {
		t.Fatal(err)
	}
	seen, err := strconv.ParseInt(strings.TrimPrefix(line, "version "), 10, 64)
	if err != nil || !strings.HasPrefix(line, "version ") {
		t.Fatalf("watcher printed %q, want \"version N\"", line)
	}
	if seen != got.Version {
		t.Errorf("watcher saw version %d, want the final version %d", seen, got.Version)
	}
}
