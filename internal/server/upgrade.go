package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gomaint/maintenance"
)

// Upgraded connections (WebSockets and other HTTP/1.1 upgrades) outlive
// their request: serve keeps them in a registry, asks the gate about each
// one again whenever its state changes, and closes those it no longer
// lets through (a site turned on: WebSocket close code 1012, "service
// restart", with the site's message) and all of them on stop (1001, "going
// away"). Other upgrades are closed without a word: serve does not speak
// their protocol.

// WebSocket close codes (RFC 6455 section 7.4.1, and the IANA registry).
const (
	wsGoingAway      = 1001
	wsServiceRestart = 1012
)

// closeFrameWait is how long serve waits for the frame the upstream is
// sending to end before it sends its close frame; after it, the connection
// is closed without one. (A variable for tests.)
var closeFrameWait = 5 * time.Second

// upgrades is serve's registry of upgraded connections.
type upgrades struct {
	mu    sync.Mutex
	conns map[*upgradedConn]struct{}
	// Once closeAll ran (serve is stopping), a connection upgraded later
	// is closed at once with the same code and reason.
	stopped bool
	code    int
	reason  string
}

func newUpgrades() *upgrades { return &upgrades{conns: map[*upgradedConn]struct{}{}} }

func (u *upgrades) add(c *upgradedConn) {
	u.mu.Lock()
	stopped, code, reason := u.stopped, u.code, u.reason
	u.conns[c] = struct{}{}
	u.mu.Unlock()
	if stopped {
		go c.shut(code, reason)
	}
}

func (u *upgrades) remove(c *upgradedConn) {
	u.mu.Lock()
	delete(u.conns, c)
	u.mu.Unlock()
}

// closeAll closes every upgraded connection, WebSockets with a close frame
// of code and reason, and returns how many there were; those upgraded
// afterwards are closed as they come.
func (u *upgrades) closeAll(code int, reason string) int {
	u.mu.Lock()
	u.stopped, u.code, u.reason = true, code, reason
	conns := make([]*upgradedConn, 0, len(u.conns))
	for c := range u.conns {
		conns = append(conns, c)
	}
	u.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.shut(code, reason) })
	}
	wg.Wait()
	return len(conns)
}

// track returns next with its upgraded connections registered in u and
// watched: when gate no longer admits the request that upgraded one, it is
// closed.
func (u *upgrades) track(next http.Handler, gate *maintenance.Gate) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header["Upgrade"]) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		uw := &upgradeWriter{ResponseWriter: w, ws: strings.EqualFold(r.Header.Get("Upgrade"), "websocket")}
		defer func() {
			if c := uw.conn; c != nil {
				close(c.done)
				u.remove(c)
			}
		}()
		uw.hijacked = func(c *upgradedConn) {
			u.add(c)
			go watchUpgrade(c, r, gate)
		}
		next.ServeHTTP(uw, r)
	})
}

// watchUpgrade closes c once gate no longer admits r, the request that
// upgraded it. The first check is at once: the state may have changed
// between the decision and the upgrade.
func watchUpgrade(c *upgradedConn, r *http.Request, gate *maintenance.Gate) {
	for {
		changed := gate.Changed()
		if st, ok := gate.Admits(r); !ok {
			msg := st.Message
			if msg == "" {
				msg = maintenance.DefaultMessage
			}
			c.shut(wsServiceRestart, msg)
			return
		}
		select {
		case <-changed:
		case <-c.done:
			return
		}
	}
}

// upgradeWriter hands out the hijacked connection wrapped, and registers
// it.
type upgradeWriter struct {
	http.ResponseWriter
	ws       bool
	hijacked func(*upgradedConn)
	conn     *upgradedConn
}

