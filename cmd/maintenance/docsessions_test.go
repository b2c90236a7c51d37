//go:build unix

package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance/internal/testenv"
)

// TestDocSessions runs the shell sessions of README.md, docs/cli-guide.md
// and docs/admin.md as the documents write them, line by line, in a
// directory of their own: each line must succeed, a line ending in "&"
// runs in the background until the session ends. Only the addresses are
// the test's own (a loopback port instead of 8080, a test upstream instead
// of 127.0.0.1:8000), and what a session says is done before it (a token
// created, serve running) is done first.
func TestDocSessions(t *testing.T) {
	sessions := []struct {
		doc, first string // the document, and its block's first line
		// before runs what the block assumes, and returns the session's
		// environment beyond the store; addr is serve's address.
		before func(t *testing.T, dir, addr string) []string
		// check runs after the session, whose output is out.
		check func(t *testing.T, dir, addr, out string)
	}{
		{doc: "README.md", first: "maintenance serve --listen :8080 --upstream http://127.0.0.1:8000 &",
			check: func(t *testing.T, dir, addr, out string) {
				if s, body := recipeGet(t, "http://"+addr+"/"); s != 200 || !strings.Contains(body, "app: shop") {
					t.Errorf("after the session: %d %q, want the application", s, body)
				}
			}},
		{doc: "docs/cli-guide.md", first: "maintenance serve --demo &",
			check: func(t *testing.T, dir, addr, out string) {
				for _, want := range []string{"HTTP/1.1 503", "Back at 14:00", "database upgrade", "203.0.113.7"} {
					if !strings.Contains(out, want) {
						t.Errorf("the session's output has no %q:\n%s", want, out)
					}
				}
			}},
		{doc: "docs/admin.md", first: "# TOKEN is shown once by: maintenance token create --label deploy",
			before: func(t *testing.T, dir, addr string) []string {
				cli(t, dir, "init")
				out, err := exec.Command("maintenance", "--store", "sqlite:"+filepath.Join(dir, "m.db"), "token", "create", "--label", "deploy").Output()
				if err != nil {
					t.Fatalf("maintenance token create: %v", err)
				}
				startApp(t, dir, append(os.Environ(), "MAINTENANCE_STORE=sqlite:"+filepath.Join(dir, "m.db")),
					"exec maintenance serve --listen "+addr+" --upstream "+named(t, "shop")+" --site shop.example.com --admin", addr)
				return []string{"TOKEN=" + strings.TrimSpace(string(out))}
			},
			check: func(t *testing.T, dir, addr, out string) {
				if !regexp.MustCompile(`"message": *"Back at 14:00"`).MatchString(out) {
					t.Errorf("the API's answer: %s", out)
				}
				r, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
				r.Host = "shop.example.com"
				deadline := time.Now().Add(waitFor)
				for {
					resp, err := http.DefaultClient.Do(r)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode == 503 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("shop.example.com answers %d after the API call, want 503", resp.StatusCode)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}},
	}
	for _, s := range sessions {
		t.Run(s.doc, func(t *testing.T) {
			testenv.Binary(t, "curl")
			t.Parallel()
			lines := docBlock(t, s.doc, s.first)
			dir := t.TempDir()
			addr := freePort(t)
			env := append(os.Environ(), "MAINTENANCE_STORE=sqlite:"+filepath.Join(dir, "m.db"))
			if s.before != nil {
				env = append(env, s.before(t, dir, addr)...)
			}
			var out strings.Builder
			for _, line := range lines {
				line = strings.Replace(line, "http://127.0.0.1:8000", named(t, "shop"), 1)
				line = strings.Replace(line, "127.0.0.1:8080", addr, 1)
				line = strings.Replace(line, "--listen :8080", "--listen "+addr, 1)
				if bg, ok := strings.CutSuffix(line, "&"); ok {
					if !strings.Contains(bg, "--listen") {
						bg += " --listen " + addr
					}
					startApp(t, dir, env, "exec "+bg, addr)
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				cmd := exec.CommandContext(ctx, "sh", "-c", line)
				cmd.Dir, cmd.Env = dir, env
				b, err := cmd.CombinedOutput()
				cancel()
				out.Write(b)
				if err != nil {
					t.Fatalf("%s: %s: %v\n%s", s.doc, line, err, b)
				}
			}
			s.check(t, dir, addr, out.String())
		})
	}
}

// docBlock returns the lines of the ```sh block of a document that starts
// with first, without their comments, a line continued with "\" joined to
// the next.
func docBlock(t *testing.T, doc, first string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", doc))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```sh\n(" + regexp.QuoteMeta(first) + ".*?\n)```\n").FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no ```sh block that starts with %q", doc, first)
	}
	text := strings.ReplaceAll(string(m[1]), "\\\n", "")
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, " # "); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines
}
