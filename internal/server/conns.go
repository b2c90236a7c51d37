package server

import (
	"context"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// What serve holds open for clients: a cap on connections (with a small
// reserve that answers health only), and the defaults derived from the
// descriptor limit.

const (
	// DefaultBodyIdleTimeout is how long a request body may send nothing
	// before it is cut (--body-idle-timeout).
	DefaultBodyIdleTimeout = 60 * time.Second
	// DefaultShutdownTimeout is how long requests under way may take to
	// finish on stop (--shutdown-timeout).
	DefaultShutdownTimeout = 30 * time.Second
	// fdHeadroom is the descriptors kept for what is not a connection:
	// listeners, the store, the state cache, logs, templates.
	fdHeadroom = 64
	// reserveHeaderTimeout is how long a connection in the reserve may
	// take to send its request.
	reserveHeaderTimeout = 2 * time.Second
)

// openFilesLimit returns the process's descriptor limit (RLIMIT_NOFILE,
// which the Go runtime raised to its hard limit at start), or 0 when it
// cannot be read.
func openFilesLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// defaultMaxConnections is --max-connections when it is not given: the
// descriptors left after the headroom and the reserve, halved, since each
// client connection may hold one to its upstream too.
func defaultMaxConnections(nofile uint64) int {
	if nofile == 0 || nofile > math.MaxInt32 {
		return 1 << 20 // unknown or unlimited
	}
	n := (int(nofile) - fdHeadroom - connReserve(int(nofile))) / 2
	return max(n, 1)
}

// connReserve is how many connections past --max-connections are accepted
// to answer health checks only: about 1% of the descriptors, 8 to 64.
func connReserve(nofile int) int {
	return min(max(nofile/100, 8), 64)
}

// limitListener caps the connections open at once. Past max, up to
// reserve more are accepted in the reserve: they answer
// /_maintenance/health (a load balancer must see the node alive while it
// is full) and 503 to anything else, must send their request within
// reserveHeaderTimeout, and are closed after one answer. Past that, a new
// connection is closed at once. Accept never waits: the health check of a
// full server is answered rather than left in the kernel's queue.
type limitListener struct {
	net.Listener
	max, reserve int64
	logger       *slog.Logger
	open         atomic.Int64
	lastWarn     atomic.Int64 // unix nanoseconds
}

func newLimitListener(ln net.Listener, maxConns int, reserve int, logger *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, max: int64(maxConns), reserve: int64(reserve), logger: logger}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		n := l.open.Add(1)
		switch {
		case n <= l.max:
			return &limitConn{Conn: c, l: l}, nil
		case n <= l.max+l.reserve:
			l.warn("serve is at --max-connections: new connections answer health checks only")
			return &limitConn{Conn: c, l: l, reserved: true, deadline: time.Now().Add(reserveHeaderTimeout)}, nil
		}
		l.open.Add(-1)
		c.Close()
		l.warn("serve is at --max-connections and its reserve: new connections are closed at once")
	}
}

// warn logs msg at most every 10 seconds.
func (l *limitListener) warn(msg string) {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(10*time.Second) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.logger.Warn(msg, "max_connections", l.max, "open", l.open.Load())
}

// limitConn is an accepted connection; closing it frees its place.
type limitConn struct {
	net.Conn
	l        *limitListener
	once     sync.Once
	reserved bool
	deadline time.Time // of a reserved connection: no read after it
}

func (c *limitConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// SetReadDeadline keeps a reserved connection's reads within its deadline.
func (c *limitConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}

// SetDeadline keeps a reserved connection's reads within its deadline.
func (c *limitConn) SetDeadline(t time.Time) error {
	if !c.reserved {
		return c.Conn.SetDeadline(t)
	}
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.clamp(t))
}

func (c *limitConn) clamp(t time.Time) time.Time {
	if c.reserved && (t.IsZero() || t.After(c.deadline)) {
		return c.deadline
	}
	return t
}

type reservedKey struct{}

// connContext marks the requests of a reserved connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS
		c = nc.NetConn()
	}
	if lc, ok := c.(*limitConn); ok && lc.reserved {
		return context.WithValue(ctx, reservedKey{}, true)
	}
	return ctx
}

// fromReserve reports whether r came on a reserved connection.
func fromReserve(r *http.Request) bool {
	v, _ := r.Context().Value(reservedKey{}).(bool)
	return v
}
