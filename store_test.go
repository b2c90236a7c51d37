package maintenance_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gomaint/maintenance"
)

func TestCheckUses(t *testing.T) {
	secret, _ := maintenance.NewSecret()
	for _, tc := range []struct {
		name string
		n    map[string]int64
		ok   bool
	}{
		{"Nil", nil, true},
		{"Counts", map[string]int64{"8d1e0f2c": 3, "a": 0, strings.Repeat("f", 32): 1 << 40}, true},
		{"EmptyID", map[string]int64{"": 1}, false},
		{"LongID", map[string]int64{strings.Repeat("f", 33): 1}, false},
		{"SecretAsID", map[string]int64{secret: 1}, false},
		{"Negative", map[string]int64{"8d1e0f2c": -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := maintenance.CheckUses(tc.n)
			if tc.ok {
				if err != nil {
					t.Fatalf("CheckUses(%v) = %v, want nil", tc.n, err)
				}
				return
			}
			if !errors.Is(err, maintenance.ErrInvalid) {
				t.Fatalf("CheckUses(%v) = %v, want an error wrapping %v", tc.n, err, maintenance.ErrInvalid)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the ID given: %v", err)
			}
		})
	}
}
