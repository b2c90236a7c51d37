package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/admin"
	"github.com/gomaint/maintenance/sqlite"
)

// Example mounts the admin page and the JSON API as docs/admin.md shows it
// (TestDocsShowExamples checks that the document has these lines).
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "admin-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "maintenance.db"))
	if err != nil {
		panic(err)
	}
	defer store.Close()
	mux := http.NewServeMux()

	gate, err := maintenance.New(ctx, store, maintenance.Options{Reserved: admin.Paths()})
	a, err := admin.New(store, admin.Options{Gate: gate}) // Gate: for the preview of the maintenance page
	mux.Handle(admin.PagePrefix, a.Handler())             // /_maintenance/admin/
	mux.Handle(admin.APIPrefix, a.Handler())              // /_maintenance/api/v1/

	if err != nil {
		panic(err)
	}
	defer gate.Close()
	handler := gate.Handler(mux)
	// Every site down: the admin page (its sign-in) and the API (which
	// wants a token) stay reachable.
	st, err := store.Update(ctx, maintenance.On(nil, maintenance.OnOptions{}))
	if err != nil {
		panic(err)
	}
	gate.WaitVersion(ctx, st.Version)
	for _, path := range []string{"/", admin.PagePrefix, admin.APIPrefix + "sites"} {
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, httptest.NewRequest("GET", "http://shop.example.com"+path, nil))
		fmt.Println(path, w.Code)
	}
	// Output:
	// / 503
	// /_maintenance/admin/ 303
	// /_maintenance/api/v1/sites 401
}
