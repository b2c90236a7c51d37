package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/password"
	"github.com/gomaint/maintenance/internal/state"
)

const userUsage = `Usage: maintenance user ls [--json]
       maintenance user add [--password-stdin] NAME
       maintenance user passwd [--password-stdin] NAME
       maintenance user rm NAME

Manages the people who may sign in to the admin page. Only a bcrypt hash of
each password is kept; no command ever prints it.

  ls      list the users
  add     add a user; NAME is 1 to 64 letters, digits and . _ @ + -, like
          alice or ops@example.com
  passwd  change a user's password; the user's admin sessions end on every
          gate
  rm      remove a user; the user's admin sessions end on every gate

The password (8 to 72 bytes) is asked twice on the terminal, without echo.
When standard input is not a terminal, --password-stdin is required:

  --password-stdin  read the password from the first line of standard input
                    (its line end is not part of it), like:
                    printf '%s\n' "$PASSWORD" | maintenance user add --password-stdin alice

Output of ls, one line per user, sorted by name:

  NAME   CREATED               CREATED BY
  alice  2026-11-21T13:00:00Z  root@build-1

or "no users". With --json (stable: fields may be added, never changed):

  {"users": [{"name": "alice", "created": "2026-11-21T13:00:00Z",
    "created_by": "root@build-1"}]}

Output of add: "user alice added"; of passwd: "user alice: password changed";
of rm: "user alice removed". A user that exists (add) or does not (passwd,
rm), a bad name or password: exit 2, nothing changes.

With --json, add and passwd print {"user", "command": "user add" or
"user passwd", "version", "gates", "elapsed_ms"} and rm {"removed":
NAME, "version", "gates", "elapsed_ms"}; gates and elapsed_ms are as in
"maintenance on --json" (null and 0 with --wait 0).
`

// runUser implements "maintenance user".
func runUser(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "user", userUsage, args, map[string]func(context.Context, *env, []string) error{
		"ls":     runUserLs,
		"add":    runUserAdd,
		"passwd": runUserPasswd,
		"rm":     runUserRm,
	})
}

