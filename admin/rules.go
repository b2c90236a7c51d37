package admin

import (
	"net/http"

	"github.com/gomaint/maintenance"
)

// ruleForm handles the add and remove forms of ignore patterns and allow
// entries.
func (a *Admin) ruleForm(p *page, kind string, remove bool) error {
	n, err := formSite(p)
	if err != nil {
		return err
	}
	f := p.r.PostForm
	field := "pattern"
	if kind == "allow" {
		field = "entry"
	}
	value, note := f.Get(field), f.Get("note")
	formName := kind + "-add"
	if f.Has("row") {
		formName = kind + "-row"
	}
	var ch maintenance.Change
	switch {
	case remove && kind == "ignore":
		ch = maintenance.RemoveIgnore(n, value)
	case remove:
		ch = maintenance.RemoveAllow(n, value)
	default:
		if err := checkRule(field, value, note); err != nil {
			return a.siteFailed(p, n, formName, err)
		}
		if kind == "ignore" {
			ch = maintenance.AddIgnore(n, value, note)
		} else {
			ch = maintenance.AddAllow(n, value, note)
		}
	}
	if _, err := a.pageUpdate(p, field, ch, f.Get("reason")); err != nil {
		return a.siteFailed(p, n, formName, err)
	}
	flash := kind + "-add"
	if remove {
		flash = kind + "-rm"
	}
	return p.done(sitePath(n)+"#"+kind, flash)
}

func (a *Admin) addIgnore(p *page) error { return a.ruleForm(p, "ignore", false) }

func (a *Admin) removeIgnore(p *page) error { return a.ruleForm(p, "ignore", true) }

func (a *Admin) addAllow(p *page) error { return a.ruleForm(p, "allow", false) }

func (a *Admin) removeAllow(p *page) error { return a.ruleForm(p, "allow", true) }

func (a *Admin) apiIgnore(c *call) error {
	s, err := declaredSite(c.r, c.st)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, c.st.Version, s.View(c.now).Ignore)
}

func (a *Admin) apiAllow(c *call) error {
	s, err := declaredSite(c.r, c.st)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, c.st.Version, s.View(c.now).Allow)
}

// readRule reads the body of a rule: its value under field, a note and a
// reason.
func readRule(w http.ResponseWriter, r *http.Request, field string) (value, note, reason string, err error) {
	in, err := readInput(w, r)
	if err != nil {
		return "", "", "", err
	}
	value, note, reason = in.text(field), in.text("note"), in.text("reason")
	if err := in.finish(); err != nil {
		return "", "", "", err
	}
	return value, note, reason, checkRule(field, value, note)
}

// checkRule validates a rule's value and note, each in its field.
func checkRule(field, value, note string) error {
	var err error
	if field == "entry" {
		_, err = maintenance.ParseAllow(value)
	} else {
		_, err = maintenance.ParsePattern(value)
	}
	if err != nil {
		return inField(field, err)
	}
	return inField("note", maintenance.ValidateNote(note))
}

// ruleKind is what the ignore and allow routes differ in.
type ruleKind struct {
	route, field, example string
	add                   func(site, value, note string) maintenance.Change
	remove                func(site, value string) maintenance.Change
}

var (
	ignoreRules = ruleKind{"ignore", "pattern", "/health", maintenance.AddIgnore, maintenance.RemoveIgnore}
	allowRules  = ruleKind{"allow", "entry", "10.0.0.0/8", maintenance.AddAllow, maintenance.RemoveAllow}
)

func (a *Admin) apiAddIgnore(c *call) error { return a.addRule(c, ignoreRules) }

func (a *Admin) apiRemoveIgnore(c *call) error { return a.removeRule(c, ignoreRules) }

func (a *Admin) apiAddAllow(c *call) error { return a.addRule(c, allowRules) }

func (a *Admin) apiRemoveAllow(c *call) error { return a.removeRule(c, allowRules) }

// addRule adds (or re-notes) an ignore pattern or allow entry of the
// path's site, from the body.
func (a *Admin) addRule(c *call, k ruleKind) error {
	n, err := pathSite(c.r)
	if err != nil {
		return err
	}
	v, note, reason, err := readRule(c.w, c.r, k.field)
	if err != nil {
		return err
	}
	st, err := a.update(c, k.field, k.add(n, v, note), reason)
	if err != nil {
		return err
	}
	return c.siteReply(http.StatusOK, st, n)
}

// removeRule removes the rule named by the query parameter k.field.
func (a *Admin) removeRule(c *call, k ruleKind) error {
	n, err := pathSite(c.r)
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	if !q.Has(k.field) {
		return invalidField(k.field, "the query parameter "+k.field+" is missing: DELETE .../"+k.route+"?"+k.field+"="+k.example)
	}
	st, err := a.update(c, k.field, k.remove(n, q.Get(k.field)), q.Get("reason"))
	if err != nil {
		return err
	}
	return c.siteReply(http.StatusOK, st, n)
}
