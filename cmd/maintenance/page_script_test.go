package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["bigfile"] = cmdBigFile
	scriptCmds["waitbody"] = cmdWaitBody
}

// cmdBigFile is the script command "bigfile PATH SIZE": it writes a file
// of SIZE bytes, its directories included.
func cmdBigFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: bigfile PATH SIZE")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	p := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Dir(p), 0o755))
	ts.Check(os.WriteFile(p, bytes.Repeat([]byte{'x'}, n), 0o644))
}

// cmdWaitBody is the script command "waitbody [-H 'K: V']... URL REGEXP":
// it waits (10 s at most) until the body of GET URL matches REGEXP, as a
// change reaches the gate.
func cmdWaitBody(ts *testscript.TestScript, neg bool, args []string) {
	r, rest := request(ts, args)
	if neg || len(rest) != 1 {
		ts.Fatalf("usage: waitbody [-H 'K: V']... URL REGEXP")
	}
	re, err := regexp.Compile(rest[0])
	ts.Check(err)
	deadline := time.Now().Add(10 * time.Second)
	last := "no answer"
	for {
		resp, err := client.Do(r.Clone(r.Context()))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if re.Match(b) {
				return
			}
			last = string(b)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not match %q within 10s; last: %.200s", r.URL, rest[0], last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