// userJSON is a user in "user ls --json": never the password hash.
type userJSON struct {
	Name      string    `json:"name"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

func runUserLs(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("user ls", userUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("user ls", pos); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		state, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("reading the state: %w", err)
		}
		if asJSON {
			out := struct {
				Users []userJSON `json:"users"`
			}{Users: []userJSON{}}
			for _, u := range state.Users {
				out.Users = append(out.Users, userJSON{u.Name, u.Created.UTC(), u.CreatedBy})
			}
			return writeJSON(e.stdout, out)
		}
		if len(state.Users) == 0 {
			fmt.Fprintln(e.stdout, "no users")
			return nil
		}
		t := newTable(e.stdout, "NAME", "CREATED", "CREATED BY")
		for _, u := range state.Users {
			t.row(u.Name, utcTime(u.Created), u.CreatedBy)
		}
		return t.flush()
	})
}

func runUserAdd(ctx context.Context, e *env, args []string) error {
	return e.setPassword(ctx, "user add", args, maintenance.AddUser, "user %s added\n")
}

func runUserPasswd(ctx context.Context, e *env, args []string) error {
	return e.setPassword(ctx, "user passwd", args, maintenance.SetPassword, "user %s: password changed\n")
}

// setPassword implements "user add" and "user passwd": it checks the name
// and that the user does (not) exist before it asks for the password, then
// hashes it and applies change(name, hash).
func (e *env) setPassword(ctx context.Context, cmd string, args []string, change func(name, hash string) maintenance.Change, done string) error {
	fs := e.newFlagSet(cmd, userUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	var fromStdin bool
	fs.BoolVar(&fromStdin, "password-stdin", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("%s takes one NAME, got %q; run 'maintenance help user' for usage", cmd, pos)
	}
	name, err := maintenance.ParseUserName(pos[0])
	if err != nil {
		return err
	}
	read, err := e.passwordReader(cmd, name, fromStdin)
	if err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		// A user who exists (add) or does not (passwd) is reported before
		// the password is asked for; the change checks it again.
		cur, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("reading the state: %w", err)
		}
		if _, _, err := state.Commit(cur, change(name, placeholderHash), time.Now()); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		pw, err := read(ctx)
		if err != nil {
			return err
		}
		hash, err := password.Hash(pw)
		if err != nil {
			return err
		}
		_, after, err := e.change(ctx, st, change(name, hash), "")
		if err != nil {
			return err
		}
		if asJSON {
			return e.writeOutcome(after.Version, map[string]any{"user": name, "command": cmd})
		}
		fmt.Fprintf(e.stdout, done, name)
		return nil
	})
}

// placeholderHash stands for a password hash in a dry run of a change.
const placeholderHash = "$2a$00$placeholder"

func runUserRm(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("user rm", userUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("user rm takes one NAME, got %q; run 'maintenance help user' for usage", pos)
	}
	name, err := maintenance.ParseUserName(pos[0])
	if err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		_, after, err := e.change(ctx, st, maintenance.RemoveUser(name), "")
		if err != nil {
			return err
		}
		if asJSON {
			return e.writeOutcome(after.Version, map[string]any{"removed": name})
		}
		fmt.Fprintf(e.stdout, "user %s removed\n", name)
		return nil
	})
}

// maxPasswordLine is the most bytes read from standard input for a
// password: more than any accepted password, so that a longer one is
// reported as too long rather than cut.
const maxPasswordLine = 4 * password.MaxLen

// passwordReader returns the function that reads the new password of user
// name for cmd: from the first line of standard input with --password-stdin,
// else asked twice on the terminal. Standard input that is not a terminal
// without --password-stdin is a usage error, reported before anything else
// is done.
func (e *env) passwordReader(cmd, name string, fromStdin bool) (func(context.Context) (string, error), error) {
	if fromStdin {
		return func(context.Context) (string, error) { return readPasswordLine(e.stdin) }, nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, usageErrorf("%s: standard input is not a terminal, so the password cannot be asked for; give it on standard input with --password-stdin, like: printf '%%s\\n' \"$PASSWORD\" | maintenance %s --password-stdin %s", cmd, cmd, name)
	}
	return func(ctx context.Context) (string, error) {
		fd := int(f.Fd())
		pw, err := e.askPassword(ctx, fd, "Password for "+name+": ")
		if err != nil {
			return "", err
		}
		again, err := e.askPassword(ctx, fd, "Password again: ")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", usageErrorf("%s: the two passwords differ; nothing was changed", cmd)
		}
		return pw, nil
	}, nil
}

// askPassword prints prompt on stderr and reads a line from the terminal
// fd without echo. When ctx is done first (Ctrl-C), it puts the terminal
// back as it was and returns ctx's error.
func (e *env) askPassword(ctx context.Context, fd int, prompt string) (string, error) {
	old, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	fmt.Fprint(e.stderr, prompt)
	type result struct {
		pw  []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		pw, err := term.ReadPassword(fd)
		done <- result{pw, err}
	}()
	select {
	case r := <-done:
		fmt.Fprintln(e.stderr)
		if r.err != nil {
			return "", fmt.Errorf("reading the password: %w", r.err)
		}
		return string(r.pw), nil
	case <-ctx.Done():
		// The reading goroutine is left blocked; the process is ending.
		_ = term.Restore(fd, old)
		fmt.Fprintln(e.stderr)
		return "", ctx.Err()
	}
}

// readPasswordLine returns the first line of r without its line end
// ("\n" or "\r\n").
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxPasswordLine)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	if line == "" {
		return "", usageErrorf("--password-stdin: standard input is empty; accepted: the password on its first line")
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

// utcTime formats t in UTC, RFC 3339; "-" for the zero time.
func utcTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}
