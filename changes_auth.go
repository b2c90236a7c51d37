package maintenance

import (
	"slices"
	"time"
)

// AddUser returns a change that adds an admin user with an encoded password
// hash. A user that exists is an error wrapping ErrInvalid.
func AddUser(name, hash string) Change {
	at := new(time.Time)
	c := Change{Action: "user add", at: at}
	c.Apply = func(st *State, reason string) error {
		if _, err := ParseUserName(name); err != nil {
			return err
		}
		i, found := slices.BinarySearchFunc(st.Users, name, func(u User, n string) int { return cmpString(u.Name, n) })
		if found {
			return invalidf("user %q exists; to change the password: maintenance user passwd %s", name, name)
		}
		st.Users = slices.Insert(st.Users, i, User{Name: name, Hash: hash, Created: at.UTC().Truncate(time.Millisecond)})
		return nil
	}
	return c
}

// SetPassword returns a change that replaces a user's password hash, which
// ends the user's sessions.
func SetPassword(name, hash string) Change {
	return Change{Action: "user passwd", Apply: func(st *State, reason string) error {
		u := st.user(name)
		if u == nil {
			return notFoundf("user %q does not exist; see the users with: maintenance user ls", name)
		}
		u.Hash = hash
		return nil
	}}
}

// RemoveUser returns a change that removes a user, which ends the user's
// sessions on every gate.
func RemoveUser(name string) Change {
	return Change{Action: "user rm", Apply: func(st *State, reason string) error {
		i := slices.IndexFunc(st.Users, func(u User) bool { return u.Name == name })
		if i < 0 {
			return notFoundf("user %q does not exist; see the users with: maintenance user ls", name)
		}
		st.Users = slices.Delete(st.Users, i, i+1)
		return nil
	}}
}

func (st *State) user(name string) *User {
	for i := range st.Users {
		if st.Users[i].Name == name {
			return &st.Users[i]
		}
	}
	return nil
}

// ValidateLabel checks the label of an API token or a bypass link, as
// CreateToken and CreateBypass do: one line of at most MaxText bytes
// without control or format characters.
func ValidateLabel(label string) error { return validateLine("label", label) }

// CreateToken returns a change that adds an API token. Make the token with
// NewSecret and give t.ID and t.Hash (HashSecret of it); the change stamps
// Created and CreatedBy.
func CreateToken(t Token) Change {
	at := new(time.Time)
	c := Change{Action: "token create", at: at}
	c.Apply = func(st *State, reason string) error {
		if slices.ContainsFunc(st.Tokens, func(x Token) bool { return x.ID == t.ID }) {
			return invalidf("token ID %q exists", t.ID)
		}
		if err := ValidateLabel(t.Label); err != nil {
			return err
		}
		t.Created = at.UTC().Truncate(time.Millisecond)
		st.Tokens = append(st.Tokens, t)
		return nil
	}
	return c
}

// RevokeToken returns a change that removes an API token: every gate and
// API refuses it within the propagation time.
func RevokeToken(id string) Change {
	return Change{Action: "token revoke", Apply: func(st *State, reason string) error {
		i := slices.IndexFunc(st.Tokens, func(t Token) bool { return t.ID == id })
		if i < 0 {
			return notFoundf("token %q does not exist; see the tokens with: maintenance token ls", id)
		}
		st.Tokens = slices.Delete(st.Tokens, i, i+1)
		return nil
	}}
}

// CreateBypass returns a change that adds a bypass link for l.Site (""
// means "*") lasting ttl. Make the secret with NewSecret and give l.ID and
// l.Hash; the change stamps Created and Expires (and the commit CreatedBy).
func CreateBypass(l BypassLink, ttl time.Duration) Change {
	at := new(time.Time)
	c := Change{Action: "bypass create", at: at}
	c.Apply = func(st *State, reason string) error {
		if _, err := ParseBypassTTL(ttl); err != nil {
			return err
		}
		s, err := ruleSite(st, l.Site)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(st.Links, func(x BypassLink) bool { return x.ID == l.ID }) {
			return invalidf("bypass link ID %q exists", l.ID)
		}
		if err := ValidateLabel(l.Label); err != nil {
			return err
		}
		l.Site = s.Site
		l.Created = at.UTC().Truncate(time.Millisecond)
		l.Expires = l.Created.Add(ttl)
		st.Links = append(st.Links, l)
		return nil
	}
	return c
}

// RevokeBypass returns a change that removes a bypass link: its cookies
// and header stop working on every gate within the propagation time.
func RevokeBypass(id string) Change {
	return Change{Action: "bypass revoke", Apply: func(st *State, reason string) error {
		i := slices.IndexFunc(st.Links, func(l BypassLink) bool { return l.ID == id })
		if i < 0 {
			return notFoundf("bypass link %q does not exist (or has expired); see the links with: maintenance bypass ls", id)
		}
		st.Links = slices.Delete(st.Links, i, i+1)
		return nil
	}}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
