package maintenance_test

import (
	"os"
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
