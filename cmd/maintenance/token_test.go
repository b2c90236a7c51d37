package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomaint/maintenance"
)

func TestParseSecretID(t *testing.T) {
	tests := []struct {
		name, in, want, errPart string
	}{
		{name: "id", in: "3f9c2a1b", want: "3f9c2a1b"},
		{name: "upper case", in: "3F9C2A1B", want: "3f9c2a1b"},
		{name: "too short", in: "3f9", errPart: `ID "3f9": accepted`},
		{name: "not hex", in: "zzzzzzzz", errPart: `ID "zzzzzzzz": accepted`},
		{name: "token", in: tokenPrefix + "abc", errPart: "not repeated here"},
		{name: "link", in: maintenance.BypassPath + "abc", errPart: "not repeated here"},
		{name: "secret", in: strings.Repeat("A", 43), errPart: "(43 characters, not repeated here)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSecretID("token", tt.in)
			if tt.errPart == "" {
				if err != nil || got != tt.want {
					t.Fatalf("parseSecretID(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.errPart) {
				t.Fatalf("parseSecretID(%q): error %v, want a usage error containing %q", tt.in, err, tt.errPart)
			}
			if len(tt.in) > 32 && strings.Contains(err.Error(), tt.in) {
				t.Errorf("parseSecretID(%q): the error repeats the secret: %v", tt.in, err)
			}
		})
	}
}

// TestCreateLongLabel shows that a label that is too long is rejected
// before the store is opened, and that no secret is printed then.
func TestCreateLongLabel(t *testing.T) {
	for _, cmd := range [][]string{{"token", "create"}, {"bypass", "create"}} {
		t.Run(cmd[0], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.db")
			args := append([]string{"--store", "sqlite:" + path}, cmd...)
			args = append(args, "--label", strings.Repeat("x", maintenance.MaxText+1))
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
			if code := exitCode(err, io.Discard); code != exitInvalid {
				t.Errorf("%s: exit code %d (%v), want %d", strings.Join(cmd, " "), code, err, exitInvalid)
			}
			if err == nil || !strings.Contains(err.Error(), "label is 2001 bytes long; accepted: at most 2000") {
				t.Errorf("%s: error %v, want one that says the label is too long", strings.Join(cmd, " "), err)
			}
			if stdout.Len() > 0 || stderr.Len() > 0 {
				t.Errorf("%s printed %q on stdout and %q on stderr, want nothing", strings.Join(cmd, " "), stdout.String(), stderr.String())
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the store was opened: %v", err)
			}
		})
	}
}
