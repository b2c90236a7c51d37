// Package testenv finds the real servers the tests need: PostgreSQL, Redis
// and Chromium. A missing one skips the test with a visible message, or
// fails it when MAINTENANCE_TEST_REQUIRE=1 (as in CI).
//
// A package whose tests use it runs them with Run from its TestMain, so
// that "go test ./..." (which shows a passing package's output only under
// -v) still prints one line per missing service saying what was skipped.
package testenv

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Defaults, overridden by MAINTENANCE_TEST_POSTGRES, MAINTENANCE_TEST_REDIS
// and MAINTENANCE_TEST_CHROMIUM.
const (
	DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedis    = "redis://127.0.0.1:6379/0"
	DefaultChromium = "/usr/bin/chromium"
)

// Required reports whether absent services fail the tests instead of
// skipping them.
func Required() bool { return os.Getenv("MAINTENANCE_TEST_REQUIRE") == "1" }

// Missing skips the test because what (a tool or a server, named as a
// person would look for it) is not usable for the reason why; with
// MAINTENANCE_TEST_REQUIRE=1 it fails the test instead.
func Missing(t testing.TB, what, why string) {
	t.Helper()
	missing(t, what, why)
}

func missing(t testing.TB, what, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is required (MAINTENANCE_TEST_REQUIRE=1) but not usable: %s", what, why)
	}
	skipped.add(what, why, t.Name())
	t.Skipf("SKIP: %s not usable (%s); set MAINTENANCE_TEST_REQUIRE=1 to make this a failure", what, why)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// dial checks that the URL's host answers on TCP.
func dial(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	return c.Close()
}

// Postgres returns the URL of a PostgreSQL server for tests. Each test must
// use a schema of its own.
func Postgres(t testing.TB) string {
	t.Helper()
	u := env("MAINTENANCE_TEST_POSTGRES", DefaultPostgres)
	if err := dial(u); err != nil {
		missing(t, "PostgreSQL at "+u, err.Error())
	}
	return u
}

// Redis returns the URL of a Redis server for tests. Each test must use a key
// prefix of its own.
func Redis(t testing.TB) string {
	t.Helper()
	u := env("MAINTENANCE_TEST_REDIS", DefaultRedis)
	if err := dial(u); err != nil {
		missing(t, "Redis at "+u, err.Error())
	}
	return u
}

// Chromium returns the path of a Chromium binary.
func Chromium(t testing.TB) string {
	t.Helper()
	p := env("MAINTENANCE_TEST_CHROMIUM", DefaultChromium)
	if _, err := exec.LookPath(p); err != nil {
		missing(t, "Chromium at "+p, err.Error())
	}
	return p
}

// Binary returns the path of a server binary (redis-server, pg_ctl...) for
// fault tests that start private servers.
func Binary(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	for _, c := range append([]string{name}, candidates...) {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	why := "not found in PATH"
	if len(candidates) > 0 {
		why += " or " + joinPaths(candidates)
	}
	missing(t, name, why)
	return ""
}

func joinPaths(ps []string) string {
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += p
	}
	return s
}
