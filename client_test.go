package maintenance_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gomaint/maintenance"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, xff string
		want              string
		ok                bool
	}{
		{name: "peer", remote: "192.0.2.1:1234", xff: "203.0.113.9", want: "192.0.2.1", ok: true},
		{name: "through a trusted proxy", remote: "10.0.0.1:1234", xff: "203.0.113.9, 10.0.0.2", want: "203.0.113.9", ok: true},
		{name: "garbage fails closed", remote: "10.0.0.1:1234", xff: "nonsense", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			r.Header.Set("X-Forwarded-For", tt.xff)
			got, ok := maintenance.ClientIP(r, trusted, "")
			if ok != tt.ok || (ok && got.String() != tt.want) {
				t.Errorf("ClientIP = %v, %v; want %s, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
