//go:build linux

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/password"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (ptmx, pts *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	fd := int(ptmx.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("naming the pseudo-terminal: %v", err)
	}
	pts, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { pts.Close() })
	return ptmx, pts
}

// TestUserAddTerminal types the password on a terminal, as a person does:
// it is asked twice, on stderr, and the hash of what was typed is stored.
func TestUserAddTerminal(t *testing.T) {
	tests := []struct {
		name   string
		typed  string
		stored bool
		err    string
	}{
		{name: "same twice", typed: "correct horse\ncorrect horse\n", stored: true},
		{name: "differ", typed: "correct horse\ncorrect horsf\n", err: "user add: the two passwords differ; nothing was changed"},
		{name: "too short", typed: "short\nshort\n", err: "the password is 5 bytes long; accepted: 8 to 72 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ptmx, pts := openPTY(t)
			// Typed ahead: the terminal keeps the lines until they are read.
			if _, err := ptmx.WriteString(tt.typed); err != nil {
				t.Fatal(err)
			}
			storeURL := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
			if err := run(t.Context(), []string{"--store", storeURL, "init"}, nil, io.Discard, io.Discard); err != nil {
				t.Fatalf("init: %v", err)
			}
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), []string{"--store", storeURL, "user", "add", "--wait", "0", "alice"}, pts, &stdout, &stderr)
			if got := stderr.String(); got != "Password for alice: \nPassword again: \n" {
				t.Errorf("stderr = %q, want the two prompts", got)
			}
			if tt.err != "" {
				if !errors.Is(err, errUsage) && !errors.Is(err, maintenance.ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("user add: error %v, want an error containing %q that exits 2", err, tt.err)
				}
			} else if err != nil {
				t.Fatalf("user add: %v", err)
			}
			st, err := openStore(t.Context(), storeURL)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			state, err := st.Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !tt.stored {
				if len(state.Users) != 0 {
					t.Fatalf("users = %v, want none", state.Users)
				}
				return
			}
			if got := stdout.String(); got != "user alice added\n" {
				t.Errorf("stdout = %q", got)
			}
			if len(state.Users) != 1 || !password.Check(state.Users[0].Hash, "correct horse") {
				t.Fatalf("users = %+v, want alice with the typed password", state.Users)
			}
		})
	}
}
