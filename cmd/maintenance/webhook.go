package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gomaint/maintenance"
)

const webhookUsage = `Usage: maintenance webhook add URL [--events LIST] [--site HOST]... [--format json|slack]
                               [--remind LIST] [--max-duration DUR] [--secret-stdin] [--reason TEXT]
       maintenance webhook ls [--json]
       maintenance webhook rm ID
       maintenance webhook test ID

Webhooks receive a POST for every change (on, off, rules, schedule, release,
users, tokens, links, webhooks) and for what nobody commits: a window
starts or ends, a reminder before a scheduled window, maintenance
forgotten. One serve of the fleet delivers them, in order, at least once,
retrying for 24 hours (then the webhook is marked failed). Each POST is
signed: Maintenance-Signature: t=UNIX,v1=HEX, HEX the hex HMAC-SHA256 of
"UNIX.BODY" under the webhook's signing secret.

  add   add a webhook; print its signing secret on standard output, alone on
        its line, once (a note on standard error gives its ID)
  ls    list the webhooks and where their delivery stands
  rm    remove the webhook ID: it receives nothing more
  test  post a webhook.test event to ID now and say how it went

Flags:
  --events LIST     (add) the event types or groups it receives, comma-
                    separated: on, off, sites, ignore, allow, schedule,
                    release, user, token, bypass, webhook, window,
                    window.start, window.end, window.reminder,
                    maintenance.forgotten, or a type like ignore.add;
                    default: every event
  --site HOST       (add, repeatable) only the events of this site; default:
                    every site and the events about none (users, tokens...)
  --format F        (add) json (default: the documented body) or slack
                    ({"text": ...}, for an incoming-webhook URL)
  --remind LIST     (add) reminders before each scheduled start, like 1h,10m
  --max-duration D  (add) announce a site in maintenance with no end for
                    longer than D (maintenance.forgotten)
  --secret-stdin    (add) read the signing secret from the first line of
                    standard input (16 to 256 printable characters) instead
                    of making one
  --reason TEXT     (add, rm) why, for the audit log
  --json            (ls) print JSON instead of text

URL: http or https with a host; no user:password@, no #fragment. Its path
and query are never logged (a Slack URL is a credential). Deliveries do not
follow redirects and never connect to link-local, multicast or unspecified
addresses (cloud metadata endpoints).

Output of ls, one line per webhook:

  ID        URL                            EVENTS   SITES  FORMAT  DELIVERY
  0a1b2c3d  https://hooks.example.com/m    on,off   *      json    ok: 12 delivered

DELIVERY is new, ok, retrying (attempts and the last error) or failed.
With --json: {"webhooks": [{"id", "url", "events", "sites", "format",
"remind", "max_duration", "created", "created_by", "delivery": {"state",
"delivered", "last_delivered", "pending", "attempts", "failing_since",
"next_attempt", "last_error"}}]}. Never the secret.

With --json, add prints {"added": ID, "secret" (without --secret-stdin:
shown this once), "version", "gates", "elapsed_ms"} and rm {"removed":
ID, "version", "gates", "elapsed_ms"}; gates and elapsed_ms are as in
"maintenance on --json" (null and 0 with --wait 0).
`

// runWebhook implements "maintenance webhook".
func runWebhook(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "webhook", webhookUsage, args, map[string]func(context.Context, *env, []string) error{
		"add":  runWebhookAdd,
		"ls":   runWebhookLs,
		"rm":   runWebhookRm,
		"test": runWebhookTest,
	})
}

