package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gomaint/maintenance"
)

func TestAccessLog(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		handler http.HandlerFunc
		passed  bool
		want    string
	}{
		{name: "passed", path: "/a?token=s3cret", passed: true,
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") },
			want:    `msg=request method=GET host=shop.example.com path=/a status=200 bytes=5 duration=\S+ client=192.0.2.1 site=shop.example.com outcome=passed maintenance=false`},
		{name: "blocked", path: "/",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503); io.WriteString(w, "down") },
			want:    `path=/ status=503 bytes=4 .* outcome=blocked maintenance=true`},
		{name: "gate endpoint", path: maintenance.StatusPath,
			handler: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") },
			want:    `path=/_maintenance/status status=200 .* outcome=gate maintenance=false`},
		{name: "bypass secret", path: maintenance.BypassPath + "s3cret",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(302) },
			want:    `path=/_maintenance/bypass/REDACTED status=302 `},
		{name: "informational first", path: "/", passed: true,
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(103); w.WriteHeader(201) },
			want:    `status=201 bytes=0 `},
		{name: "aborted", path: "/", passed: true,
			handler: func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) },
			want:    `status=499 `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&buf, nil))
			var h http.Handler = tt.handler
			if tt.passed {
				h = markPassed(h)
			}
			h = accessLog(h, logger, func(string) string { return "shop.example.com" }, nil)
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
			if !regexpMatch(tt.want, line) {
				t.Errorf("logged %q, want a match for %q", line, tt.want)
			}
			if strings.Contains(line, "s3cret") {
				t.Errorf("a secret reached the log: %q", line)
			}
		})
	}
}
