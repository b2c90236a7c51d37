package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gomaint/maintenance"
)

// sharedLink is the bypass link ID that every counter counts a use of.
const sharedLink = "5ba7ed00"

// keyDigest names a key in messages and in helpers' output without showing
// it: the hex SHA-256 of it.
func keyDigest(key []byte) string {
	h := sha256.Sum256(key)
	return hex.EncodeToString(h[:])
}

// countUses counts n uses of sharedLink and of the link id, one call each.
func countUses(ctx context.Context, sec maintenance.Secrets, id string, n int) error {
	for i := range n {
		if err := sec.CountUses(ctx, map[string]int64{sharedLink: 1, id: 1}); err != nil {
			return fmt.Errorf("counter %s: use %d: %w", id, i, err)
		}
	}
	return nil
}

func serverKey(t *testing.T, st maintenance.Store) []byte {
	t.Helper()
	key, err := st.Key(t.Context())
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	return key
}

func uses(t *testing.T, st maintenance.Store) map[string]int64 {
	t.Helper()
	got, err := st.Uses(t.Context())
	if err != nil {
		t.Fatalf("Uses: %v", err)
	}
	return got
}

func countUse(t *testing.T, st maintenance.Store, n map[string]int64) {
	t.Helper()
	if err := st.CountUses(t.Context(), n); err != nil {
		t.Fatalf("CountUses(%v): %v", n, err)
	}
}

// testSecrets checks maintenance.Secrets: one server key per store, made
// once however many callers race for it, use counts that never lose an
// increment, bad input that writes nothing, and that none of it is a change.
func (s *suite) testSecrets(t *testing.T) {
	t.Parallel()
	t.Run("Key", s.testKey)
	t.Run("KeyRace", s.testKeyRace)
	t.Run("Uses", s.testUses)
	t.Run("UsesInvalid", s.testUsesInvalid)
	t.Run("UsesConcurrent", s.testUsesConcurrent)
	t.Run("NotAChange", s.testSecretsNotAChange)
}

func (s *suite) testKey(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	st := s.open(t, key)
	k := serverKey(t, st)
	if len(k) != maintenance.KeySize {
		t.Fatalf("Key returned %d bytes, want %d", len(k), maintenance.KeySize)
	}
	if bytes.Equal(k, make([]byte, maintenance.KeySize)) {
		t.Fatal("Key returned zeros")
	}
	if again := serverKey(t, st); !bytes.Equal(again, k) {
		t.Errorf("second Key = %s, want the first, %s (SHA-256)", keyDigest(again), keyDigest(k))
	}
	if other := serverKey(t, s.open(t, key)); !bytes.Equal(other, k) {
		t.Errorf("Key through a second handle = %s, want %s (SHA-256)", keyDigest(other), keyDigest(k))
	}
	update(t, st, maintenance.AddSites("shop.example.com"))
	if after := serverKey(t, s.open(t, key)); !bytes.Equal(after, k) {
		t.Errorf("Key after a change = %s, want %s (SHA-256)", keyDigest(after), keyDigest(k))
	}
	// Every store has a key of its own.
	if fresh := serverKey(t, s.open(t, s.h.New(t))); bytes.Equal(fresh, k) {
		t.Error("two stores have the same key")
	}
	// The caller may scribble on the key it got.
	orig := bytes.Clone(k)
	clear(k)
	if again := serverKey(t, st); !bytes.Equal(again, orig) {
		t.Error("clearing the slice Key returned changed the store's key")
	}
}

// testKeyRace has processes and goroutines on handles of their own ask a
// new store for its key at once: they all get the same one.
func (s *suite) testKeyRace(t *testing.T) {
	t.Parallel()
	const procs, goroutines = 3, 8
	key := s.h.New(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*helperDeadline)
	defer cancel()
	handles := make([]maintenance.Store, goroutines)
	for i := range handles {
		handles[i] = s.open(t, key)
	}
	var hs []*helper
	for i := range procs {
		hs = append(hs, startHelper(t, ctx, fmt.Sprintf("key reader %d", i), "key", key, "", 0))
	}
	digests := make(chan string, goroutines)
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for _, h := range handles {
		wg.Go(func() {
			k, err := h.Key(ctx)
			if err != nil {
				errs <- err
				return
			}
			digests <- keyDigest(k)
		})
	}
	wg.Wait()
	close(errs)
	close(digests)
	for err := range errs {
		t.Errorf("Key: %v", err)
	}
	want := keyDigest(serverKey(t, s.open(t, key)))
	for d := range digests {
		if d != want {
			t.Errorf("a goroutine got the key %s, want %s (SHA-256)", d, want)
		}
	}
	const hint = "does TestMain call storetest.HelperMain?"
	for _, h := range hs {
		line := h.readLine(t, ctx, `"key D" (`+hint+`)`)
		if err := h.wait(); err != nil {
			t.Fatal(err)
		}
		if got, ok := strings.CutPrefix(line, "key "); !ok || got != want {
			t.Errorf("%s printed %q, want \"key %s\" (%s)", h.name, line, want, hint)
		}
	}
}

