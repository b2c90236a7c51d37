package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput shows that "on" and "schedule add" refuse the switches and
// windows that the admin's form and JSON API refuse
// (testdata/bad_input.json at the root of the module), with the same
// message, naming the flag.
func TestBadInput(t *testing.T) {
	b, err := os.ReadFile("../../testdata/bad_input.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name, Kind    string
		Fields        map[string]any
		Field, Detail string
	}
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
			for k, v := range tc.Fields {
				args = append(args, "--"+strings.ReplaceAll(k, "_", "-"), fmt.Sprint(v))
			}
			_, _, err := runIn(t, vars, args...)
			if err == nil {
				t.Fatalf("%q: accepted", args)
			}
			msg, flag := err.Error(), strings.ReplaceAll(tc.Field, "_", "-")
			if exitCode(err, io.Discard) != exitInvalid || !strings.Contains(msg, tc.Detail) ||
				!strings.Contains(msg, "--"+flag) && !strings.HasPrefix(msg, flag+" ") {
				t.Errorf("%q: exit %d, %q; want exit %d, the flag --%s and %q", args, exitCode(err, io.Discard), msg, exitInvalid, flag, tc.Detail)
			}
		})
	}
}
