package maintenance_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLibraryDocShowsExample checks that the quick start shown in
// docs/library.md is Example_quickStart as example_test.go has it, so the
// documented code is the code that compiles and runs.
func TestLibraryDocShowsExample(t *testing.T) {
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(src), "func Example_quickStart() {")
	if start < 0 {
		t.Fatal("example_test.go has no Example_quickStart")
	}
	end := strings.Index(string(src[start:]), "\n}\n")
	example := string(src[start : start+end+3])
	doc, err := os.ReadFile("docs/library.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```go\n"+example+"```\n") {
		t.Errorf("docs/library.md does not show Example_quickStart as example_test.go has it; copy the function into its quick start")
	}
}

// TestDocLinks checks every relative link of README.md and docs/*.md: the
// file it names exists, and so does the heading its #anchor names (as
// GitHub makes anchors of headings).
func TestDocLinks(t *testing.T) {
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string{"README.md"}, docs...)
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		a := map[string]bool{}
		anchors[path] = a
		text, err := os.ReadFile(path)
		if err != nil {
			return a
		}
		fence := false
		for _, line := range strings.Split(string(text), "\n") {
			if strings.HasPrefix(line, "```") {
				fence = !fence
				continue
			}
			if m := headingRE.FindStringSubmatch(line); m != nil && !fence {
				slug := strings.ReplaceAll(slugDropRE.ReplaceAllString(strings.ToLower(strings.TrimSpace(m[1])), ""), " ", "-")
				name := slug
				for n := 1; a[name]; n++ {
					name = fmt.Sprintf("%s-%d", slug, n)
				}
				a[name] = true
			}
		}
		return a
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRE.FindAllStringSubmatch(string(text), -1) {
			target := m[1]
			if schemeRE.MatchString(target) {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			resolved := f
			if path != "" {
				resolved = filepath.Join(filepath.Dir(f), path)
				if _, err := os.Stat(resolved); err != nil {
					t.Errorf("%s: link %q: %v", f, target, err)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(resolved, ".md") && !anchorsOf(resolved)[anchor] {
				t.Errorf("%s: link %q: %s has no heading with anchor #%s", f, target, resolved, anchor)
			}
		}
	}
}

var (
	linkRE     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	schemeRE   = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`)
	headingRE  = regexp.MustCompile(`^#{1,6} (.*)`)
	slugDropRE = regexp.MustCompile(`[^\w\- ]`)
)

// TestDocsShowExamples checks that every Go block of docs/*.md is code
// that compiles and runs: a block found, as it is written, in one of the
// Examples (library.md's is Example_quickStart), or the webhook receiver of
// docs/webhooks.md, which cmd/maintenance's TestWebhookGoReceiver builds and
// runs.
func TestDocsShowExamples(t *testing.T) {
	var examples []string
	for _, f := range []string{"example_test.go", "admin/example_test.go", "metrics/example_test.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		examples = append(examples, string(b))
	}
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	goBlock := regexp.MustCompile("(?s)(\n[^\n]*\n\n)```go\n(.*?\n)```\n")
	n := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goBlock.FindAllStringSubmatch(string(b), -1) {
			n++
			if doc == filepath.Join("docs", "webhooks.md") && strings.Contains(m[1], "A receiver in Go:") {
				continue
			}
			indented := "\t" + strings.ReplaceAll(strings.TrimSuffix(m[2], "\n"), "\n", "\n\t") + "\n"
			found := false
			for _, e := range examples {
				if strings.Contains(e, m[2]) || strings.Contains(e, indented) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: this Go block is in no Example (example_test.go, admin/example_test.go, metrics/example_test.go): put it in one as written\n%s", doc, m[2])
			}
		}
	}
	if n == 0 {
		t.Error("no Go block found in docs/*.md")
	}
}