// Hijack hands the connection over (the upgrade), wrapped so that serve
// can close it with a close frame between two of the upstream's frames.
func (w *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return conn, rw, err
	}
	c := &upgradedConn{Conn: conn, ws: w.ws, done: make(chan struct{})}
	w.conn = c
	w.hijacked(c)
	return c, rw, nil
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (w *upgradeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// upgradedConn is the client side of an upgraded connection. For a
// WebSocket it follows the frames the upstream sends (server frames are
// not masked: a header, then the payload), so that a close frame can be
// put between two of them.
type upgradedConn struct {
	net.Conn
	ws   bool
	done chan struct{} // closed when the request is over

	mu      sync.Mutex
	frames  frameTracker
	closing []byte // the close frame to send at the next frame boundary
	closed  bool

	shutOnce sync.Once
}

// errShut is what writes get once serve closed the connection.
var errShut = errors.New("upgraded connection closed by serve")

func (c *upgradedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errShut
	}
	if !c.ws {
		return c.Conn.Write(p)
	}
	if c.closing == nil {
		c.frames.feed(p)
		return c.Conn.Write(p)
	}
	// Closing: the current frame is finished, then the close frame goes.
	k := c.frames.toBoundary(p)
	if k < 0 {
		return c.Conn.Write(p)
	}
	n, err := c.Conn.Write(p[:k])
	if err == nil {
		c.sendCloseLocked()
	}
	if err == nil {
		err = errShut
	}
	return n, err
}

// shut closes the connection; a WebSocket gets a close frame of code and
// reason first, between two of the upstream's frames. Whatever happens (a
// frame that does not end, a client that does not read), the connection is
// closed within closeFrameWait.
func (c *upgradedConn) shut(code int, reason string) {
	c.shutOnce.Do(func() {
		time.AfterFunc(closeFrameWait, func() { c.Conn.Close() })
		if !c.ws {
			c.Conn.Close()
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return
		}
		c.closing = closeFrame(code, reason)
		if c.frames.atBoundary() {
			c.sendCloseLocked()
		}
	})
}

// sendCloseLocked sends the close frame and closes the connection.
func (c *upgradedConn) sendCloseLocked() {
	c.Conn.SetWriteDeadline(time.Now().Add(closeFrameWait))
	c.Conn.Write(c.closing)
	c.closed = true
	// The client has the frame; the upstream side ends when serve's copy
	// from the client fails.
	c.Conn.Close()
}

// closeFrame returns a server's close frame (unmasked) with code and
// reason, the reason cut to the 123 bytes a control frame leaves it, at a
// character boundary.
func closeFrame(code int, reason string) []byte {
	if len(reason) > 123 {
		cut := 123
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	if !utf8.ValidString(reason) {
		reason = strings.ToValidUTF8(reason, "")
	}
	f := make([]byte, 4, 4+len(reason))
	f[0] = 0x88 // FIN, opcode close
	f[1] = byte(2 + len(reason))
	binary.BigEndian.PutUint16(f[2:], uint16(code))
	return append(f, reason...)
}

// frameTracker follows WebSocket frame boundaries in a byte stream.
type frameTracker struct {
	hdr     [14]byte
	nhdr    int    // header bytes seen of the current frame
	payload uint64 // payload bytes still to come of the current frame
	broken  bool   // not WebSocket framing after all: no boundary is known
}

// atBoundary reports whether the stream is between two frames.
func (t *frameTracker) atBoundary() bool { return !t.broken && t.nhdr == 0 && t.payload == 0 }

// feed follows p.
func (t *frameTracker) feed(p []byte) {
	for len(p) > 0 && !t.broken {
		p = p[t.step(p):]
	}
}

// toBoundary follows p up to the next frame boundary and returns its
// offset in p (0 when the stream is at one), or -1 when p ends first.
func (t *frameTracker) toBoundary(p []byte) int {
	off := 0
	for !t.atBoundary() {
		if off == len(p) || t.broken {
			return -1
		}
		off += t.step(p[off:])
	}
	return off
}

// step consumes the start of p (not empty) and returns how much it took.
func (t *frameTracker) step(p []byte) int {
	if t.nhdr == 0 && t.payload > 0 {
		n := uint64(len(p))
		if n > t.payload {
			n = t.payload
		}
		t.payload -= n
		return int(n)
	}
	t.hdr[t.nhdr] = p[0]
	t.nhdr++
	if t.nhdr < 2 {
		return 1
	}
	need, size := 2, uint64(t.hdr[1]&0x7f)
	switch size {
	case 126:
		need += 2
	case 127:
		need += 8
	}
	if t.hdr[1]&0x80 != 0 {
		need += 4 // masked (a client's frame: not expected from a server)
	}
	if t.nhdr < need {
		return 1
	}
	switch size {
	case 126:
		size = uint64(binary.BigEndian.Uint16(t.hdr[2:]))
	case 127:
		size = binary.BigEndian.Uint64(t.hdr[2:])
		if size>>63 != 0 {
			t.broken = true
		}
	}
	t.nhdr, t.payload = 0, size
	return 1
}
