package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// These are the script commands that drive `maintenance serve` end to end:
//
//	upstream NAME          start a real HTTP upstream; $NAME is its URL. It
//	                       answers with "app: NAME" and what it received;
//	                       /status/NNN answers with status NNN; /hang never
//	                       answers (until the client goes away)
//	freeport NAME          set $NAME to a free loopback address
//	http [-H 'K: V']... [-X METHOD] [-d FILE] URL
//	                       make one request (redirects are not followed) and
//	                       print "status N", the response headers and the body
//	waitstatus [-H 'K: V']... URL N
//	                       retry GET URL until it answers status N (10s at most)
//	envfile NAME FILE [REGEXP]
//	                       set $NAME to the content of FILE without the
//	                       spaces around it, or to the first group of the
//	                       first match of REGEXP in it (a secret or an ID
//	                       that a command printed, to use later)
func init() {
	scriptCmds["envfile"] = cmdEnvFile
	scriptCmds["upstream"] = cmdUpstream
	scriptCmds["freeport"] = cmdFreeport
	scriptCmds["http"] = cmdHTTP
	scriptCmds["waitstatus"] = cmdWaitStatus
}

// cmdUpstream starts an upstream that answers 200 with what it received, so
// scripts can check what the proxy passed on.
func cmdUpstream(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: upstream NAME")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// /status/NNN answers with that status, as a broken app would.
		if code, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			if n, err := strconv.Atoi(code); err == nil {
				w.WriteHeader(n)
			}
		}
		fmt.Fprintf(w, "app: %s\n", args[0])
		fmt.Fprintf(w, "upstream: %s %s %s\n", r.Method, r.Host, r.URL.RequestURI())
		fmt.Fprintf(w, "x-forwarded-for: %s\n", r.Header.Get("X-Forwarded-For"))
		fmt.Fprintf(w, "x-forwarded-host: %s\n", r.Header.Get("X-Forwarded-Host"))
		fmt.Fprintf(w, "x-forwarded-proto: %s\n", r.Header.Get("X-Forwarded-Proto"))
		fmt.Fprintf(w, "forwarded: %s\n", strings.Join(r.Header.Values("Forwarded"), " | "))
		fmt.Fprintf(w, "x-real-ip: %s\n", r.Header.Get("X-Real-Ip"))
		fmt.Fprintf(w, "true-client-ip: %s\n", r.Header.Get("True-Client-Ip"))
	}))
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL)
}

func cmdEnvFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: envfile NAME FILE [REGEXP]")
	}
	v := strings.TrimSpace(ts.ReadFile(args[1]))
	if len(args) == 3 {
		re, err := regexp.Compile(args[2])
		ts.Check(err)
		m := re.FindStringSubmatch(v)
		if len(m) < 2 {
			ts.Fatalf("envfile: no match for %q, with a group, in %s", args[2], args[1])
		}
		v = m[1]
	}
	ts.Setenv(args[0], v)
}

func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport NAME")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	addr := ln.Addr().String()
	ln.Close()
	ts.Setenv(args[0], addr)
}

// request parses [-H 'K: V']... [-X METHOD] [-d BODY] URL [rest...] into a
// request; -d reads the body from a file of the script's work directory
// (without its final newline).
func request(ts *testscript.TestScript, args []string) (*http.Request, []string) {
	method := http.MethodGet
	header := http.Header{}
	var body io.Reader
	for len(args) > 1 && (args[0] == "-H" || args[0] == "-X" || args[0] == "-d") {
		if args[0] == "-X" {
			method = args[1]
		} else if args[0] == "-d" {
			body = strings.NewReader(strings.TrimSuffix(ts.ReadFile(args[1]), "\n"))
		} else {
			k, v, ok := strings.Cut(args[1], ":")
			if !ok {
				ts.Fatalf("-H %q: want 'Key: value'", args[1])
			}
			header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		args = args[2:]
	}
	if len(args) == 0 {
		ts.Fatalf("no URL")
	}
	r, err := http.NewRequest(method, args[0], body)
	ts.Check(err)
	r.Header = header
	if h := header.Get("Host"); h != "" {
		r.Host = h
	}
	return r, args[1:]
}

var client = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func cmdHTTP(ts *testscript.TestScript, neg bool, args []string) {
	r, rest := request(ts, args)
	if len(rest) > 0 {
		ts.Fatalf("usage: http [-H 'K: V']... [-X METHOD] URL")
	}
	resp, err := client.Do(r)
	if neg {
		if err == nil {
			resp.Body.Close()
			ts.Fatalf("request succeeded with status %d", resp.StatusCode)
		}
		return
	}
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	var b strings.Builder
	fmt.Fprintf(&b, "status %d\n", resp.StatusCode)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	b.WriteString("\n")
	b.Write(body)
	fmt.Fprint(ts.Stdout(), b.String())
}

func cmdWaitStatus(ts *testscript.TestScript, neg bool, args []string) {
	r, rest := request(ts, args)
	if neg || len(rest) != 1 {
		ts.Fatalf("usage: waitstatus [-H 'K: V']... URL STATUS")
	}
	want, err := strconv.Atoi(rest[0])
	ts.Check(err)
	deadline := time.Now().Add(10 * time.Second)
	last := "no answer"
	for {
		resp, err := client.Do(r.Clone(r.Context()))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not answer %d within 10s; last: %s", r.URL, want, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
