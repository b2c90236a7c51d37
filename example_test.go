package maintenance_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
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

// The library's quick start: a gate in front of an application, a route
// that is never blocked, one that always gives the maintenance answer, and a
// banner while maintenance is on. A deploy script (or the maintenance CLI)
// switches it through the store.
func Example_quickStart() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "quickstart")
	defer os.RemoveAll(dir)

	store, err := sqlite.Open(ctx, filepath.Join(dir, "maintenance.db"))
	if err != nil {
		panic(err)
	}
	defer store.Close()
	isStaff := func(r *http.Request) bool { return r.Header.Get("X-Staff") == "alice" } // your own check

	gate, err := maintenance.New(ctx, store, maintenance.Options{
		Sites:          []string{"shop.example.com"},
		Exempt:         []string{"/healthz", "POST /webhooks/*"},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Bypass:         isStaff,
	})
	if err != nil {
		panic(err)
	}
	defer gate.Close()

	text := func(s string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if status := maintenance.StatusFrom(r.Context()); status.On {
				io.WriteString(w, "[maintenance is on] ") // a banner, for those let through
			}
			io.WriteString(w, s)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/", text("the shop"))
	mux.Handle("/contact", maintenance.ForceOff(text("contact form"))) // never blocked
	mux.Handle("/beta/", gate.ForceOn(text("beta")))                   // always the maintenance answer
	handler := gate.Handler(mux)                                       // http.ListenAndServe(":8080", handler)

	get := func(path string, header ...string) {
		r := httptest.NewRequest("GET", "http://shop.example.com"+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			body = w.Header().Get("Content-Type")
		}
		fmt.Printf("%s %v: %d %s\n", path, header, w.Code, body)
	}
	get("/")
	get("/beta/")

	// What "maintenance on --reason 'database upgrade'" does.
	on := maintenance.On(nil, maintenance.OnOptions{})
	on.Actor, on.Source, on.Reason = "alice@laptop", "library", "database upgrade"
	st, err := store.Update(ctx, on)
	if err != nil {
		panic(err)
	}
	gate.WaitVersion(ctx, st.Version)
	get("/")
	get("/", "X-Staff", "alice")
	get("/healthz")
	get("/contact")
	// Output:
	// / []: 200 the shop
	// /beta/ []: 503 text/html; charset=utf-8
	// / []: 503 text/html; charset=utf-8
	// / [X-Staff alice]: 200 [maintenance is on] the shop
	// /healthz []: 200 [maintenance is on] the shop
	// /contact []: 200 [maintenance is on] contact form
}
