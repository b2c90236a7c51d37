package server

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestServeConfigDoc loads the configuration file that docs/serve.md shows,
// as the document has it, and checks that each of its lines is the setting
// the document says.
func TestServeConfigDoc(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "serve.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\n### Configuration file and reload\n.*?\n```\n(.*?\n)```\n").FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/serve.md: no ``` block in the section \"Configuration file and reload\"")
	}
	conf := filepath.Join(t.TempDir(), "serve.conf")
	if err := os.WriteFile(conf, m[1], 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(noDefaults, "--config", conf)
	if err != nil {
		t.Fatalf("docs/serve.md's configuration file: %v\n%s", err, m[1])
	}
	var routes []string
	for _, r := range c.routes {
		routes = append(routes, r.Site+"="+r.Upstream.String())
	}
	got := fmt.Sprintf("listen=%s upstream=%s routes=%v trusted=%v exempt=%v store=%s",
		c.listen, c.upstream, routes, c.gate.TrustedProxies, c.gate.Exempt, c.store)
	want := "listen=:8080 upstream=http://127.0.0.1:8000 routes=[shop.example.com=http://127.0.0.1:8001 *.example.org=http://127.0.0.1:8002] " +
		"trusted=[10.0.0.0/8] exempt=[POST /webhooks/*] store=postgres://maintenance@db/maintenance"
	if got != want {
		t.Errorf("docs/serve.md's configuration file gives\n%s\nwant\n%s", got, want)
	}
}
