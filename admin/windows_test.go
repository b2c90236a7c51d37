package admin_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/gomaint/maintenance/admin"
)

// badWindow is a window that every surface refuses the same way: the
// cases are shared with the CLI's tests (testdata/bad_windows.json at the
// root of the module).
type badWindow struct {
	Name, Kind, From, For, Until, Field, Detail string
}

func readBadWindows(t *testing.T) []badWindow {
	t.Helper()
	b, err := os.ReadFile("../testdata/bad_windows.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []badWindow
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestBadWindowsFormAndAPI shows that the form and the JSON API refuse the
// same windows with the same field and the same message.
func TestBadWindowsFormAndAPI(t *testing.T) {
	f := newFixture(t, admin.Options{})
	b := f.browser()
	b.signIn()
	for _, tc := range readBadWindows(t) {
		t.Run(tc.Name, func(t *testing.T) {
			body := map[string]any{}
			form := url.Values{"version": {f.version()}}
			for k, v := range map[string]string{"from": tc.From, "for": tc.For, "until": tc.Until} {
				if v != "" {
					body[k] = v
					form.Set(k, v)
				}
			}
			path := "sites/" + testSite + "/" + tc.Kind
			formPath := sitePath + "/schedule"
			if tc.Kind == "on" {
				path, formPath = "sites/"+testSite+"/on", sitePath+"/switch"
				form.Set("view", "site")
				form.Set("on", "1")
			}
			before, n := f.load(), len(f.events())
			r := f.api("POST", path, body)
			if p := r.problem(t); r.status != http.StatusUnprocessableEntity || p["field"] != tc.Field || !strings.Contains(p["detail"].(string), tc.Detail) {
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
