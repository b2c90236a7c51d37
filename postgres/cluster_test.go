package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gomaint/maintenance/internal/testenv"
)

// cluster is a private PostgreSQL server in a test's temporary directory,
// for tests that kill and restart it. As root, it runs as the postgres user,
// since PostgreSQL refuses to run as root.
type cluster struct {
	t        testing.TB
	postgres string // the server binary
	data     string // the data directory
	log      string // the server's output
	port     int
	cred     *syscall.Credential
	args     []string // settings passed with -c

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has ended
}

// startCluster creates and starts a private server with the given extra
// settings ("max_connections=200"). It is stopped when the test ends. A
// missing binary or postgres user skips the test, or fails it when
// MAINTENANCE_TEST_REQUIRE=1.
func startCluster(t testing.TB, settings ...string) *cluster {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the private PostgreSQL cluster is set up for Linux only")
	}
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.Reverse(candidates) // the newest version first
	initdb := testenv.Binary(t, "initdb", candidates...)
	c := &cluster{t: t, postgres: filepath.Join(filepath.Dir(initdb), "postgres")}
	root := t.TempDir()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			if testenv.Required() {
				t.Fatalf("the postgres user is required to run a private cluster as root: %v", err)
			}
			t.Skipf("SKIP: no postgres user to run a private cluster as root: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		// The postgres user must reach its directory through the test's.
		for _, dir := range []string{filepath.Dir(root), root} {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c.data = filepath.Join(root, "data")
	c.log = filepath.Join(root, "server.log")
	c.port = freePort(t)
	// fsync=off loses nothing when processes are killed, only when the
	// machine stops; commits stay synchronous, so none is lost.
	c.args = append([]string{"listen_addresses=127.0.0.1", "unix_socket_directories=", "fsync=off"}, settings...)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, initdb, "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--no-sync", "--no-instructions")
	cmd.Dir = root
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// url returns the URL of the cluster's postgres database, with a schema
// parameter when schema is set.
func (c *cluster) url(schema string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: fmt.Sprintf("127.0.0.1:%d", c.port), Path: "/postgres"}
	q := url.Values{"sslmode": {"disable"}}
	if schema != "" {
		q.Set("schema", schema)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// start starts the server and returns once it accepts connections.
func (c *cluster) start() {
	c.t.Helper()
	log, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer log.Close()
	args := []string{"-D", c.data, "-p", strconv.Itoa(c.port)}
	for _, s := range c.args {
		args = append(args, "-c", s)
	}
	c.cmd = exec.Command(c.postgres, args...)
	c.cmd.Dir = filepath.Dir(c.data)
	c.cmd.Env = []string{"LC_ALL=C"}
	c.cmd.Stdout, c.cmd.Stderr = log, log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("starting postgres: %v", err)
	}
	c.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(c.cmd, c.exited)

	ready := poll(30*time.Second, func() bool {
		select {
		case <-c.exited:
			c.t.Fatalf("postgres exited while starting: %s", c.output())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var conn *pgx.Conn
		if conn, err = pgx.Connect(ctx, c.url("")); err != nil {
			return false
		}
		conn.Close(ctx)
		return true
	})
	if !ready {
		c.t.Fatalf("postgres not accepting connections after 30 s: %v\n%s", err, c.output())
	}
}

// kill kills the server the hard way, as a crash would: the postmaster
// and all its children, with SIGKILL. It returns once they are gone.
func (c *cluster) kill() {
	c.t.Helper()
	pid := c.cmd.Process.Pid
	// Stopped, the postmaster starts no child while its children are listed.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		c.t.Fatalf("stopping the postmaster: %v", err)
	}
	children := childrenOf(c.t, pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		c.t.Fatalf("killing the postmaster: %v", err)
	}
	for _, p := range children {
		syscall.Kill(p, syscall.SIGKILL)
	}
	<-c.exited
	// Children are no longer ours to wait for: wait until each is gone or
	// a zombie, which holds no shared memory.
	for _, p := range children {
		if !poll(10*time.Second, func() bool { return !alive(p) }) {
			c.t.Fatalf("process %d still alive 10 s after SIGKILL", p)
		}
	}
}

// stop shuts the server down (fast shutdown), or kills it.
func (c *cluster) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		c.kill()
	}
}

func (c *cluster) output() []byte {
	b, _ := os.ReadFile(c.log)
	return b
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(t testing.TB, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var children []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(p); ok && ppid == pid {
			children = append(children, p)
		}
	}
	return children
}

// procStat returns the parent and the state of process pid.
func procStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0][0], err == nil
}

func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}
