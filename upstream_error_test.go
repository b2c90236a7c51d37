package maintenance_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gomaint/maintenance"
)

func TestWriteUpstreamError(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		accept   string
		status   int
		detail   string
		want     int
		ctype    string
		contains []string
	}{
		{name: "browser", accept: "text/html,application/xhtml+xml,*/*;q=0.8", status: 502, want: 502,
			ctype: "text/html; charset=utf-8", contains: []string{"The site is not answering", "did not answer", "502 Bad Gateway", "noindex"}},
		{name: "no accept", status: 504, want: 504, ctype: "text/html; charset=utf-8", contains: []string{"taking too long", "504 Gateway Timeout"}},
		{name: "json", accept: "application/json", status: 502, want: 502, ctype: "application/problem+json",
			contains: []string{`"type":"about:blank"`, `"title":"Bad Gateway"`, `"status":502`}},
		{name: "problem json preferred", accept: "text/html;q=0.5, application/problem+json", status: 504, want: 504, ctype: "application/problem+json",
			contains: []string{`"title":"Gateway Timeout"`}},
		{name: "text", accept: "text/plain", status: 502, want: 502, ctype: "text/plain; charset=utf-8",
			contains: []string{"502 Bad Gateway: The application behind this site did not answer."}},
		{name: "own detail, escaped", accept: "text/html", status: 502, detail: "No <app> for this host.", want: 502,
			ctype: "text/html; charset=utf-8", contains: []string{"No &lt;app&gt; for this host."}},
		{name: "own detail in json", accept: "application/json", status: 502, detail: "No app.", want: 502,
			ctype: "application/problem+json", contains: []string{`"detail":"No app."`}},
		{name: "other 5xx", accept: "text/plain", status: 500, want: 500, ctype: "text/plain; charset=utf-8",
			contains: []string{"500 Internal Server Error: "}},
		{name: "not an error status", status: 200, want: 502, ctype: "text/html; charset=utf-8"},
		{name: "head", method: http.MethodHead, status: 502, want: 502, ctype: "text/html; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, "/x", nil)
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			w := httptest.NewRecorder()
			maintenance.WriteUpstreamError(w, r, tt.status, tt.detail)
			if w.Code != tt.want {
				t.Errorf("status %d, want %d", w.Code, tt.want)
			}
			h := w.Header()
			if got := h.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			for k, v := range map[string]string{"Cache-Control": "no-store", "Vary": "Accept, Sec-Fetch-Dest", "X-Content-Type-Options": "nosniff"} {
				if got := h.Get(k); got != v {
					t.Errorf("%s %q, want %q", k, got, v)
				}
			}
			if method == http.MethodHead {
				if w.Body.Len() != 0 {
					t.Errorf("HEAD got a body of %d bytes", w.Body.Len())
				}
				if h.Get("Content-Length") == "" || h.Get("Content-Length") == "0" {
					t.Errorf("HEAD Content-Length %q, want the body's length", h.Get("Content-Length"))
				}
				return
			}
			if got, want := h.Get("Content-Length"), len(w.Body.String()); got != strconv.Itoa(want) {
				t.Errorf("Content-Length %s, body %d bytes", got, want)
			}
			for _, s := range tt.contains {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("body does not contain %q:\n%s", s, w.Body.String())
				}
			}
			if tt.ctype == "application/problem+json" {
				var p map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
					t.Errorf("body is not JSON: %v", err)
				}
			}
			if strings.Contains(w.Body.String(), "<script") || strings.Contains(w.Body.String(), "http://") || strings.Contains(w.Body.String(), "https://") {
				t.Errorf("the error page runs scripts or makes external requests:\n%s", w.Body.String())
			}
		})
	}
}
