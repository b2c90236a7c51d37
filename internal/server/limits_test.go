package server

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
)

// Tests of what serve holds for clients and upstreams: idle bodies,
// upgrades across state changes, and stopping.

// wsUpstream is a WebSocket server (RFC 6455, no extensions) that echoes
// text frames upper-cased. "big" makes it send a 64 KiB frame in two
// halves, the second once release is closed. It counts the connections it
// has open.
type wsUpstream struct {
	url     string
	open    atomic.Int64
	release chan struct{}
	halfway chan struct{} // closed once the first half of "big" is sent
}

func newWSUpstream(t *testing.T) *wsUpstream {
	u := &wsUpstream{release: make(chan struct{}), halfway: make(chan struct{})}
	u.url = upstream(t, func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Sec-WebSocket-Key")
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" {
			http.Error(w, "want a WebSocket", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		u.open.Add(1)
		defer u.open.Add(-1)
		defer conn.Close()
		sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(sum[:]))
		brw.Flush()
		for {
			op, payload, err := readFrame(brw.Reader)
			if err != nil {
				return
			}
			switch {
			case op == 8:
				conn.Write(frame(8, payload, false))
				return
			case string(payload) == "big":
				f := frame(2, make([]byte, 64<<10), false)
				conn.Write(f[:len(f)/2])
				close(u.halfway)
				<-u.release
				conn.Write(f[len(f)/2:])
			default:
				conn.Write(frame(op, []byte(strings.ToUpper(string(payload))), false))
			}
		}
	})
	return u
}

// frame returns a WebSocket frame, masked (as a client sends it) or not.
func frame(op byte, payload []byte, masked bool) []byte {
	f := []byte{0x80 | op, 0}
	switch n := len(payload); {
	case n < 126:
		f[1] = byte(n)
	case n < 1<<16:
		f[1] = 126
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f[1] = 127
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	if !masked {
		return append(f, payload...)
	}
	f[1] |= 0x80
	mask := []byte{1, 2, 3, 4}
	f = append(f, mask...)
	for i, b := range payload {
		f = append(f, b^mask[i%4])
	}
	return f
}

// readFrame reads one frame (unmasking it if masked).
func readFrame(br *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var mask [4]byte
	if h[1]&0x80 != 0 {
		if _, err := io.ReadFull(br, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return h[0] & 0x0f, payload, nil
}

// wsClient is a WebSocket client connection.
type wsClient struct {
	net.Conn
	br *bufio.Reader
}

// dialWS opens a WebSocket through serve and returns the client, or the
// status serve answered instead of 101.
func dialWS(t *testing.T, addr string) (*wsClient, int) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(waitFor))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, resp.StatusCode
	}
	return &wsClient{conn, br}, resp.StatusCode
}

func (c *wsClient) echo(t *testing.T, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitFor))
	if _, err := c.Write(frame(1, []byte(msg), true)); err != nil {
		t.Fatal(err)
	}
	op, got, err := readFrame(c.br)
	if err != nil || op != 1 || string(got) != strings.ToUpper(msg) {
		t.Fatalf("echo of %q: op %d %q %v", msg, op, got, err)
	}
}

// expectClose reads frames until a close frame, and checks its code and
// reason; the connection must end after it.
func (c *wsClient) expectClose(t *testing.T, code int, reason string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitFor))
	op, payload, err := readFrame(c.br)
	if err != nil {
		t.Fatalf("no close frame: %v", err)
	}
	if op != 8 || len(payload) < 2 {
		t.Fatalf("frame op %d (%d bytes), want a close frame", op, len(payload))
	}
	if got := int(binary.BigEndian.Uint16(payload)); got != code || string(payload[2:]) != reason {
		t.Fatalf("close frame %d %q, want %d %q", got, payload[2:], code, reason)
	}
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("after the close frame: %v, want the connection closed", err)
	}
}

// waitUntil polls cond until it holds, or fails after waitFor.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, waitFor)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeUpgradeInReadOnly(t *testing.T) {
	up := newWSUpstream(t)
	dir := t.TempDir()
	p := start(t, dir, "--upstream", up.url)
	before, _ := dialWS(t, p.addr)
	before.echo(t, "before")
	p.change(on(maintenance.OnOptions{Mode: ptr(maintenance.ModeReadOnly), Message: ptr("Read-only for a migration")}))
	// The WebSocket opened before can send writes: it is closed.
	before.expectClose(t, 1012, "Read-only for a migration")
	waitUntil(t, "the upstream's side closed", func() bool { return up.open.Load() == 0 })
	// A new upgrade is not a safe request.
	if ws, status := dialWS(t, p.addr); ws != nil || status != http.StatusServiceUnavailable {
		t.Fatalf("WebSocket upgrade in read-only mode: %d, want 503", status)
	}
	if code, _ := get(t, http.DefaultClient, "http://"+p.addr+"/page", "chat.example.com"); code == http.StatusServiceUnavailable {
		t.Fatalf("GET in read-only mode: %d", code)
	}
}

