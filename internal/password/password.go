// Package password hashes and checks the admin users' passwords with
// bcrypt (golang.org/x/crypto/bcrypt). Only the encoded hash is stored.
package password

import (
	"fmt"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/gomaint/maintenance"
)

// Cost is the bcrypt cost of new hashes (about 250 ms on a server core at
// 12). Tests lower it.
var Cost = 12

// Limits of a password, in bytes: bcrypt reads at most 72.
const (
	MinLen = 8
	MaxLen = 72
)

// Hash checks a new password and returns its encoded hash. A password that
// is too short or too long is an error wrapping maintenance.ErrInvalid that
// says what is accepted (and never quotes the password).
func Hash(pw string) (string, error) {
	if len(pw) < MinLen || len(pw) > MaxLen || !utf8.ValidString(pw) {
		return "", fmt.Errorf("%w: the password is %d bytes long; accepted: %d to %d bytes of UTF-8", maintenance.ErrInvalid, len(pw), MinLen, MaxLen)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), Cost)
	if err != nil {
		return "", fmt.Errorf("hashing the password: %w", err)
	}
	return string(h), nil
}

// Check reports whether pw matches the encoded hash, in constant time.
func Check(hash, pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// CheckUser checks pw against u's hash, or spends the time of a check when
// u is nil (an unknown user), and reports whether it matched.
func CheckUser(u *maintenance.User, pw string) bool {
	if u == nil {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(pw))
		return false
	}
	return Check(u.Hash, pw)
}

var dummy struct {
	sync.Mutex
	cost int
	hash []byte
}

// dummyHash is a hash at the current Cost to compare against for unknown
// users, so that a sign-in takes as long for them as for a wrong password.
func dummyHash() []byte {
	dummy.Lock()
	defer dummy.Unlock()
	if dummy.hash == nil || dummy.cost != Cost {
		h, err := bcrypt.GenerateFromPassword([]byte("not anyone's password"), Cost)
		if err != nil {
			panic("password: " + err.Error())
		}
		dummy.hash, dummy.cost = h, Cost
	}
	return dummy.hash
}
