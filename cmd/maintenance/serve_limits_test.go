package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of what serve holds for clients and upstreams: idle bodies,
// connection caps, upgrades across state changes, and stopping.

// startServeLimited is startServe with the descriptor limit of serve's
// process lowered to nofile.
func startServeLimited(t *testing.T, dir string, nofile int, args ...string) *serveProc {
	t.Helper()
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("no prlimit (util-linux)")
	}
	lim := fmt.Sprintf("--nofile=%d:%d", nofile, nofile)
	return startServeCmd(t, dir, append([]string{"prlimit", lim, "maintenance", "serve", "--listen", "127.0.0.1:0"}, args...))
}

func TestServeMaxConnections(t *testing.T) {
	var inFlight atomic.Int64
	app := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	const nofile = 256 // --max-connections defaults to (256-64-8)/2 = 92
	p := startServeLimited(t, t.TempDir(), nofile, "--upstream", app)
	p.waitLog(`max_connections=92`)
	// Bodies that never come, each holding a client and an upstream
	// descriptor, and half-sent headers: more than the descriptors allow.
	var conns []net.Conn
	for range 150 {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 1000000\r\n\r\nabc")
	}
	for range 40 {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: app.exa")
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	waitUntil(t, "the bodies reached the upstream", func() bool { return inFlight.Load() >= 80 })

	// At the cap, health still answers (in the reserve); the rest get 503.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitFor}
	healthy := func() bool {
		resp, err := c.Get("http://" + p.addr + "/_maintenance/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	waitUntil(t, "health answered at the cap", healthy)
	if inFlight.Load() > 92 {
		t.Errorf("%d requests reached the upstream, more than --max-connections", inFlight.Load())
	}
	for _, l := range p.log() {
		if strings.Contains(l, "too many open files") {
			t.Fatalf("serve ran out of descriptors: %s", l)
		}
	}
	// Once the clients go, serve answers everyone again.
	for _, c := range conns {
		c.Close()
	}
	waitUntil(t, "a request passed after the flood", func() bool {
		resp, err := c.Get("http://" + p.addr + "/page")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
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
