package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/sqlite"
)

// httpGet is a helper program for the tests ("maintenance-test-get URL"): it
// requests URL once and prints the status code, as a command that "run"
// wraps would reach the site.
func httpGet() {
	resp, err := http.Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
}

// fleet is a store and serve processes on it, each in front of one upstream.
type fleet struct {
	t     *testing.T
	store string
	addrs []string
	procs []*exec.Cmd
}

// startFleet inits a SQLite store and starts n "maintenance serve" on it.
func startFleet(t *testing.T, n int) *fleet {
	t.Helper()
	bin, err := exec.LookPath("maintenance")
	if err != nil {
		t.Skipf("the maintenance test command is not in PATH: %v", err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app\n") }))
	t.Cleanup(up.Close)
	f := &fleet{t: t, store: "sqlite:" + filepath.Join(t.TempDir(), "m.db")}
	if out, err := f.cli("init"); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(bin, "serve", "--listen", addr, "--upstream", up.URL, "--access-log=false")
		cmd.Env = append(os.Environ(), "MAINTENANCE_STORE="+f.store)
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			if t.Failed() {
				t.Logf("serve %s:\n%s", addr, logs.String())
			}
		})
		f.addrs, f.procs = append(f.addrs, addr), append(f.procs, cmd)
	}
	f.waitGates(n)
	return f
}

// cli runs the maintenance command on the fleet's store.
func (f *fleet) cli(args ...string) (string, error) {
	cmd := exec.Command("maintenance", args...)
	cmd.Env = append(os.Environ(), "MAINTENANCE_STORE="+f.store)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitGates waits until n gates are live and serve the store's version.
func (f *fleet) waitGates(n int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), 20*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, strings.TrimPrefix(f.store, "sqlite:"))
	if err != nil {
		f.t.Fatal(err)
	}
	defer st.Close()
	for {
		s, err := st.Load(ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		fl, err := maintenance.WaitFleet(ctx, st, s.Version, 0, nil)
		if err == nil && fl.Gates.Live == n {
			return
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("waiting for %d gates: %+v, %v", n, fl, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (f *fleet) status(addr string) int {
	f.t.Helper()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestFleetLagging starts 3 serve processes and stops one with SIGSTOP
// while its heartbeat is still fresh: "on" names it and exits 1, the change
// made; after SIGCONT, the whole fleet agrees.
func TestFleetLagging(t *testing.T) {
	if testing.Short() {
		t.Skip("starts serve processes")
	}
	f := startFleet(t, 3)
	stopped := f.procs[2]
	if err := stopped.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	out, err := f.cli("on", "--wait", "2s", "--message", "fleet test")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("on with a stopped gate: %v, want exit 1\n%s", err, out)
	}
	if want := fmt.Sprintf("-%d-", stopped.Process.Pid); !strings.Contains(out, "1 of 3 gates still serve an older version") || !strings.Contains(out, want) {
		t.Errorf("on does not name the stopped gate (pid %d):\n%s", stopped.Process.Pid, out)
	}
	if !strings.Contains(out, "2/3 gates switched") {
		t.Errorf("on does not count the gates that switched:\n%s", out)
	}
	for _, a := range f.addrs[:2] {
		if s := f.status(a); s != http.StatusServiceUnavailable {
			t.Errorf("running gate %s answers %d after on, want 503", a, s)
		}
	}

	if err := stopped.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// "on" again changes nothing, and waits for the same version.
	out, err = f.cli("on", "--wait", "10s", "--message", "fleet test")
	if err != nil || !strings.Contains(out, "3/3 gates switched") {
		t.Fatalf("on after SIGCONT: %v\n%s", err, out)
	}
	for _, a := range f.addrs {
		if s := f.status(a); s != http.StatusServiceUnavailable {
			t.Errorf("gate %s answers %d after the fleet switched, want 503", a, s)
		}
	}
	out, err = f.cli("off")
	if err != nil || !strings.Contains(out, "3/3 gates switched") {
		t.Fatalf("off: %v\n%s", err, out)
	}
	for _, a := range f.addrs {
		if s := f.status(a); s != http.StatusOK {
			t.Errorf("gate %s answers %d after off, want 200", a, s)
		}
	}
}

// TestRunFirstRequestBlocked runs "maintenance run" 100 times around a
// command whose first act is a request to a gate of the fleet: it must
// never pass.
func TestRunFirstRequestBlocked(t *testing.T) {
	if testing.Short() {
		t.Skip("starts serve processes")
	}
	f := startFleet(t, 2)
	// curl starts in milliseconds, as the commands people wrap do; the
	// helper, a copy of this test binary, takes longer and would hide the
	// race.
	get := []string{"maintenance-test-get"}
	if _, err := exec.LookPath("curl"); err == nil {
		get = []string{"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\n"}
	}
	for i := range 100 {
		addr := f.addrs[i%len(f.addrs)]
		out, err := f.cli(append(append([]string{"run", "--"}, get...), "http://"+addr+"/")...)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out)
		}
		if !strings.HasPrefix(out, "503\n") && !strings.Contains(out, "\n503\n") {
			t.Fatalf("run %d: the command's first request was not blocked:\n%s", i, out)
		}
		// run returns once every gate serves the restore: what a deploy
		// script does next reaches the app, on every gate.
		for _, a := range f.addrs {
			resp, err := http.Get("http://" + a + "/")
			if err != nil {
				t.Fatalf("after run %d: %v", i, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "app\n" {
				t.Fatalf("after run %d returned, gate %s answered %d %q: the restore was not yet served", i, a, resp.StatusCode, body)
			}
		}
	}
}
