package main

import (
	"context"
	"fmt"
)

// command is one subcommand of the CLI.
type command struct {
	// run runs the command with the arguments that follow its name. It
	// parses them with a flag set from e.newFlagSet, so "-h" prints the
	// command's usage, and returns errors for exitCode to map.
	run func(ctx context.Context, e *env, args []string) error
	// summary is the one-line description listed by "maintenance help".
	summary string
}

// The command table: every command of the CLI is registered here, in the
// groups and the order in which "maintenance help" lists them (the ones a
// person needs at 3 a.m. first). Each command's code is in the file of its
// name (on.go, run.go, serve.go...).
func init() {
	group("Switch sites on and off", []namedCommand{
		{"on", command{runOn, "switch maintenance on for some or every site"}},
		{"off", command{runOff, "switch maintenance off for some or every site"}},
		{"run", command{runRun, "switch maintenance on while a command runs, then restore"}},
		{"status", command{runStatus, "show the state and rules of the sites"}},
		{"schedule", command{runSchedule, "list, plan and remove maintenance windows ahead of time"}},
	})
	group("What gets through, and what visitors see", []namedCommand{
		{"sites", command{runSites, "list, declare and remove sites"}},
		{"ignore", command{runIgnore, "list, add and remove ignore patterns (paths never blocked)"}},
		{"allow", command{runAllow, "list, add and remove allow entries (client IPs never blocked)"}},
		{"bypass", command{runBypass, "create, list and revoke secret links that let a person through"}},
		{"page", command{runPage, "keep the maintenance page and its assets in the store, for the whole fleet"}},
	})
	group("Run the gate", []namedCommand{
		{"serve", command{runServe, "run a reverse proxy that gates web apps (or the built-in demo)"}},
		{"forward-auth", command{runForwardAuth, "answer the forward-auth sub-requests of nginx, Caddy, Traefik and ingress-nginx"}},
		{"init", command{runInit, "create the store, or check that it exists"}},
		{"gates", command{runGates, "list the running gates and the state version each one serves"}},
		{"release", command{runRelease, "show and set the fleet's target release (deploy-error mode)"}},
	})
	group("People, tokens, notifications and the record", []namedCommand{
		{"user", command{runUser, "add, list and remove admin users; change passwords"}},
		{"token", command{runToken, "create, list and revoke API tokens"}},
		{"webhook", command{runWebhook, "add, list, test and remove webhooks that announce changes"}},
		{"log", command{runLog, "show the audit log of changes"}},
	})
	group("This program", []namedCommand{
		{"completion", command{runCompletion, "print a shell completion script: completion bash|zsh|fish"}},
		{"version", command{runVersion, "print the version of this program"}},
	})
}

// commands holds every command by name; commandOrder lists their names in
// the order of "maintenance help", and commandGroups in its groups ("help"
// itself is listed last, in the last group).
var (
	commands      = map[string]command{}
	commandOrder  []string
	commandGroups []commandGroup
)

// commandGroup is a titled group of commands in "maintenance help".
type commandGroup struct {
	title string
	names []string
}

// namedCommand is a row of the command table.
type namedCommand struct {
	name string
	command
}

// group adds a titled group of commands to the table.
func group(title string, cs []namedCommand) {
	commandGroups = append(commandGroups, commandGroup{title: title})
	for _, c := range cs {
		register(c.name, c.command)
	}
}

// register adds a command to the table, at the end of the last group. It
// panics when the name is taken: the table is written once, above.
func register(name string, c command) {
	if _, dup := commands[name]; dup || name == "help" || c.run == nil {
		panic(fmt.Sprintf("maintenance: cannot register command %q", name))
	}
	commands[name] = c
	commandOrder = append(commandOrder, name)
	last := &commandGroups[len(commandGroups)-1]
	last.names = append(last.names, name)
}
