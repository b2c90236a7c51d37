package admin_test

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/gomaint/maintenance/admin"
)

// badInput is a switch on ("on") or a scheduled window ("schedule") that
// every surface refuses the same way: the cases are shared with the CLI's
// tests (testdata/bad_input.json at the root of the module).
type badInput struct {
	Name, Kind    string
	Fields        map[string]any
	Field, Detail string
}

func readBadInput(t *testing.T) []badInput {
	t.Helper()
	b, err := os.ReadFile("../testdata/bad_input.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []badInput
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestBadInputFormAndAPI shows that the form and the JSON API refuse the
// same switches and windows with the same field and the same message.
func TestBadInputFormAndAPI(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	for _, tc := range readBadInput(t) {
		t.Run(tc.Name, func(t *testing.T) {
			form := url.Values{"version": {f.version()}}
			for k, v := range tc.Fields {
				form.Set(k, fmt.Sprint(v))
			}
			path, formPath := "sites/"+testSite+"/schedule", sitePath+"/schedule"
			if tc.Kind == "on" {
				path, formPath = "sites/"+testSite+"/on", sitePath+"/switch"
				form.Set("view", "site")
				form.Set("on", "1")
			}
			before, n := f.load(), len(f.events())
			r := f.api("POST", path, tc.Fields)
			if p := r.problem(t); r.status != http.StatusUnprocessableEntity || p["field"] != tc.Field || !strings.Contains(fmt.Sprint(p["detail"]), tc.Detail) {
				t.Errorf("API: %d %v; want 422, field %q, detail with %q", r.status, p, tc.Field, tc.Detail)
			}
			p := b.post(formPath, form)
			if p.status != http.StatusUnprocessableEntity {
				t.Errorf("form: %d, want 422", p.status)
			}
			p.has(t, html.EscapeString(tc.Detail), `id="`+tc.Field+`"`)
			f.unchanged(before, n)
		})
	}
}
