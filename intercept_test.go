package maintenance

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var (
	working = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
	broken  = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "session=secret")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(500)
		io.WriteString(w, "Traceback: database is down")
	})
	panicking = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") })
)

// TestDeployErrors reproduces django-maintenance-page's cases: a working
// page answers 200 whatever the releases and the mode; a broken page gives
// the application's own 500 when the releases match and the mode is not
// errors, and the maintenance answer on a mismatch or in mode errors.
func TestDeployErrors(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name     string
		changes  []Change
		release  string
		handler  http.Handler
		want     int
		wantBody string
	}{
		{"working, releases match", []Change{SetRelease("v1")}, "v1", working, 200, "page"},
		{"working, release mismatch", []Change{SetRelease("v2")}, "v1", working, 200, "page"},
		{"working, mode errors", []Change{On(nil, OnOptions{Mode: ptr(ModeErrors)})}, "", working, 200, "page"},
		{"working, mismatch and mode errors", []Change{SetRelease("v2"), On(nil, OnOptions{Mode: ptr(ModeErrors)})}, "v1", working, 200, "page"},
		{"broken, releases match", []Change{SetRelease("v1")}, "v1", broken, 500, "Traceback"},
		{"broken, no target release", nil, "v1", broken, 500, "Traceback"},
		{"broken, gate without release", []Change{SetRelease("v2")}, "", broken, 500, "Traceback"},
		{"broken, release mismatch", []Change{SetRelease("v2")}, "v1", broken, 503, "updating the site"},
		{"broken, mode errors", []Change{On(nil, OnOptions{Mode: ptr(ModeErrors), Message: ptr("Deploying")})}, "", broken, 503, "Deploying"},
		{"broken, mismatch, configured status", []Change{SetRelease("v2"), SetErrorStatus("", 500)}, "v1", broken, 500, "updating the site"},
		{"broken, mode errors, configured status", []Change{SetErrorStatus("", 502), On(nil, OnOptions{Mode: ptr(ModeErrors)})}, "", broken, 502, "updating the site"},
		{"broken, site off while * in errors", []Change{AddSites("shop.example.com"), On([]string{"*"}, OnOptions{Mode: ptr(ModeErrors)})}, "", broken, 500, "Traceback"},
		{"panic, release mismatch", []Change{SetRelease("v2")}, "v1", panicking, 503, "updating the site"},
		{"panic, mode errors", []Change{On(nil, OnOptions{Mode: ptr(ModeErrors)})}, "", panicking, 503, "updating the site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testGate(t, stateOf(t, tt.changes...), Options{Release: tt.release, Logger: quiet})
			w := do(g.Handler(tt.handler), req{accept: "text/html"})
			if w.Code != tt.want || !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("status %d body %.120q, want %d with %q", w.Code, w.Body, tt.want, tt.wantBody)
			}
			if replaced := tt.wantBody != "Traceback" && tt.wantBody != "page"; replaced && w.Header().Get("Set-Cookie") != "" {
				t.Errorf("the application's Set-Cookie leaked into the maintenance answer: %q", w.Header().Get("Set-Cookie"))
			}
		})
	}
}

// TestDeployErrorsRollback: the last release set wins, an older one included.
func TestDeployErrorsRollback(t *testing.T) {
	st := stateOf(t, SetRelease("v1"))
	g := testGate(t, st, Options{Release: "v1"})
	h := g.Handler(broken)
	if c := do(h, req{}).Code; c != 500 {
		t.Fatalf("v1 on v1: %d, want the app's 500", c)
	}
	st, _, _ = commitChange(st, SetRelease("v2"), time.Now())
	g.swap(buildSnapshot(st, &g.cfg, time.Now()))
	if c := do(h, req{}).Code; c != 503 {
		t.Fatalf("target v2 on a v1 gate: %d, want 503", c)
	}
	st, _, _ = commitChange(st, SetRelease("v1"), time.Now())
	g.swap(buildSnapshot(st, &g.cfg, time.Now()))
	if c := do(h, req{}).Code; c != 500 {
		t.Fatalf("rolled back to v1: %d, want the app's 500", c)
	}
}

// TestDeployErrorsStreaming: a stream that fails after its first write
// cannot be replaced; flushing and hijacking work through the gate.
func TestDeployErrorsStreaming(t *testing.T) {
	g := testGate(t, stateOf(t, SetRelease("v2")), Options{Release: "v1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through the gate: %v", err)
		}
		w.(http.Flusher).Flush()
		w.WriteHeader(500) // too late: the stream has started
		io.WriteString(w, "data: two\n\n")
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("Hijack through the gate: %v", err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		rw.Flush()
	})
	mux.HandleFunc("/late-panic", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	srv := httptest.NewServer(g.Handler(mux))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "data: one") || !strings.Contains(string(body), "data: two") {
		t.Errorf("stream: %d %q, want the partial 200 stream untouched", resp.StatusCode, body)
	}

	resp, err = http.Get(srv.URL + "/hijack")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hijacked" {
		t.Errorf("hijack: %q", body)
	}

	resp, err = http.Get(srv.URL + "/late-panic")
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("a panic after the first write: got a complete answer %q, want the connection aborted", body)
		}
	}
}

// TestErrorWriterInformational: a 1xx status does not commit the answer.
func TestErrorWriterInformational(t *testing.T) {
	g := testGate(t, stateOf(t, SetRelease("v2")), Options{Release: "v1"})
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(503)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://shop.example.com/", nil))
	if !strings.Contains(rec.Body.String(), "updating the site") {
		t.Errorf("after 103 Early Hints, a 503 was not replaced: %q", rec.Body)
	}
}

// TestErrorAnswerKeepsOuterHeaders: headers set by middleware outside the
// gate stay on the replaced answer; the application's go. Found in review.
func TestErrorAnswerKeepsOuterHeaders(t *testing.T) {
	g := testGate(t, stateOf(t, SetRelease("v2")), Options{Release: "v1"})
	inner := g.Handler(broken)
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=63072000")
		inner.ServeHTTP(w, r)
	})
	w := do(outer, req{})
	if w.Code != 503 || w.Header().Get("Strict-Transport-Security") == "" || w.Header().Get("Set-Cookie") != "" {
		t.Errorf("status %d, HSTS %q, Set-Cookie %q; want 503 keeping HSTS and dropping the cookie",
			w.Code, w.Header().Get("Strict-Transport-Security"), w.Header().Get("Set-Cookie"))
	}
}
