package maintenance

import (
	"net/http/httptest"
	"testing"
)

func TestAdmits(t *testing.T) {
	st := stateOf(t,
		AddSites("ro.example.com", "full.example.com", "off.example.com"),
		On([]string{"ro.example.com"}, OnOptions{Mode: ptr(ModeReadOnly), Message: ptr("Read-only")}),
		On([]string{"full.example.com"}, OnOptions{Message: ptr("Down")}),
		AddAllow("full.example.com", "192.0.2.9", ""),
	)
	g := testGate(t, st, Options{})
	ws := func(host, peer string) (string, bool) {
		r := httptest.NewRequest("GET", "http://"+host+"/ws", nil)
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Connection", "Upgrade")
		r.RemoteAddr = peer
		s, ok := g.Admits(r)
		return s.Message, ok
	}
	for _, tt := range []struct {
		host, peer string
		msg        string
		ok         bool
	}{
		{"off.example.com", "198.51.100.1:1", "", true},
		{"ro.example.com", "198.51.100.1:1", "Read-only", false},
		{"full.example.com", "198.51.100.1:1", "Down", false},
		{"full.example.com", "192.0.2.9:1", "Down", true},
	} {
		if msg, ok := ws(tt.host, tt.peer); msg != tt.msg || ok != tt.ok {
			t.Errorf("%s from %s: %q %v, want %q %v", tt.host, tt.peer, msg, ok, tt.msg, tt.ok)
		}
	}
}
