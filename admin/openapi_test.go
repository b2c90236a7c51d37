package admin_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gomaint/maintenance/admin"
)

// TestOpenAPIMatchesRoutes checks that openapi.json documents every route
// of the API and nothing else, and that the API serves it.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
		Security []map[string][]string                 `json:"security"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL+"/" != admin.APIPrefix {
		t.Errorf("servers %+v, want %s", doc.Servers, strings.TrimSuffix(admin.APIPrefix, "/"))
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			m := strings.ToUpper(method)
			if !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE"}, m) {
				t.Errorf("%s: unknown key %q", path, method)
				continue
			}
			// An operation needs a token unless it says security: [].
			documented[m+" "+path] = op.Security == nil || len(*op.Security) > 0
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s %s has no operationId or summary", m, path)
			}
			if _, ok := op.Responses["401"]; documented[m+" "+path] && !ok {
				t.Errorf("%s %s needs a token but documents no 401", m, path)
			}
		}
	}
	routes := admin.APIRoutes()
	for _, r := range slices.Sorted(maps.Keys(routes)) {
		auth, ok := documented[r]
		switch {
		case !ok:
			t.Errorf("route %s is not in openapi.json", r)
		case auth != routes[r]:
			t.Errorf("route %s: token needed %v in the code, %v in openapi.json", r, routes[r], auth)
		}
	}
	for _, r := range slices.Sorted(maps.Keys(documented)) {
		if _, ok := routes[r]; !ok {
			t.Errorf("openapi.json documents %s, which the code does not serve", r)
		}
	}

	f := newFixture(t, admin.Options{})
	res := f.api("GET", "openapi.json", nil, "Authorization", "")
	if res.status != http.StatusOK || string(res.body) != string(b) || res.header.Get("Content-Type") != "application/json" {
		t.Errorf("GET openapi.json: %d %q, want the file", res.status, res.header.Get("Content-Type"))
	}
}

type operation struct {
	OperationID string                     `json:"operationId"`
	Summary     string                     `json:"summary"`
	Security    *[]map[string][]string     `json:"security"`
	Responses   map[string]json.RawMessage `json:"responses"`
}
