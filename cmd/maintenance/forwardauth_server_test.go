package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestForwardAuthServerDripBody: a client that sends a request's headers
// and then its body a byte at a time does not hold a connection of the
// decision server (and its goroutine) for ever: the server's read timeout
// ends it. Without one, Go's server waits for the body's end with no
// deadline once the handler has answered.
func TestForwardAuthServerDripBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := forwardAuthServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}), slog.New(slog.DiscardHandler))
	srv.ReadTimeout = time.Second // the test's; the command's is forwardAuthReadTimeout
	go srv.Serve(ln)
	defer srv.Close()
	if forwardAuthServer(nil, slog.New(slog.DiscardHandler)).ReadTimeout <= 0 {
		t.Fatal("the decision server has no read timeout")
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: shop.example.com\r\nContent-Length: 1000\r\n\r\nx")
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c) // returns when the server closes
		close(closed)
	}()
	for i := 0; i < 300; i++ { // bounded: 30 s at most
		select {
		case <-closed:
			return
		case <-time.After(100 * time.Millisecond):
			c.Write([]byte("x"))
		}
	}
	t.Fatal("the server still holds a connection whose body drips after 30 s")
}
