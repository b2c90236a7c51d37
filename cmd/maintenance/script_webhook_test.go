package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/rogpeppe/go-internal/testscript"
)

// Script commands for webhooks:
//
//	receiver NAME SECRETFILE LOG
//	                       start a webhook receiver; $NAME is its URL. It
//	                       checks each POST's Maintenance-Signature with
//	                       the secret in SECRETFILE (read at each request),
//	                       as docs/webhooks.md documents it, and appends
//	                       "EVENT-ID TYPE SITE sig=ok|bad" to LOG; while the
//	                       file LOG.down exists it answers 503 and logs
//	                       nothing; while LOG.hang exists it logs the POST
//	                       with " hung" and does not answer
//	waitfile FILE REGEXP   wait until FILE matches REGEXP (10s at most)
//	deliver RETRYFOR ID    run a maintenance.Deliverer on $MAINTENANCE_STORE,
//	                       as serve does but with the retry horizon
//	                       RETRYFOR (DelivererOptions.RetryFor) instead of
//	                       24h, until it marks webhook ID failed (10s at
//	                       most); then stop it
func init() {
	scriptCmds["receiver"] = cmdReceiver
	scriptCmds["waitfile"] = cmdWaitFile
	scriptCmds["deliver"] = cmdDeliver
}

func cmdDeliver(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: deliver RETRYFOR ID")
	}
	retryFor, err := time.ParseDuration(args[0])
	ts.Check(err)
	id := args[1]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := openStore(ctx, ts.Getenv("MAINTENANCE_STORE"))
	ts.Check(err)
	defer st.Close()
	d := maintenance.NewDeliverer(st, maintenance.DelivererOptions{RetryFor: retryFor, Poll: 50 * time.Millisecond, LeaseTTL: 3 * time.Second})
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	for {
		cs, err := st.Cursors(ctx)
		if err == nil && cs[id].Failed {
			return
		}
		select {
		case <-ctx.Done():
			ts.Fatalf("webhook %s is not marked failed after 10s: cursor %+v, error %v", id, cs[id], err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// verifySignature checks a Maintenance-Signature header as docs/webhooks.md
// says: "t=UNIX,v1=HEX", HEX the hex HMAC-SHA256 of "UNIX.BODY" under the
// secret.
func verifySignature(header, secret string, body []byte) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	if ts == "" || sig == "" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(sig), []byte(want))
}

func cmdReceiver(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: receiver NAME SECRETFILE LOG")
	}
	secretFile, logFile := ts.MkAbs(args[1]), ts.MkAbs(args[2])
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(logFile + ".down"); err == nil {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		secret, _ := os.ReadFile(secretFile)
		sig := "bad"
		if verifySignature(r.Header.Get("Maintenance-Signature"), strings.TrimSpace(string(secret)), body) {
			sig = "ok"
		}
		var p struct {
			ID, Type, Site, Text string
		}
		json.Unmarshal(body, &p)
		if p.Type == "" && p.Text != "" {
			p.Type, p.Site = "slack", fmt.Sprintf("%q", p.Text)
		}
		if p.Site == "" {
			p.Site = "-"
		}
		_, err := os.Stat(logFile + ".hang")
		hang := err == nil
		note := ""
		if hang {
			note = " hung"
		}
		mu.Lock()
		f, err := os.OpenFile(logFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%s %s %s sig=%s%s\n", r.Header.Get("Maintenance-Event-Id"), p.Type, p.Site, sig, note)
			f.Close()
		}
		mu.Unlock()
		for hang {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
			_, err := os.Stat(logFile + ".hang")
			hang = err == nil
		}
	}))
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL)
}

func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitfile FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(ts.MkAbs(args[0]))
		if re.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s does not match %q after 10s; it holds:\n%s", args[0], args[1], b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
