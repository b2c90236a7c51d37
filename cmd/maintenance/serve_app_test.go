package main

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echoMaintenance is an upstream that answers the Maintenance header it
// received, or "none".
func echoMaintenance(t *testing.T) string {
	return upstream(t, func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Values("Maintenance")
		if len(v) == 0 {
			v = []string{"none"}
		}
		w.Write([]byte(strings.Join(v, " | ")))
	})
}

// getWith makes a GET through serve with extra request headers and returns
// the status and body.
func getWith(t *testing.T, method, url string, header http.Header) (int, string) {
	t.Helper()
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		r.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// TestServeMaintenanceHeader: the application learns from the Maintenance
// request header that the site is in maintenance (or has a window
// announced) when a request is let through, and never from a client.
func TestServeMaintenanceHeader(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir, "--upstream", echoMaintenance(t))
	base := "http://" + p.addr
	forged := http.Header{"Maintenance": {"on, mode=full"}}
	check := func(what, method, path string, h http.Header, want string) {
		t.Helper()
		code, body := getWith(t, method, base+path, h)
		if code != 200 || body != want {
			t.Errorf("%s: %d %q, want 200 %q", what, code, body, want)
		}
	}

	check("off, a client's header", "GET", "/", forged, "none")

	cli(t, dir, "ignore", "add", "/healthz")
	cli(t, dir, "on", "--retry-after", "30m")
	waitOn(t, p.addr, true)
	check("full, an ignored path", "GET", "/healthz", nil, "on, mode=full, retry-after=1800")
	check("full, an ignored path, a client's header", "GET", "/healthz", forged, "on, mode=full, retry-after=1800")

	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	cli(t, dir, "on", "--mode", "read-only", "--until", until)
	await := func(want string) {
		t.Helper()
		deadline := time.Now().Add(waitFor)
		for {
			if _, body := getWith(t, "GET", base+"/", nil); body == want || time.Now().After(deadline) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	want := `on, mode=read-only, until="` + until + `"`
	await(want)
	check("read-only, a GET", "GET", "/", forged, want)

	cli(t, dir, "on", "--mode", "errors")
	await(`on, mode=errors, until="` + until + `"`)
	check("errors mode, a POST", "POST", "/orders", forged, `on, mode=errors, until="`+until+`"`)

	cli(t, dir, "off")
	waitOn(t, p.addr, false)
	start := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	from, end := start.Format(time.RFC3339), start.Add(time.Hour).Format(time.RFC3339)
	cli(t, dir, "schedule", "add", "--from", from, "--for", "1h")
	want = `on=?0, starts="` + from + `", until="` + end + `"`
	await(want)
	check("a window announced", "GET", "/", forged, want)
}

// TestServeStaffCheck: with --staff-check, the application's own staff
// (here a session cookie its /staff-check view knows) pass a site in
// maintenance; visitors, wrong sessions and requests without credentials
// get the page; the answer is cached per credential.
func TestServeStaffCheck(t *testing.T) {
	var checks atomic.Int64
	up := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/staff-check" {
			checks.Add(1)
			if c, err := r.Cookie("sessionid"); err == nil && c.Value == "staff" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.Write([]byte("app: " + r.Header.Get("Maintenance")))
	})
	dir := t.TempDir()
	p := startServe(t, dir, "--upstream", up, "--staff-check", "/staff-check")
	cli(t, dir, "on")
	waitOn(t, p.addr, true)
	base := "http://" + p.addr
	for _, tc := range []struct {
		what   string
		header http.Header
		code   int
		body   string
	}{
		{"staff", http.Header{"Cookie": {"csrftoken=x; sessionid=staff"}}, 200, "app: on, mode=full"},
		{"staff again (cached)", http.Header{"Cookie": {"csrftoken=x; sessionid=staff"}}, 200, "app: on, mode=full"},
		{"a visitor", http.Header{"Cookie": {"sessionid=visitor"}}, 503, ""},
		{"a visitor again (cached)", http.Header{"Cookie": {"sessionid=visitor"}}, 503, ""},
		{"no credentials", nil, 503, ""},
	} {
		code, body := getWith(t, "POST", base+"/orders", tc.header)
		if code != tc.code || tc.body != "" && body != tc.body {
			t.Errorf("%s: %d %.60q, want %d %q", tc.what, code, body, tc.code, tc.body)
		}
	}
	if n := checks.Load(); n != 2 {
		t.Errorf("the application was asked %d times, want 2 (one per credential)", n)
	}
	p.waitLog(`method=POST .* status=200 .* outcome=bypass maintenance=false$`)
}
