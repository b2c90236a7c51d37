package testenv

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// skipped records, per missing service, why it is missing and the tests it
// skipped.
var skipped = skips{m: map[string]*skip{}}

type skips struct {
	mu sync.Mutex
	m  map[string]*skip
}

type skip struct {
	why   string
	tests []string
}

func (s *skips) add(what, why, test string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.m[what]
	if k == nil {
		k = &skip{why: why}
		s.m[what] = k
	}
	// Subtests of one test count once.
	top, _, _ := strings.Cut(test, "/")
	if !slices.Contains(k.tests, top) {
		k.tests = append(k.tests, top)
	}
}

// lines returns one line per missing service, in a stable order.
func (s *skips) lines(pkg string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for what, k := range s.m {
		names := k.tests
		more := ""
		if len(names) > 5 {
			more = fmt.Sprintf(" and %d more", len(names)-5)
			names = names[:5]
		}
		n := "tests"
		if len(k.tests) == 1 {
			n = "test"
		}
		out = append(out, fmt.Sprintf("%s: SKIPPED %d %s (%s%s): %s not usable: %s",
			pkg, len(k.tests), n, strings.Join(names, ", "), more, what, k.why))
	}
	slices.Sort(out)
	return out
}

// Runner is what Run runs: a *testing.M, or what testscript.Main takes.
type Runner interface{ Run() int }

// Reporting wraps m so that running it reports as Run does, for a TestMain
// that hands m to another runner (testscript.Main calls m.Run itself).
func Reporting(m Runner) Runner { return reporting{m} }

type reporting struct{ m Runner }

func (r reporting) Run() int { return Run(r.m) }

// Run runs the tests of m and returns the exit code for os.Exit. When a
// service was missing, it prints one line per service naming the package,
// the tests it skipped and why, where a person sees it: on the standard
// error of the go command (which hides a passing package's own output
// unless -v is given), else on the terminal, else on the test's own
// standard error.
func Run(m Runner) int {
	code := m.Run()
	lines := skipped.lines(packagePath())
	if len(lines) == 0 {
		return code
	}
	w, done := reportWriter()
	defer done()
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, "  (start the services, or see CONTRIBUTING.md; MAINTENANCE_TEST_REQUIRE=1 makes a missing one a failure)")
	return code
}

// packagePath returns the import path of the package under test.
func packagePath() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != "" {
		return strings.TrimSuffix(bi.Path, ".test")
	}
	return filepath.Base(os.Args[0])
}

// reportWriter returns where the skip lines go. The go command runs a test
// binary with its output captured, and prints it for a passing package
// only under -v; writing to the go command's own standard error (on Linux,
// through /proc) or to the terminal gets the lines past that. Output to
// the test's standard error is the last resort: then the lines show with
// -v and when a test fails.
func reportWriter() (io.Writer, func()) {
	ppid := os.Getppid()
	if comm, err := os.ReadFile("/proc/" + strconv.Itoa(ppid) + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "go" {
		if f, err := os.OpenFile("/proc/"+strconv.Itoa(ppid)+"/fd/2", os.O_WRONLY|os.O_APPEND, 0); err == nil {
			return f, func() { f.Close() }
		}
	}
	if f, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		return f, func() { f.Close() }
	}
	return os.Stderr, func() {}
}
