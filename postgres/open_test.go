package postgres_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gomaint/maintenance/internal/testenv"
	"github.com/gomaint/maintenance/postgres"
)

// relay forwards loopback connections to the server at rawURL and records
// the first byte of each chunk a client sends: pgx waits for the server's
// answer before it sends more, so each chunk is one round trip, and its
// first byte is the type of its first message (0 for the startup message).
type relay struct {
	mu     sync.Mutex
	chunks []byte
}

// start listens on loopback and returns rawURL pointing at the relay.
func (r *relay) start(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
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
			go func() { io.Copy(c, s); c.Close() }()
			go func() {
				defer s.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						r.mu.Lock()
						r.chunks = append(r.chunks, buf[0])
						r.mu.Unlock()
						if _, err := s.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	u.Host = l.Addr().String()
	return u.String()
}

func (r *relay) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.chunks
	r.chunks = nil
	return c
}

// TestOpenRoundTrips checks what opening a store that is up to date costs
// on the wire, which every CLI command pays: the connection's startup and
// one query for the schema version, nothing prepared or described.
func TestOpenRoundTrips(t *testing.T) {
	rawURL := newURL(t)
	mustOpen(t, rawURL) // creates and migrates the schema
	var r relay
	via := r.start(t, rawURL)
	r.take()
	st, err := postgres.Open(t.Context(), via)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	sent := r.take()
	st.Close()
	t.Logf("Open sent %q", sent)
	if len(sent) > 2 {
		t.Errorf("Open took %d round trips (%q), want at most 2: the startup and one query", len(sent), sent)
	}
}

// BenchmarkOpen opens and closes a store whose schema is up to date, as
// each CLI command does. Most of it is the server's start of a backend for
// the new connection: each iteration also opens and closes a bare
// connection, reported as connect-ns/op, and Open's own part as
// beyond-connect-ns/op.
func BenchmarkOpen(b *testing.B) {
	server := testenv.Postgres(b)
	rawURL := withSchema(b, server, newSchema(b, server))
	ctx := context.Background()
	st, err := postgres.Open(ctx, rawURL)
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	var open, conn time.Duration
	for b.Loop() {
		start := time.Now()
		st, err := postgres.Open(ctx, rawURL)
		if err != nil {
			b.Fatal(err)
		}
		st.Close()
		open += time.Since(start)
		start = time.Now()
		c, err := pgx.Connect(ctx, server)
		if err != nil {
			b.Fatal(err)
		}
		c.Close(ctx)
		conn += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(float64(open.Nanoseconds())/n, "open-ns/op")
	b.ReportMetric(float64(conn.Nanoseconds())/n, "connect-ns/op")
	b.ReportMetric(float64((open-conn).Nanoseconds())/n, "beyond-connect-ns/op")
}
