package maintenance_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/state"
)

const hashA = "$2a$04$aaaaaaaaaaaaaaaaaaaaaa"

func newLink(site string) (maintenance.BypassLink, string) {
	s, id := maintenance.NewSecret()
	return maintenance.BypassLink{ID: id, Site: site, Label: "alice's phone", Hash: maintenance.HashSecret(s)}, s
}

func TestAuthChangesAndEvents(t *testing.T) {
	st := testState()
	st, ev := commit(t, st, maintenance.AddUser("alice", hashA))
	if len(st.Users) != 1 || st.Users[0].CreatedBy != "bob" || !st.Users[0].Created.Equal(nowMS) {
		t.Errorf("user: %+v", st.Users)
	}
	if len(ev) != 1 || ev[0].Target != "user alice" || ev[0].Action != "user add" || ev[0].Site != "" || ev[0].Before != nil {
		t.Errorf("user add events: %+v", ev)
	}
	st, ev = commit(t, st, maintenance.SetPassword("alice", "$2a$04$bbbbbbbbbbbbbbbbbbbbbb"))
	if len(ev) != 1 || ev[0].Target != "user alice" || st.Users[0].CreatedBy != "bob" {
		t.Errorf("passwd events: %+v", ev)
	}
	secret, id := maintenance.NewSecret()
	st, ev = commit(t, st, maintenance.CreateToken(maintenance.Token{ID: id, Label: "deploys", Hash: maintenance.HashSecret(secret)}))
	if len(ev) != 1 || ev[0].Target != "token "+id || st.Tokens[0].CreatedBy != "bob" {
		t.Errorf("token events: %+v %+v", ev, st.Tokens)
	}
	l, _ := newLink("shop.example.com")
	st, ev = commit(t, st, maintenance.CreateBypass(l, time.Hour))
	if len(ev) != 1 || ev[0].Target != "bypass "+l.ID || ev[0].Site != "shop.example.com" {
		t.Errorf("bypass events: %+v", ev)
	}
	if got := st.Links[0]; !got.Expires.Equal(nowMS.Add(time.Hour)) || got.CreatedBy != "bob" {
		t.Errorf("link: %+v", got)
	}
	st, ev = commit(t, st, maintenance.RevokeBypass(l.ID))
	if len(ev) != 1 || len(st.Links) != 0 {
		t.Errorf("revoke: %+v %+v", ev, st.Links)
	}
	st, _ = commit(t, st, maintenance.RevokeToken(id))
	st, ev = commit(t, st, maintenance.RemoveUser("alice"))
	if len(ev) != 1 || len(st.Users) != 0 || len(st.Tokens) != 0 {
		t.Errorf("rm: %+v %+v", ev, st)
	}
}

func TestAuthChangesReject(t *testing.T) {
	st := testState()
	st, _ = commit(t, st, maintenance.AddUser("alice", hashA))
	l, _ := newLink("shop.example.com")
	st, _ = commit(t, st, maintenance.CreateBypass(l, time.Hour))
	bad := func(h string) maintenance.Token { return maintenance.Token{ID: "abcd1234", Hash: h} }
	for _, tc := range []struct {
		name string
		c    maintenance.Change
		want error
		msg  string
	}{
		{"user exists", maintenance.AddUser("alice", hashA), maintenance.ErrInvalid, `user "alice" exists`},
		{"bad user name", maintenance.AddUser("al ice", hashA), maintenance.ErrInvalid, `user name "al ice"`},
		{"empty hash", maintenance.AddUser("carol", ""), maintenance.ErrInvalid, "password hash"},
		{"passwd unknown", maintenance.SetPassword("zed", hashA), maintenance.ErrNotFound, `user "zed"`},
		{"rm unknown", maintenance.RemoveUser("zed"), maintenance.ErrNotFound, `user "zed"`},
		{"token bad hash", maintenance.CreateToken(bad("xyz")), maintenance.ErrInvalid, "hex SHA-256"},
		{"token bad id", maintenance.CreateToken(maintenance.Token{ID: "XY", Hash: strings.Repeat("a", 64)}), maintenance.ErrInvalid, `token ID "XY"`},
		{"revoke unknown token", maintenance.RevokeToken("abcd"), maintenance.ErrNotFound, `token "abcd"`},
		{"link ttl", maintenance.CreateBypass(func() maintenance.BypassLink { l, _ := newLink("*"); return l }(), time.Second), maintenance.ErrInvalid, "ttl 1s"},
		{"link unknown site", maintenance.CreateBypass(func() maintenance.BypassLink { l, _ := newLink("nope.example.com"); return l }(), time.Hour), maintenance.ErrNotFound, `"nope.example.com" is not declared`},
		{"link duplicate id", maintenance.CreateBypass(l, time.Hour), maintenance.ErrInvalid, "exists"},
		{"revoke unknown link", maintenance.RevokeBypass("abcd"), maintenance.ErrNotFound, `bypass link "abcd"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Actor, tc.c.Source = "bob", "cli"
			_, _, err := state.Commit(st, tc.c, now)
			if !errors.Is(err, tc.want) || err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestBypassLinksPrunedAndRemovedWithSite(t *testing.T) {
	st := testState()
	l, _ := newLink("shop.example.com")
	st, _ = commit(t, st, maintenance.CreateBypass(l, time.Hour))
	// An hour later the link has expired: the next change drops it, with
	// no event of its own.
	c := maintenance.AddIgnore("", "/robots.txt", "")
	c.Actor, c.Source = "bob", "cli"
	next, ev, err := state.Commit(st, c, now.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Links) != 0 || len(ev) != 1 || ev[0].Target != "" {
		t.Errorf("expired link: links %+v events %+v", next.Links, ev)
	}
	// Removing a site removes its links.
	next, ev = commit(t, st, maintenance.RemoveSite("shop.example.com"))
	if len(next.Links) != 0 || len(ev) != 2 {
		t.Errorf("site removed: links %+v events %+v", next.Links, ev)
	}
}

func TestSessionValue(t *testing.T) {
	key := state.NewKey()
	st := &maintenance.State{Users: []maintenance.User{{Name: "ops@example.com", Hash: hashA}}}
	v := state.SessionValue(key, &st.Users[0], now.Add(time.Hour))
	if u, ok := state.VerifySession(key, st, v, now); !ok || u.Name != "ops@example.com" {
		t.Errorf("VerifySession: %v %v", u, ok)
	}
	if _, ok := state.VerifySession(key, st, v, now.Add(time.Hour)); ok {
		t.Error("a session is valid at its expiry")
	}
	if strings.Contains(v, hashA) {
		t.Error("the session names the password hash")
	}
}
