//go:build linux

package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
)

// TestStatusColour shows the state word in colour when stdout is a
// terminal, and never with NO_COLOR set or on a pipe.
func TestStatusColour(t *testing.T) {
	storeURL := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	t.Setenv("MAINTENANCE_WAIT", "0")
	var sink bytes.Buffer
	for _, args := range [][]string{{"init"}, {"sites", "add", "shop.example.com"}, {"on", "--site", "shop.example.com"}} {
		if err := run(t.Context(), append([]string{"--store", storeURL}, args...), nil, &sink, &sink); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	status := func(t *testing.T, noColor string) string {
		t.Helper()
		ptmx, pts := openPTY(t)
		var stderr bytes.Buffer
		t.Setenv("NO_COLOR", noColor)
		t.Setenv("TERM", "xterm")
		if err := run(t.Context(), []string{"--store", storeURL, "status"}, nil, pts, &stderr); err != nil {
			t.Fatal(err)
		}
		pts.Close()
		ptmx.SetReadDeadline(time.Now().Add(5 * time.Second))
		out, _ := io.ReadAll(ptmx)
		return string(out)
	}
	if got := status(t, ""); !strings.Contains(got, "shop.example.com: \x1b[1;31mon (full)\x1b[0m") ||
		!strings.Contains(got, "*: \x1b[32moff\x1b[0m") {
		t.Errorf("status on a terminal = %q, want the state words in colour", got)
	}
	if got := status(t, "1"); strings.Contains(got, "\x1b") || !strings.Contains(got, "shop.example.com: on (full)") {
		t.Errorf("status on a terminal with NO_COLOR=1 = %q, want no colour", got)
	}
	var out bytes.Buffer
	t.Setenv("NO_COLOR", "")
	if err := run(t.Context(), []string{"--store", storeURL, "status"}, nil, &out, &sink); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "\x1b") || !strings.Contains(out.String(), "shop.example.com: on (full)") {
		t.Errorf("status on a pipe = %q, want no colour", out.String())
	}
}

// TestWaitProgressOnTerminal: while a command waits for the fleet, a
// terminal on stderr shows how many gates switched, and the line is erased
// once the wait is over; a pipe gets no progress line.
func TestWaitProgressOnTerminal(t *testing.T) {
	storeURL := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	var sink bytes.Buffer
	if err := run(t.Context(), []string{"--store", storeURL, "init"}, nil, &sink, &sink); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(t.Context(), storeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A live gate that never switches: the wait runs out.
	if err := st.Heartbeat(t.Context(), maintenance.GateInfo{ID: "stuck", Host: "web-1", Version: 0, Started: time.Now(), LastSeen: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ptmx, pts := openPTY(t)
	err = run(t.Context(), []string{"--store", storeURL, "on", "--wait", "300ms"}, nil, &sink, pts)
	if err == nil {
		t.Fatal("on with a gate that never switches: no error, want the lagging gate named")
	}
	pts.Close()
	ptmx.SetReadDeadline(time.Now().Add(5 * time.Second))
	out, _ := io.ReadAll(ptmx)
	if !strings.Contains(string(out), "\r0/1 gates...") || !strings.Contains(string(out), "\r\x1b[K") {
		t.Errorf("stderr on a terminal = %q, want the progress line, then erased", out)
	}
	var stderr bytes.Buffer
	run(t.Context(), []string{"--store", storeURL, "off", "--wait", "300ms"}, nil, &sink, &stderr)
	if strings.Contains(stderr.String(), "gates...") {
		t.Errorf("stderr on a pipe = %q, want no progress line", stderr.String())
	}
}
