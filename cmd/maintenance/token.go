package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

// tokenPrefix starts every API token, so that one is recognized in a
// config file or a secret scanner's report. It is part of the token: the
// stored hash is maintenance.HashSecret of the whole string.
const tokenPrefix = "mt_"

const tokenUsage = `Usage: maintenance token ls [--json]
       maintenance token create [--label TEXT]
       maintenance token revoke ID

Manages the API tokens that let programs use the admin JSON API
("Authorization: Bearer TOKEN"). A token is "mt_" followed by 43
characters (256 random bits, base64url); only its SHA-256 is kept, so it is
printed once, by create, and never again.

  ls      list the tokens, oldest first
  create  create a token and print it on standard output, alone on its line
          (a note on standard error gives its ID)
  revoke  delete the token ID (see ls): every gate and API refuses it
          within a moment

Flags:
  --label TEXT  (create) what the token is for, like "deploy pipeline"
  --json        (ls) print JSON instead of text

Output of ls, one line per token:

  ID        LABEL            CREATED               CREATED BY
  3f9c2a1b  deploy pipeline  2026-11-21T13:00:00Z  root@build-1

or "no tokens". With --json (stable: fields may be added, never changed):

  {"tokens": [{"id": "3f9c2a1b", "label": "deploy pipeline",
    "created": "2026-11-21T13:00:00Z", "created_by": "root@build-1"}]}

Output of revoke: "token 3f9c2a1b revoked". An unknown ID: exit 2.

With --json, create prints {"token", "id", "label", "version", "gates",
"elapsed_ms"} (the token shown this once, in the JSON) and revoke
{"revoked": ID, "version", "gates", "elapsed_ms"}; gates and elapsed_ms
are as in "maintenance on --json" (null and 0 with --wait 0).
`

// runToken implements "maintenance token".
func runToken(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "token", tokenUsage, args, map[string]func(context.Context, *env, []string) error{
		"ls":     runTokenLs,
		"create": runTokenCreate,
		"revoke": runTokenRevoke,
	})
}

// tokenJSON is a token in "token ls --json": never its hash.
type tokenJSON struct {
	ID        string    `json:"id"`
	Label     string    `json:"label"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

func runTokenLs(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("token ls", tokenUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("token ls", pos); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		state, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("reading the state: %w", err)
		}
		if asJSON {
			out := struct {
				Tokens []tokenJSON `json:"tokens"`
			}{Tokens: []tokenJSON{}}
			for _, t := range state.Tokens {
				out.Tokens = append(out.Tokens, tokenJSON{t.ID, t.Label, t.Created.UTC(), t.CreatedBy})
			}
			return writeJSON(e.stdout, out)
		}
		if len(state.Tokens) == 0 {
			fmt.Fprintln(e.stdout, "no tokens")
			return nil
		}
		t := newTable(e.stdout, "ID", "LABEL", "CREATED", "CREATED BY")
		for _, tok := range state.Tokens {
			t.row(tok.ID, tok.Label, utcTime(tok.Created), tok.CreatedBy)
		}
		return t.flush()
	})
}

func runTokenCreate(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("token create", tokenUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	var label string
	fs.StringVar(&label, "label", "", "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("token create", pos); err != nil {
		return err
	}
	secret, id := maintenance.NewSecret()
	token := tokenPrefix + secret
	c := maintenance.CreateToken(maintenance.Token{ID: id, Label: label, Hash: maintenance.HashSecret(token)})
	if err := maintenance.ValidateLabel(label); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		_, after, err := e.change(ctx, st, c, "")
		if err != nil {
			return err
		}
		if asJSON {
			return e.writeOutcome(after.Version, map[string]any{"token": token, "id": id, "label": label})
		}
		e.fleet.toStderr = true // stdout is the token alone
		fmt.Fprintln(e.stdout, token)
		fmt.Fprintf(e.stderr, "maintenance: token %s created; it is shown only this once (only its hash is kept): store it now. Revoke it with: maintenance token revoke %s\n", id, id)
		return nil
	})
}

func runTokenRevoke(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("token revoke", tokenUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("token revoke takes one ID, got %d arguments; run 'maintenance help token' for usage", len(pos))
	}
	id, err := parseSecretID("token", pos[0])
	if err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		_, after, err := e.change(ctx, st, maintenance.RevokeToken(id), "")
		if err != nil {
			return err
		}
		if asJSON {
			return e.writeOutcome(after.Version, map[string]any{"revoked": id})
		}
		fmt.Fprintf(e.stdout, "token %s revoked\n", id)
		return nil
	})
}

// parseSecretID checks the ID of a token or bypass link (kind) given to
// revoke: 4 to 32 hex digits, as ls shows them. The error quotes the value
// only when it is short enough to be an ID, never a secret pasted by
// mistake.
func parseSecretID(kind, v string) (string, error) {
	lower := strings.ToLower(v)
	ok := len(lower) >= 4 && len(lower) <= 32 && !strings.ContainsFunc(lower, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f')
	})
	if ok {
		return lower, nil
	}
	accepted := fmt.Sprintf("accepted: the ID shown by maintenance %s ls, 4 to 32 hex digits like 3f9c2a1b", kind)
	if len(v) > 32 || slices.ContainsFunc([]string{tokenPrefix, maintenance.BypassPath}, func(p string) bool { return strings.Contains(v, p) }) {
		return "", usageErrorf("%s revoke: the argument (%d characters, not repeated here) is not an ID; %s, not the secret", kind, len(v), accepted)
	}
	return "", usageErrorf("%s revoke: ID %q: %s", kind, v, accepted)
}
