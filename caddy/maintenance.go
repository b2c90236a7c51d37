// Package caddymaint is a Caddy module that puts sites into maintenance
// inside Caddy: the maintenance Gate, in-process, as an HTTP handler
// (http.handlers.maintenance) and a `maintenance` Caddyfile directive.
//
//	{
//		order maintenance before redir # the default; only to move it
//	}
//	shop.example.com {
//		maintenance {
//			store postgres://maintenance@db/maintenance
//			site shop.example.com
//			exempt /healthz
//			exempt POST /webhooks/*
//		}
//		reverse_proxy 127.0.0.1:8000
//	}
//
// The client IP is Caddy's own: the server's trusted_proxies and
// client_ip_headers decide it, as for Caddy's remote_ip matchers.
package caddymaint

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/gomaint/maintenance"
	"github.com/gomaint/maintenance/internal/storeurl"
	"github.com/gomaint/maintenance/staffcheck"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("maintenance", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("maintenance", httpcaddyfile.Before, "redir")
}

// Handler is the maintenance gate as a Caddy HTTP handler. Its JSON config:
//
//	{"handler": "maintenance", "store": "sqlite:/var/lib/maintenance.db",
//	 "sites": ["shop.example.com"], "exempt": ["/healthz"],
//	 "templates": "/etc/maintenance/pages", "state_cache": "/var/cache/m.json",
//	 "fail_closed": false, "block_staff": false, "release": "v42",
//	 "staff_check": "http://127.0.0.1:8000/staff-check", "staff_check_ttl": "30s"}
//
// The request it passes on carries the application's Maintenance header
// (maintenance.MaintenanceHeader) while its site is in maintenance or has
// a window announced; a Maintenance header sent by the client is removed.
type Handler struct {
	// Store is the store's URL, as for the CLI's --store:
	// sqlite:PATH, file:PATH, postgres://..., redis://...
	Store string `json:"store,omitempty"`
	// Sites are declared in the store when the gate starts.
	Sites []string `json:"sites,omitempty"`
	// Exempt are paths never blocked, for every site: /exact, /prefix/*,
	// ^regex, optionally after a method.
	Exempt []string `json:"exempt,omitempty"`
	// Templates is a directory of page templates (503.html, HOST/503.html).
	Templates string `json:"templates,omitempty"`
	// StateCache keeps the last state read from the store in this file.
	StateCache string `json:"state_cache,omitempty"`
	// FailClosed answers every request with the page when Caddy starts
	// while the store is unreachable and there is no state cache.
	FailClosed bool `json:"fail_closed,omitempty"`
	// BlockStaff stops admin sessions from passing.
	BlockStaff bool `json:"block_staff,omitempty"`
	// Release is this instance's release ($MAINTENANCE_RELEASE when empty).
	Release string `json:"release,omitempty"`
	// StaffCheck lets the application's own staff through: the absolute
	// URL of a view of the application that answers 2xx for staff's
	// cookies or Authorization (see package staffcheck). Checks go to this
	// URL whatever the request's Host, which is passed on as their Host.
	StaffCheck string `json:"staff_check,omitempty"`
	// StaffCheckTTL is how long an answer is kept per credential (1s to
	// 1h; 30s when 0).
	StaffCheckTTL caddy.Duration `json:"staff_check_ttl,omitempty"`

	store maintenance.Store
	gate  *maintenance.Gate
	staff *staffcheck.Checker
}

// CaddyModule returns the module's information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.maintenance", New: func() caddy.Module { return new(Handler) }}
}

// Provision opens the store and starts the gate. A store that cannot be
// reached is not an error: the gate serves its state cache or its failure
// policy, and connects when it can.
func (h *Handler) Provision(ctx caddy.Context) error {
	if h.Store == "" {
		return fmt.Errorf("maintenance: store: accepted: a store URL, like sqlite:/var/lib/maintenance.db or postgres://host/db")
	}
	opts := maintenance.Options{
		Sites: h.Sites, Exempt: h.Exempt, Templates: h.Templates, StateCache: h.StateCache,
		FailClosed: h.FailClosed, BlockStaff: h.BlockStaff, Release: h.Release, Logger: ctx.Slogger(),
	}
	if h.StaffCheck != "" {
		path, up, err := staffcheck.ParseURL(h.StaffCheck)
		if err != nil {
			return fmt.Errorf("maintenance: staff_check: %w", err)
		}
		staff, err := staffcheck.New(staffcheck.Options{Path: path, Upstream: up, TTL: time.Duration(h.StaffCheckTTL), Logger: ctx.Slogger()})
		if err != nil {
			return fmt.Errorf("maintenance: staff_check_ttl: %w", err)
		}
		h.staff, opts.Bypass = staff, staff.Bypass
	} else if h.StaffCheckTTL != 0 {
		return fmt.Errorf("maintenance: staff_check_ttl without staff_check")
	}
	st, err := storeurl.OpenLazy(ctx, h.Store)
	if err != nil {
		return fmt.Errorf("maintenance: opening the store: %w", err)
	}
	// The client IP is Caddy's (Validate's peer rewrite): no forwarding
	// header is read by the gate itself.
	g, err := maintenance.New(ctx, st, opts)
	if err != nil {
		st.Close()
		return fmt.Errorf("maintenance: %w", err)
	}
	h.store, h.gate = st, g
	return nil
}

