package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryPackageReports checks that every package whose tests use
// testenv runs them with Run, so that none of its skips goes unreported by
// "go test ./...".
func TestEveryPackageReports(t *testing.T) {
	users := map[string]bool{}   // directories whose tests import testenv
	runners := map[string]bool{} // directories with a TestMain calling Run
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "../.." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == "." {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		if strings.Contains(string(b), `"github.com/gomaint/maintenance/internal/testenv"`) {
			users[dir] = true
		}
		if strings.Contains(string(b), "testenv.Run(m)") || strings.Contains(string(b), "testenv.Reporting(m)") {
			runners[dir] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(users) == 0 {
		t.Fatal("found no package that uses testenv: the walk is broken")
	}
	for dir := range users {
		if !runners[dir] {
			t.Errorf("%s: its tests use testenv but its TestMain does not call os.Exit(testenv.Run(m)) (or hand testenv.Reporting(m) to its runner)", dir)
		}
	}
}

func TestSkipLines(t *testing.T) {
	s := skips{m: map[string]*skip{}}
	for _, name := range []string{"TestA", "TestA/sub", "TestB", "TestC", "TestD", "TestE", "TestF"} {
		s.add("Redis at redis://x", "connection refused", name)
	}
	s.add("Chromium at /c", "not found", "TestBrowser")
	got := s.lines("example.com/p")
	want := []string{
		"example.com/p: SKIPPED 1 test (TestBrowser): Chromium at /c not usable: not found",
		"example.com/p: SKIPPED 6 tests (TestA, TestB, TestC, TestD, TestE and 1 more): Redis at redis://x not usable: connection refused",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
