package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadWindows shows that "on" and "schedule add" refuse the windows
// that the admin's form and JSON API refuse (testdata/bad_windows.json at
// the root of the module), with the same message, naming the flag.
func TestBadWindows(t *testing.T) {
	b, err := os.ReadFile("../../testdata/bad_windows.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ Name, Kind, From, For, Until, Field, Detail string }
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{storeEnv: "file:" + filepath.Join(t.TempDir(), "m.json")}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			args := []string{"on"}
			if tc.Kind == "schedule" {
				args = []string{"schedule", "add"}
			}
			args = append(args, "--site", "shop.example.com")
			for _, f := range []struct{ flag, v string }{{"--from", tc.From}, {"--for", tc.For}, {"--until", tc.Until}} {
				if f.v != "" {
					args = append(args, f.flag, f.v)
				}
			}
			_, _, err := runIn(t, vars, args...)
			if err == nil {
				t.Fatalf("%q: accepted", args)
			}
			msg := err.Error()
			if exitCode(err, io.Discard) != exitInvalid || !strings.Contains(msg, tc.Detail) ||
				!strings.HasPrefix(msg, "--"+tc.Field+": ") && !strings.HasPrefix(msg, tc.Field+" ") {
				t.Errorf("%q: exit %d, %q; want exit %d, the flag --%s and %q", args, exitCode(err, io.Discard), msg, exitInvalid, tc.Field, tc.Detail)
			}
		})
	}
}
