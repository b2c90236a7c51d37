package storeurl_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
	"github.com/gomaint/maintenance/storetest"
)

func TestMain(m *testing.M) {
	storetest.HelperMain(storeurl.OpenLazy)
	os.Exit(m.Run())
}

// TestLazyStore runs the acceptance suite on a lazy store over SQLite: the
// wrapper passes every method through, the secrets included.
func TestLazyStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "m.db") },
		Open: func(ctx context.Context, url string) (maintenance.Store, error) {
			return storeurl.OpenLazy(ctx, url)
		},
	})
}

func TestParse(t *testing.T) {
	tests := []struct {
		url, kind, path string
		ok              bool
	}{
		{"sqlite:maintenance.db", "sqlite", "maintenance.db", true},
		{"sqlite:///var/lib/m.db", "sqlite", "/var/lib/m.db", true},
		{"sqlite://m.db", "sqlite", "m.db", true},
		{"file:/tmp/m.json", "file", "/tmp/m.json", true},
		{"file://m.json", "file", "m.json", true},
		{"sqlite:", "", "", false},
		{"file://", "", "", false},
		{"postgres://localhost/m", "postgres", "postgres://localhost/m", true},
		{"postgresql://localhost/m?schema=x", "postgres", "postgresql://localhost/m?schema=x", true},
		{"redis://127.0.0.1:6379/0", "redis", "redis://127.0.0.1:6379/0", true},
		{"rediss://cache:6380", "redis", "rediss://cache:6380", true},
		{"redis+sentinel://s1:26379/0?master_name=m", "redis", "redis+sentinel://s1:26379/0?master_name=m", true},
		{"rediss+cluster://n1:7000", "redis", "rediss+cluster://n1:7000", true},
		{"postgres:localhost", "", "", false},
		{"mysql://localhost/m", "", "", false},
		{"m.db", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		kind, path, err := storeurl.Parse(tt.url)
		if (err == nil) != tt.ok || kind != tt.kind || path != tt.path {
			t.Errorf("storeurl.Parse(%q) = %q, %q, %v; want %q, %q, ok %v", tt.url, kind, path, err, tt.kind, tt.path, tt.ok)
		}
		if err != nil && !errors.Is(err, maintenance.ErrInvalid) {
			t.Errorf("storeurl.Parse(%q): error %v does not wrap ErrInvalid", tt.url, err)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://app:s3cret@db:5432/m?schema=x", "postgres://app:xxxxx@db:5432/m?schema=x"},
		{"redis://:s3cret@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"postgres://app@db/m", "postgres://app@db/m"},
		{"sqlite:/var/lib/m.db", "sqlite:/var/lib/m.db"},
	}
	for _, tt := range tests {
		if got := storeurl.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if _, _, err := storeurl.Parse("mysql://root:s3cret@db/m"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Parse error shows the password: %v", err)
	}
}

// TestLazyClosedRedacts checks that the error of a closed lazy store names
// the store without its password.
func TestLazyClosedRedacts(t *testing.T) {
	// Nothing listens on port 1: the store is not reachable, which a lazy
	// store accepts.
	const url = "postgres://app:s3cret@127.0.0.1:1/m?sslmode=disable&connect_timeout=1"
	st, err := storeurl.OpenLazy(t.Context(), url)
	if err != nil {
		t.Fatalf("OpenLazy: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = st.Load(t.Context())
	if !errors.Is(err, maintenance.ErrClosed) {
		t.Fatalf("Load after Close = %v, want an error wrapping %v", err, maintenance.ErrClosed)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the password: %v", err)
	}
}
