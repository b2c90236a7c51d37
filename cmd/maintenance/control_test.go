package main

import (
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	scriptCmds["envq"] = cmdEnvq
}

// cmdEnvq is the script command "envq NAME QUOTED": it sets the variable
// NAME to the Go string literal QUOTED ("\x1b[2K"), so that scripts can pass
// control characters as arguments.
func cmdEnvq(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf(`usage: envq NAME '"go string"'`)
	}
	v, err := strconv.Unquote(args[1])
	if err != nil {
		ts.Fatalf("envq: %s is not a Go string literal: %v", args[1], err)
	}
	ts.Setenv(args[0], v)
}
