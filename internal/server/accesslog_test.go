package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gomaint/maintenance"
)

func TestAccessLog(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		handler http.HandlerFunc
		outcome string // observed by the gate; empty: an endpoint of the gate
		want    string
	}{
		{name: "passed", path: "/a?token=s3cret", outcome: "passed",
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") },
			want:    `msg=request method=GET host=shop.example.com path=/a status=200 bytes=5 duration=\S+ client=192.0.2.1 site=shop.example.com outcome=passed maintenance=false`},
		{name: "blocked", path: "/", outcome: "blocked",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503); io.WriteString(w, "down") },
			want:    `path=/ status=503 bytes=4 .* outcome=blocked maintenance=true`},
		{name: "gate endpoint", path: maintenance.StatusPath,
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") },
			want:    `path=/_maintenance/status status=200 .* site=\* outcome=gate maintenance=false`},
		{name: "held", path: "/", outcome: "held",
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "late") },
			want:    `status=200 bytes=4 .* site=shop\.example\.com outcome=held maintenance=false`},
		{name: "exempt", path: "/healthz", outcome: "exempt",
			handler: func(w http.ResponseWriter, r *http.Request) {},
			want:    `outcome=exempt maintenance=false`},
		{name: "bypass secret", path: maintenance.BypassPath + "s3cret",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(302) },
			want:    `path=/_maintenance/bypass/REDACTED status=302 `},
		{name: "informational first", path: "/", outcome: "passed",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(103); w.WriteHeader(201) },
			want:    `status=201 bytes=0 `},
		{name: "aborted", path: "/", outcome: "passed",
			handler: func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) },
			want:    `status=499 `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&buf, nil))
			var h http.Handler = tt.handler
			if tt.outcome != "" {
				// As the gate does: it observes, then answers or passes on.
				next := h
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					serveObserver{}.Observe(r, "shop.example.com", outcomeOf(t, tt.outcome))
					next.ServeHTTP(w, r)
				})
			}
			h = accessLog(h, logger, func(string) string { return "*" }, nil)
			r := httptest.NewRequest("GET", tt.path, nil)
			r.Host, r.RemoteAddr = "shop.example.com", "192.0.2.1:1234"
			func() {
				defer func() {
					if p := recover(); p != nil && p != http.ErrAbortHandler {
						t.Errorf("panic %v", p)
					}
				}()
				h.ServeHTTP(httptest.NewRecorder(), r)
			}()
			line := strings.TrimSpace(buf.String())
			if !regexp.MustCompile(tt.want).MatchString(line) {
				t.Errorf("logged %q, want a match for %q", line, tt.want)
			}
			if strings.Contains(line, "s3cret") {
				t.Errorf("a secret reached the log: %q", line)
			}
		})
	}
}

func outcomeOf(t *testing.T, name string) maintenance.Outcome {
	for o := maintenance.Passed; o <= maintenance.Blocked; o++ {
		if o.String() == name {
			return o
		}
	}
	t.Fatalf("no outcome %q", name)
	return 0
}

// TestAccessLogJSON: with --log-format json every request is one JSON
// object with the same fields, the duration in seconds.
func TestAccessLogJSON(t *testing.T) {
	var buf bytes.Buffer
	h := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveObserver{}.Observe(r, "shop.example.com", maintenance.Blocked)
		w.WriteHeader(503)
		io.WriteString(w, "down")
	}))
	h = accessLog(h, NewLogger(&buf, true), func(string) string { return "*" }, nil)
	r := httptest.NewRequest("GET", "/cart?token=s3cret", nil)
	r.Host, r.RemoteAddr = "shop.example.com", "192.0.2.1:1234"
	h.ServeHTTP(httptest.NewRecorder(), r)
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not one JSON object: %v: %q", err, buf.String())
	}
	for k, want := range map[string]any{"msg": "request", "method": "GET", "host": "shop.example.com", "path": "/cart",
		"status": 503.0, "bytes": 4.0, "client": "192.0.2.1", "site": "shop.example.com", "outcome": "blocked", "maintenance": true} {
		if got[k] != want {
			t.Errorf("%s = %#v, want %#v", k, got[k], want)
		}
	}
	if d, ok := got["duration"].(float64); !ok || d < 0 || d > 10 {
		t.Errorf("duration = %#v, want seconds as a number", got["duration"])
	}
	if strings.Contains(buf.String(), "s3cret") {
		t.Errorf("the query reached the log: %s", buf.String())
	}
}
