package maintenance_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/sqlite"
)

// A gate wraps an application; a change in the store (made here through the
// library, usually with the `maintenance` CLI) switches it.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	store, err := sqlite.Open(ctx, filepath.Join(dir, "maintenance.db"))
	if err != nil {
		panic(err)
	}
	defer store.Close()

	gate, err := maintenance.New(ctx, store, maintenance.Options{
		Sites:  []string{"shop.example.com"},
		Exempt: []string{"/healthz"},
	})
	if err != nil {
		panic(err)
	}
	defer gate.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s := maintenance.StatusFrom(r.Context()); s.On {
			fmt.Fprint(w, "banner: maintenance is on; ")
		}
		io.WriteString(w, "the shop")
	})
	mux.Handle("/contact", maintenance.ForceOff(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "contact form")
	})))
	app := httptest.NewServer(gate.Handler(mux))
	defer app.Close()

	get := func(path string) {
		resp, err := http.Get(app.URL + path)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			body = []byte(resp.Header.Get("Content-Type"))
		}
		fmt.Printf("%s: %d %s\n", path, resp.StatusCode, body)
	}
	get("/")

	on := maintenance.On(nil, maintenance.OnOptions{})
	on.Actor, on.Source, on.Reason = "alice@laptop", "library", "database upgrade"
	st, err := store.Update(ctx, on)
	if err != nil {
		panic(err)
	}
	gate.WaitVersion(ctx, st.Version)
	get("/")
	get("/healthz")
	get("/contact")
	// Output:
	// /: 200 the shop
	// /: 503 text/html; charset=utf-8
	// /healthz: 200 banner: maintenance is on; the shop
	// /contact: 200 contact form
}