// Cleanup stops the gate and closes the store.
func (h *Handler) Cleanup() error {
	if h.gate != nil {
		h.gate.Close()
	}
	if h.staff != nil {
		h.staff.Close()
	}
	if h.store != nil {
		return h.store.Close()
	}
	return nil
}

// next is the rest of Caddy's route, for one request.
type next struct {
	h      caddyhttp.Handler
	remote string // the TCP peer, given back to the route
	err    error
}

// ServeHTTP passes a request the gate lets through on to the route, with
// the application's Maintenance header while its site is in maintenance
// or has a window announced, and never the client's own.
func (n *next) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.RemoteAddr != n.remote {
		r2 := *r
		r2.RemoteAddr = n.remote
		r = &r2
	}
	delete(r.Header, maintenance.MaintenanceHeader)
	if v := maintenance.MaintenanceHeaderFrom(r.Context()); v != nil {
		r.Header[maintenance.MaintenanceHeader] = v
	}
	n.err = n.h.ServeHTTP(w, r)
}

// ServeHTTP runs the request through the gate, in front of the rest of the
// route. The gate sees Caddy's client IP as the peer (Caddy has already
// walked the forwarding headers of its trusted proxies); the route sees the
// request as it came.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, nh caddyhttp.Handler) error {
	n := &next{h: nh, remote: r.RemoteAddr}
	if ip := clientIP(r); ip.IsValid() {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err != nil || ap.Addr().Unmap() != ip {
			r2 := *r
			r2.RemoteAddr = net.JoinHostPort(ip.String(), "0")
			r = &r2
		}
	}
	h.gate.Handler(n).ServeHTTP(w, r)
	return n.err
}

// clientIP returns the client IP that Caddy determined for r.
func clientIP(r *http.Request) netip.Addr {
	s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// UnmarshalCaddyfile reads the directive:
//
//	maintenance [STORE] {
//		store STORE
//		site HOST...
//		exempt [METHOD] PATTERN
//		templates DIR
//		state_cache PATH
//		fail open|closed
//		block_staff
//		release ID
//		staff_check URL
//		staff_check_ttl DURATION
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		h.Store = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "store", "templates", "state_cache", "release", "fail", "staff_check", "staff_check_ttl":
			name := d.Val()
			if !d.NextArg() {
				return d.ArgErr()
			}
			v := d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			switch name {
			case "store":
				h.Store = v
			case "templates":
				h.Templates = v
			case "state_cache":
				h.StateCache = v
			case "release":
				h.Release = v
			case "staff_check":
				if _, _, err := staffcheck.ParseURL(v); err != nil {
					return d.Errf("staff_check: %v", err)
				}
				h.StaffCheck = v
			case "staff_check_ttl":
				ttl, err := caddy.ParseDuration(v)
				if err != nil || ttl < time.Second || ttl > staffcheck.MaxTTL {
					return d.Errf("staff_check_ttl %q: accepted: a duration from 1s to 1h, like 30s", v)
				}
				h.StaffCheckTTL = caddy.Duration(ttl)
			case "fail":
				switch v {
				case "open":
				case "closed":
					h.FailClosed = true
				default:
					return d.Errf("fail %q: accepted: open, closed", v)
				}
			}
		case "site":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				if _, err := maintenance.ParseSite(a); err != nil {
					return d.Errf("site: %v", err)
				}
			}
			h.Sites = append(h.Sites, args...)
		case "exempt":
			args := d.RemainingArgs()
			if len(args) == 0 || len(args) > 2 {
				return d.ArgErr()
			}
			p := strings.Join(args, " ")
			if _, err := maintenance.ParsePattern(p); err != nil {
				return d.Errf("exempt: %v", err)
			}
			h.Exempt = append(h.Exempt, p)
		case "block_staff":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.BlockStaff = true
		default:
			return d.Errf("unknown subdirective %q: accepted: store, site, exempt, templates, state_cache, fail, block_staff, release, staff_check, staff_check_ttl", d.Val())
		}
	}
	if h.Store == "" {
		return d.Err("maintenance needs a store: maintenance STORE_URL, or store STORE_URL in its block")
	}
	return nil
}

func parseCaddyfile(hp httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h := new(Handler)
	err := h.UnmarshalCaddyfile(hp.Dispenser)
	return h, err
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