func TestServeUpgradeClosedWhenSiteOn(t *testing.T) {
	up := newWSUpstream(t)
	dir := t.TempDir()
	p := start(t, dir, "--upstream", up.url)
	ws, _ := dialWS(t, p.addr)
	ws.echo(t, "hello")
	// A frame half sent when the site turns on is finished first.
	ws.SetDeadline(time.Now().Add(waitFor))
	ws.Write(frame(1, []byte("big"), true))
	<-up.halfway
	// The rest of the frame comes once the site is on (within the 5 s
	// serve waits for a frame to end).
	go func() {
		defer close(up.release)
		for deadline := time.Now().Add(waitFor); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			resp, err := http.Get("http://" + p.addr + "/_maintenance/status")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), `"on":true`) {
				return
			}
		}
	}()
	p.change(on(maintenance.OnOptions{Message: ptr("Back at 10:00 UTC")}))
	op, payload, err := readFrame(ws.br)
	if err != nil || op != 2 || len(payload) != 64<<10 {
		t.Fatalf("the frame under way: op %d, %d bytes, %v; want all of it", op, len(payload), err)
	}
	ws.expectClose(t, 1012, "Back at 10:00 UTC")
	waitUntil(t, "the upstream's side closed", func() bool { return up.open.Load() == 0 })
	p.waitLog(`path=/ws status=101 `)

	// A WebSocket the gate lets through (an allowed address) stays.
	p.change(maintenance.AddAllow("", "127.0.0.1", ""))
	waitUntil(t, "the allow entry applied", func() bool {
		code, _ := get(t, http.DefaultClient, "http://"+p.addr+"/", "")
		return code != http.StatusServiceUnavailable
	})
	kept, _ := dialWS(t, p.addr)
	kept.echo(t, "allowed")
	p.change(on(maintenance.OnOptions{Message: ptr("Another message")}))
	p.change(maintenance.RemoveAllow("", "127.0.0.1"))
	kept.expectClose(t, 1012, "Another message")
}

func TestServeStopTimeout(t *testing.T) {
	up := newWSUpstream(t)
	slow, slowArrived := make(chan struct{}), make(chan struct{}, 1)
	t.Cleanup(func() { close(slow) })
	app := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			slowArrived <- struct{}{}
		}
		if r.URL.Path == "/stream" {
			io.WriteString(w, "first part\n")
			http.NewResponseController(w).Flush()
		}
		select { // a 45 s request
		case <-slow:
		case <-r.Context().Done():
		}
	})
	dir := t.TempDir()
	p := start(t, dir, "--upstream", app, "--site", "chat.example.com="+up.url, "--shutdown-timeout", "1s")
	ws, _ := dialWS(t, p.addr)
	ws.echo(t, "hello")
	slowAnswer := goGet(p.addr, "/slow")
	stream, err := http.Get("http://" + p.addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if line, err := bufio.NewReader(stream.Body).ReadString('\n'); err != nil || line != "first part\n" {
		t.Fatalf("stream: %q %v", line, err)
	}
	<-slowArrived
	stopped := make(chan error, 1)
	go func() { stopped <- p.Shutdown() }()
	ws.expectClose(t, 1001, "serve is stopping")
	r := <-slowAnswer
	if r.err != nil || r.status != http.StatusServiceUnavailable {
		t.Fatalf("the request cut at the shutdown timeout: %d %q %v, want a 503 answer", r.status, r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Shutdown: %v after a stop that went as configured, want nil", err)
	}
	p.waitLog(`path=/slow status=503 .* cut=true$`)
	p.waitLog(`path=/stream status=200 .* cut=true$`)
	p.waitLog(`path=/ws status=101 `)
}

// rawRequest sends head (and nothing more) on a new connection and returns
// it.
func rawRequest(t *testing.T, addr, head string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c
}

// answerThenClose reads the answer on c and checks its status and that the
// connection is closed after it.
func answerThenClose(t *testing.T, c net.Conn, want int) {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitFor))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d", resp.StatusCode, want)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the answer: %v, want the connection closed", err)
	}
}

func TestServeBodyIdle(t *testing.T) {
	var inFlight atomic.Int64
	app := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "%d bytes", n)
	})
	dir := t.TempDir()
	p := start(t, dir, "--upstream", app, "--body-idle-timeout", "1s", "--admin", "--site", "shop.example.com")

	t.Run("a slow body that keeps moving", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			for range 25 { // 2.5 s in all, 100 ms apart, with an idle limit of 1 s
				time.Sleep(100 * time.Millisecond)
				if _, err := pw.Write([]byte("x")); err != nil {
					return
				}
			}
			pw.Close()
		}()
		resp, err := http.Post("http://"+p.addr+"/upload", "text/plain", pr)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "25 bytes" {
			t.Fatalf("%d %q, want 200 25 bytes", resp.StatusCode, b)
		}
	})
	t.Run("an idle body", func(t *testing.T) {
		c := rawRequest(t, p.addr, "POST /upload HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 1000000\r\n\r\nabc")
		answerThenClose(t, c, http.StatusRequestTimeout)
		waitUntil(t, "the upstream's request ended", func() bool { return inFlight.Load() == 0 })
		p.waitLog(`method=POST host=app\.example\.com path=/upload status=408 `)
	})
	t.Run("an idle chunked body", func(t *testing.T) {
		c := rawRequest(t, p.addr, "POST /upload HTTP/1.1\r\nHost: app.example.com\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
		answerThenClose(t, c, http.StatusRequestTimeout)
	})
	t.Run("the admin sign-in form", func(t *testing.T) {
		c := rawRequest(t, p.addr, "POST /_maintenance/admin/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nuser=a")
		c.SetDeadline(time.Now().Add(waitFor))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("the sign-in form with an idle body: %v, want the connection closed", err)
		}
	})
	t.Run("a body nobody reads", func(t *testing.T) {
		p.change(maintenance.On([]string{"shop.example.com"}, maintenance.OnOptions{}))
		waitUntil(t, "shop on", func() bool {
			code, _ := get(t, http.DefaultClient, "http://"+p.addr+"/", "shop.example.com")
			return code == 503
		})
		c := rawRequest(t, p.addr, "POST /cart HTTP/1.1\r\nHost: shop.example.com\r\nContent-Length: 100\r\n\r\nab")
		answerThenClose(t, c, http.StatusServiceUnavailable)
	})
}
