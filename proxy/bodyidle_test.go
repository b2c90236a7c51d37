package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// bodyIdleServer serves LimitBodyIdle(idle) around a handler that reads the
// body with a pause between reads, and answers what it read or the error.
func bodyIdleServer(t *testing.T, h2 bool, idle, pause time.Duration) (*httptest.Server, *http.Client) {
	h := LimitBodyIdle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int64
		buf := make([]byte, 4)
		for {
			time.Sleep(pause)
			m, err := r.Body.Read(buf)
			n += int64(m)
			if err == io.EOF {
				fmt.Fprintf(w, "%d %s", n, r.Proto)
				return
			}
			if err != nil {
				fmt.Fprintf(w, "error idle=%v: %v", errors.Is(err, ErrBodyIdle), err)
				return
			}
		}
	}), idle)
	srv := httptest.NewUnstartedServer(h)
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, srv.Client()
}

func post(t *testing.T, c *http.Client, url string, body io.Reader) string {
	t.Helper()
	resp, err := c.Post(url, "text/plain", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestLimitBodyIdle(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			proto := "HTTP/1.1"
			if h2 {
				proto = "HTTP/2.0"
			}
			t.Run("a slow body that keeps moving", func(t *testing.T) {
				// 100 ms apart, with an idle limit of 1 s: room for a
				// loaded machine.
				srv, c := bodyIdleServer(t, h2, time.Second, 0)
				pr, pw := io.Pipe()
				go func() {
					for range 8 { // 800 ms in all
						time.Sleep(100 * time.Millisecond)
						pw.Write([]byte("ab"))
					}
					pw.Close()
				}()
				if got := post(t, c, srv.URL, pr); got != "16 "+proto {
					t.Fatalf("%q", got)
				}
			})
			t.Run("a handler that reads slowly", func(t *testing.T) {
				// The client sent everything at once; the reader takes
				// its time: that is not the client's idleness.
				srv, c := bodyIdleServer(t, h2, 100*time.Millisecond, 150*time.Millisecond)
				if got := post(t, c, srv.URL, strings.NewReader(strings.Repeat("x", 20))); got != "20 "+proto {
					t.Fatalf("%q", got)
				}
			})
			t.Run("an idle body", func(t *testing.T) {
				srv, c := bodyIdleServer(t, h2, 200*time.Millisecond, 0)
				pr, pw := io.Pipe()
				defer pw.Close()
				go pw.Write([]byte("abc"))
				if got := post(t, c, srv.URL, pr); !strings.HasPrefix(got, "error idle=true: request body idle: no bytes for 200ms") {
					t.Fatalf("%q", got)
				}
			})
		})
	}
}
