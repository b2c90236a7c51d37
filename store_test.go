package maintenance_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/state"
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
			err := state.CheckUses(tc.n)
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

func TestEventFilterCheck(t *testing.T) {
	f, err := maintenance.EventFilter{Site: "Shop.Example.COM"}.Check()
	if err != nil || f.Limit != maintenance.DefaultEventLimit || f.Site != "shop.example.com" {
		t.Errorf("Check() = %+v, %v; want the default limit and the canonical site", f, err)
	}
	for _, bad := range []maintenance.EventFilter{{Limit: -1}, {Before: -1}} {
		if _, err := bad.Check(); !errors.Is(err, maintenance.ErrInvalid) {
			t.Errorf("Check(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	e := &maintenance.Event{ID: 5, Site: "shop.example.com", Actor: "alice", Action: "on"}
	for _, tc := range []struct {
		f    maintenance.EventFilter
		want bool
	}{
		{maintenance.EventFilter{}, true},
		{maintenance.EventFilter{Site: "shop.example.com", Actor: "alice", Action: "on", Before: 6}, true},
		{maintenance.EventFilter{Site: "*"}, false},
		{maintenance.EventFilter{Actor: "bob"}, false},
		{maintenance.EventFilter{Action: "off"}, false},
		{maintenance.EventFilter{Before: 5}, false},
	} {
		if got := tc.f.Match(e); got != tc.want || tc.f.Filters() == (tc.f == maintenance.EventFilter{}) {
			t.Errorf("%+v: Match = %v, want %v; Filters = %v", tc.f, got, tc.want, tc.f.Filters())
		}
	}
}
