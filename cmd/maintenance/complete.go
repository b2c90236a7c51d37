package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

// completeCommand is the hidden command the completion scripts call:
// "maintenance __complete -- WORD... CURRENT" prints, one a line, the words
// that may come at CURRENT (the word being typed, possibly empty) after the
// words before it. The shell filters them by what is typed.
const completeCommand = "__complete"

// errProbe stops a command run by completion once its flag set, or its list
// of subcommands, is known.
var errProbe = errors.New("probed")

const completionUsage = `Usage: maintenance completion bash|zsh|fish

Prints a script that completes the commands, subcommands and flags of
maintenance, and the names of the sites after --site (read from the store
that --store, $MAINTENANCE_STORE or the configuration file names, as
"maintenance sites ls" does; nothing when it cannot be read within 2s).
The script calls maintenance itself as it completes, so it stays right
as the program changes.

  bash:  source <(maintenance completion bash)       (in ~/.bashrc)
  zsh:   source <(maintenance completion zsh)        (in ~/.zshrc, after compinit)
  fish:  maintenance completion fish > ~/.config/fish/completions/maintenance.fish

Output: the script, on stdout. An unknown shell: exit 2.
`

// completionScripts are the scripts of "maintenance completion", by shell.
var completionScripts = map[string]string{
	"bash": `# bash completion for maintenance: source <(maintenance completion bash)
_maintenance() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local IFS=$'\n'
    local words
    words=$("${COMP_WORDS[0]}" __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
    # mapfile, not COMPREPLY=($(...)): the site "*" must not be globbed.
    mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -o default -F _maintenance maintenance
`,
	"zsh": `#compdef maintenance
# zsh completion for maintenance: source <(maintenance completion zsh)
_maintenance() {
    local -a cands
    cands=("${(@f)$(${words[1]} __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    cands=(${cands:#})
    if (( ${#cands} )); then
        compadd -Q -- "${cands[@]}"
    else
        _files
    fi
}
if [[ "${funcstack[1]}" = "_maintenance" ]]; then
    _maintenance "$@"
else
    compdef _maintenance maintenance
fi
`,
	"fish": `# fish completion for maintenance: maintenance completion fish | source
function __maintenance_complete
    set -l tokens (commandline -opc)
    set -l prog $tokens[1]
    set -e tokens[1]
    $prog __complete -- $tokens (commandline -ct) 2>/dev/null
end
complete -c maintenance -f -a '(__maintenance_complete)'
`,
}

// runCompletion implements "maintenance completion".
func runCompletion(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("completion", completionUsage)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	shells := slices.Sorted(func(yield func(string) bool) {
		for k := range completionScripts {
			if !yield(k) {
				return
			}
		}
	})
	if len(pos) != 1 {
		return usageErrorf("completion takes one shell name, got %q; accepted: %s", pos, strings.Join(shells, ", "))
	}
	script, ok := completionScripts[pos[0]]
	if !ok {
		return usageErrorf("completion: unknown shell %q%s; accepted: %s", pos[0], didYouMean(pos[0], shells), strings.Join(shells, ", "))
	}
	_, err = fmt.Fprint(e.rawStdout, script)
	return err
}

// probe runs the command name (with sub, when not empty) in probing mode
// and returns its flag set, or the names of its subcommands, or neither.
func (e *env) probe(ctx context.Context, name, sub string) (*flagSet, []string) {
	c, ok := commands[name]
	if !ok {
		return nil, nil
	}
	p := &env{stdin: e.stdin, stdout: e.stdout, stderr: e.stderr, rawStdout: e.rawStdout, rawStderr: e.rawStderr,
		storeURL: e.storeURL, storeFlag: e.storeFlag, storeFrom: e.storeFrom, getenv: e.getenv,
		defaultWait: e.defaultWait, probing: true}
	var args []string
	if sub != "" {
		args = []string{sub}
	}
	if err := c.run(ctx, p, args); !errors.Is(err, errProbe) {
		return nil, nil
	}
	if p.probedSubs != nil {
		return nil, p.probedSubs
	}
	return p.probed, nil
}

// complete implements the hidden command completeCommand.
func (e *env) complete(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	cur := ""
	if len(args) > 0 {
		cur, args = args[len(args)-1], args[:len(args)-1]
	}
	var out []string
	emit := func(words ...string) { out = append(out, words...) }
	// The global flags taking a value, and the positional words.
	var pos []string
	var fs *flagSet
	var subs []string
	takesValue := func(name string) bool {
		if name == "store" || name == "wait" {
			return true
		}
		if fs == nil {
			return false
		}
		f := fs.Lookup(name)
		if f == nil {
			return false
		}
		b, ok := f.Value.(interface{ IsBoolFlag() bool })
		return !ok || !b.IsBoolFlag()
	}
	prevFlag := ""
	for i := 0; i < len(args); i++ {
		w := args[i]
		if w == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if strings.HasPrefix(w, "-") && len(w) > 1 {
			name, value, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
			if name == "store" && !hasValue && i+1 < len(args) {
				value, hasValue = args[i+1], true
			}
			if name == "store" && hasValue {
				e.storeURL, e.storeFlag, e.storeFrom = value, true, "--store"
			}
			if !strings.Contains(w, "=") && takesValue(name) {
				if i+1 == len(args) {
					prevFlag = name
				}
				i++
			}
			continue
		}
		pos = append(pos, w)
		switch {
		case len(pos) == 1 && pos[0] != "help":
			fs, subs = e.probe(ctx, pos[0], "")
		case len(pos) == 2 && subs != nil:
			fs, _ = e.probe(ctx, pos[0], pos[1])
		}
	}
	switch {
	case prevFlag == "site":
		emit(e.siteNames(ctx)...)
	case prevFlag != "":
		// A flag's value: nothing to offer (the shell may offer files).
	case strings.HasPrefix(cur, "-"):
		if len(pos) == 0 {
			emit("--store", "--wait", "--version", "--help")
		} else if fs != nil {
			fs.VisitAll(func(f *flag.Flag) { emit("--" + f.Name) })
			emit("--help")
		}
	case len(pos) == 0:
		emit(commandNames()...)
	case len(pos) == 1 && pos[0] == "help":
		emit(commandNames()...)
	case len(pos) == 1 && pos[0] == "completion":
		emit("bash", "fish", "zsh")
	case len(pos) == 1 && subs != nil:
		emit(subs...)
	}
	for _, w := range out {
		fmt.Fprintln(e.stdout, w)
	}
	return nil
}

// siteNames returns the names of the declared sites, or nothing when the
// store cannot be read within 2 seconds: completion must never hang.
func (e *env) siteNames(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var names []string
	_ = e.withStore(ctx, func(st maintenance.Store) error {
		state, err := st.Load(ctx)
		if err != nil {
			return err
		}
		for _, s := range state.Sites {
			names = append(names, s.Site)
		}
		return nil
	})
	return names
}