func (s *suite) testUses(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	st, other := s.open(t, key), s.open(t, key)
	if got := uses(t, st); len(got) != 0 {
		t.Fatalf("Uses of a fresh store = %v, want none", got)
	}
	countUse(t, st, nil)
	countUse(t, st, map[string]int64{})
	countUse(t, st, map[string]int64{"00000000": 0})
	if got := uses(t, other); len(got) != 0 {
		t.Fatalf("Uses after counting nothing = %v, want none", got)
	}
	long := strings.Repeat("f", 32)
	countUse(t, st, map[string]int64{"8d1e0f2c": 1, "3f9c": 2, long: 1 << 40})
	countUse(t, other, map[string]int64{"8d1e0f2c": 4, "00000000": 0})
	countUse(t, st, map[string]int64{"3f9c": 1})
	want := map[string]int64{"8d1e0f2c": 5, "3f9c": 3, long: 1 << 40}
	for name, h := range map[string]maintenance.Store{"same handle": st, "second handle": other} {
		if diff := cmp.Diff(uses(t, h), want); diff != "" {
			t.Errorf("Uses through the %s (-got +want):\n%s", name, diff)
		}
	}
	// The caller may change the map it got.
	got := uses(t, st)
	got["8d1e0f2c"] = 99
	delete(got, "3f9c")
	if diff := cmp.Diff(uses(t, st), want); diff != "" {
		t.Errorf("Uses after the caller changed the map it got (-got +want):\n%s", diff)
	}
}

func (s *suite) testUsesInvalid(t *testing.T) {
	t.Parallel()
	st := s.open(t, s.h.New(t))
	countUse(t, st, map[string]int64{"8d1e0f2c": 1})
	secret, _ := maintenance.NewSecret()
	for _, tc := range []struct {
		name string
		n    map[string]int64
	}{
		{"EmptyID", map[string]int64{"": 1}},
		{"LongID", map[string]int64{strings.Repeat("f", 33): 1}},
		{"SecretAsID", map[string]int64{secret: 1}},
		{"Negative", map[string]int64{"8d1e0f2c": -1}},
		{"OneBadAmongGood", map[string]int64{"8d1e0f2c": 5, "3f9c": 1, "": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := st.CountUses(t.Context(), tc.n)
			if !errors.Is(err, maintenance.ErrInvalid) {
				t.Fatalf("CountUses = %v, want an error wrapping %v", err, maintenance.ErrInvalid)
			}
			if msg := err.Error(); msg == "" || strings.Contains(msg, secret) {
				t.Errorf("error %q is empty or shows the ID given", msg)
			}
			if diff := cmp.Diff(uses(t, st), map[string]int64{"8d1e0f2c": 1}); diff != "" {
				t.Errorf("Uses after a rejected CountUses (-got +want):\n%s", diff)
			}
		})
	}
}

// testUsesConcurrent has goroutines on handles of their own and processes
// count uses at once: no increment is lost.
func (s *suite) testUsesConcurrent(t *testing.T) {
	t.Parallel()
	const goroutines, perGoroutine, procs, perProc = 8, 100, 2, 50
	key := s.h.New(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*helperDeadline)
	defer cancel()
	handles := make([]maintenance.Store, goroutines)
	for i := range handles {
		handles[i] = s.open(t, key)
	}
	want := map[string]int64{sharedLink: goroutines*perGoroutine + procs*perProc}
	var hs []*helper
	for i := range procs {
		id := fmt.Sprintf("p%d", i)
		want[id] = perProc
		hs = append(hs, startHelper(t, ctx, "counter "+id, "counter", key, id, perProc))
	}
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for i, h := range handles {
		id := fmt.Sprintf("g%d", i)
		want[id] = perGoroutine
		wg.Go(func() { errs <- countUses(ctx, h, id, perGoroutine) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, h := range hs {
		if err := h.wait(); err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if diff := cmp.Diff(uses(t, s.open(t, key)), want); diff != "" {
		t.Errorf("Uses after concurrent counts (-got +want):\n%s", diff)
	}
}

// testSecretsNotAChange checks that Key, CountUses and Uses leave the
// state, the events and the watchers alone, while a real change still
// signals.
func (s *suite) testSecretsNotAChange(t *testing.T) {
	t.Parallel()
	key := s.h.New(t)
	w, wr := s.open(t, key), s.open(t, key)
	update(t, wr, maintenance.AddSites("shop.example.com"))
	nc := newNotAChange(t, w, wr, "secrets")
	quiet := nc.quiet

	// The first Key call creates the key: a write, but not a change.
	serverKey(t, wr)
	quiet("after the first Key", quietPeriod/4)
	const counts = 5
	for i := range counts {
		countUse(t, wr, map[string]int64{"8d1e0f2c": 1, fmt.Sprintf("%08x", i): int64(i + 1)})
		serverKey(t, wr)
		uses(t, wr)
		quiet("during CountUses", quietPeriod/counts)
	}
	quiet(fmt.Sprintf("within %s after CountUses", quietPeriod), quietPeriod)

	if got := uses(t, w)["8d1e0f2c"]; got != counts {
		t.Errorf("uses of 8d1e0f2c = %d, want %d", got, counts)
	}

	nc.check()
}