func runWebhookAdd(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("webhook add", webhookUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	var sites stringsFlag
	var events, format, remind, maxDur, reason string
	var secretStdin bool
	fs.StringVar(&events, "events", "", "")
	fs.Var(&sites, "site", "")
	fs.StringVar(&format, "format", "json", "")
	fs.StringVar(&remind, "remind", "", "")
	fs.StringVar(&maxDur, "max-duration", "", "")
	fs.StringVar(&reason, "reason", "", "")
	fs.BoolVar(&secretStdin, "secret-stdin", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("webhook add takes one URL, got %d arguments; run 'maintenance help webhook' for usage", len(pos))
	}
	w, err := webhookFromFlags(pos[0], events, sites, format, remind, maxDur)
	if err != nil {
		return err
	}
	secret := maintenance.NewWebhookSecret()
	if secretStdin {
		line, err := readPasswordLine(e.stdin)
		if err != nil {
			return usageErrorf("--secret-stdin: %v", strings.TrimPrefix(err.Error(), "--password-stdin: "))
		}
		if err := maintenance.CheckWebhookSecret(line); err != nil {
			return fmt.Errorf("--secret-stdin: %w", err)
		}
		secret = line
	}
	_, w.ID = maintenance.NewSecret()
	if err := checkReason(reason); err != nil {
		return err
	}
	// Whether the sites are declared is the store's to say.
	if err := w.Validate(); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		key, err := st.Key(ctx)
		if err != nil {
			return fmt.Errorf("reading the server key: %w", err)
		}
		if w.Secret, err = maintenance.SealSecret(key, w.ID, secret); err != nil {
			return err
		}
		_, after, err := e.change(ctx, st, maintenance.AddWebhook(w), reason)
		if err != nil {
			return err
		}
		if asJSON {
			out := map[string]any{"added": w.ID}
			if !secretStdin {
				out["secret"] = secret // shown once, as the text output does
			}
			return e.writeOutcome(after.Version, out)
		}
		if secretStdin {
			fmt.Fprintf(e.stdout, "webhook %s added\n", w.ID)
			return nil
		}
		fmt.Fprintln(e.stdout, secret)
		fmt.Fprintf(e.stderr, "maintenance: webhook %s added; its signing secret is shown only this once: give it to the receiver now. Remove it with: maintenance webhook rm %s\n", w.ID, w.ID)
		return nil
	})
}

// webhookFromFlags validates the flags of webhook add (not the secret).
func webhookFromFlags(rawURL, events string, sites []string, format, remind, maxDur string) (maintenance.Webhook, error) {
	var w maintenance.Webhook
	var err error
	if w.URL, err = maintenance.ParseWebhookURL(rawURL); err != nil {
		return w, err
	}
	if events != "" {
		if w.Events, err = maintenance.ParseEventTypes(strings.Split(events, ",")); err != nil {
			return w, err
		}
	}
	for _, s := range sites {
		n, err := maintenance.ParseSite(s)
		if err != nil {
			return w, err
		}
		w.Sites = append(w.Sites, n)
	}
	w.Sites = sortedUnique(w.Sites)
	if w.Format, err = maintenance.ParseWebhookFormat(format); err != nil {
		return w, err
	}
	if remind != "" {
		var ds []time.Duration
		for _, v := range strings.Split(remind, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return w, usageErrorf("--remind %q: %q is not a duration; accepted: durations like 1h,10m", remind, v)
			}
			ds = append(ds, d)
		}
		if w.Remind, err = maintenance.ParseReminders(ds); err != nil {
			return w, err
		}
	}
	if maxDur != "" {
		d, err := time.ParseDuration(maxDur)
		if err != nil || d < time.Minute {
			return w, usageErrorf("--max-duration %q: accepted: a duration of 1m or more, like 4h", maxDur)
		}
		w.MaxDuration = d
	}
	return w, nil
}

func sortedUnique(s []string) []string {
	var out []string
	for _, v := range s {
		i := 0
		for i < len(out) && out[i] < v {
			i++
		}
		if i < len(out) && out[i] == v {
			continue
		}
		out = append(out[:i], append([]string{v}, out[i:]...)...)
	}
	return out
}

func toWebhookJSON(w maintenance.Webhook, c maintenance.Cursor, ok bool) maintenance.WebhookView {
	return w.View(c, ok)
}

// deliveryText is the DELIVERY column of webhook ls.
func deliveryText(c maintenance.Cursor, ok bool) string {
	switch s := maintenance.DeliveryState(c, ok); s {
	case "ok":
		return fmt.Sprintf("ok: %d delivered, last %s", c.Delivered, utcTime(c.LastDelivered))
	case "retrying", "failed":
		return fmt.Sprintf("%s: %d attempts since %s, next %s: %s", strings.ToUpper(s[:1])+s[1:], c.Attempts, utcTime(c.FailingSince), utcTime(c.NextAttempt), c.LastError)
	default:
		return s
	}
}

func runWebhookLs(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("webhook ls", webhookUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs("webhook ls", pos); err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		state, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("reading the state: %w", err)
		}
		cs, err := st.Cursors(ctx)
		if err != nil {
			return fmt.Errorf("reading the delivery cursors: %w", err)
		}
		if asJSON {
			out := struct {
				Webhooks []maintenance.WebhookView `json:"webhooks"`
			}{Webhooks: []maintenance.WebhookView{}}
			for _, w := range state.Webhooks {
				c, ok := cs[w.ID]
				out.Webhooks = append(out.Webhooks, toWebhookJSON(w, c, ok))
			}
			return writeJSON(e.stdout, out)
		}
		if len(state.Webhooks) == 0 {
			fmt.Fprintln(e.stdout, "no webhooks")
			return nil
		}
		t := newTable(e.stdout, "ID", "URL", "EVENTS", "SITES", "FORMAT", "DELIVERY")
		for _, w := range state.Webhooks {
			c, ok := cs[w.ID]
			j := toWebhookJSON(w, c, ok)
			t.row(w.ID, w.URL, orAll(j.Events), orAll(j.Sites), j.Format, deliveryText(c, ok))
		}
		return t.flush()
	})
}

func orAll(s []string) string {
	if len(s) == 0 {
		return "*"
	}
	return strings.Join(s, ",")
}

func webhookID(cmd string, pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usageErrorf("webhook %s takes one ID, got %d arguments; run 'maintenance help webhook' for usage", cmd, len(pos))
	}
	id := strings.ToLower(pos[0])
	if len(id) < 4 || len(id) > 32 || strings.ContainsFunc(id, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') }) {
		return "", usageErrorf("webhook %s: ID %q: accepted: the ID shown by maintenance webhook ls, 4 to 32 hex digits like 0a1b2c3d", cmd, truncateArg(pos[0]))
	}
	return id, nil
}

// truncateArg shortens a long argument quoted in an error.
func truncateArg(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func runWebhookRm(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("webhook rm", webhookUsage)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "")
	var reason string
	fs.StringVar(&reason, "reason", "", "")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	id, err := webhookID("rm", pos)
	if err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		_, after, err := e.change(ctx, st, maintenance.RemoveWebhook(id), reason)
		if err != nil {
			return err
		}
		if asJSON {
			return e.writeOutcome(after.Version, map[string]any{"removed": id})
		}
		fmt.Fprintf(e.stdout, "webhook %s removed\n", id)
		return nil
	})
}

func runWebhookTest(ctx context.Context, e *env, args []string) error {
	fs := e.newFlagSet("webhook test", webhookUsage)
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	id, err := webhookID("test", pos)
	if err != nil {
		return err
	}
	return e.withStore(ctx, func(st maintenance.Store) error {
		state, err := st.Load(ctx)
		if err != nil {
			return fmt.Errorf("reading the state: %w", err)
		}
		w := state.Webhook(id)
		if w == nil {
			return fmt.Errorf("webhook %q does not exist; see the webhooks with: maintenance webhook ls: %w", id, maintenance.ErrNotFound)
		}
		key, err := st.Key(ctx)
		if err != nil {
			return fmt.Errorf("reading the server key: %w", err)
		}
		if err := maintenance.SendTest(ctx, key, *w, maintenance.Actor()); err != nil {
			return fmt.Errorf("webhook %s: the test failed: %w", id, err)
		}
		fmt.Fprintf(e.stdout, "webhook %s: test delivered\n", id)
		return nil
	})
}
