package maintenance

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// benchWriter is a ResponseWriter that keeps its header map between
// requests, so that benchmarks count the gate's allocations, not the
// writer's.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *benchWriter) reset()                      { clear(w.h); w.code, w.n = 0, 0 }

var bare = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })

// benchState has 100 sites (exact and wildcard), 50 ignore patterns and 20
// allow entries; the sites named in on are on.
func benchState(b testing.TB, on ...string) *State {
	var cs []Change
	var sites []string
	for i := range 90 {
		sites = append(sites, fmt.Sprintf("site%d.example.com", i))
	}
	for i := range 10 {
		sites = append(sites, fmt.Sprintf("*.tenant%d.example.net", i))
	}
	cs = append(cs, AddSites(sites...))
	for i := range 50 {
		site := sites[i%len(sites)]
		if i < 25 {
			site = "*"
		}
		var p string
		switch i % 3 {
		case 0:
			p = fmt.Sprintf("/exact/%d", i)
		case 1:
			p = fmt.Sprintf("/prefix%d/*", i)
		default:
			p = fmt.Sprintf("^/re%d/[a-z]+/[0-9]+", i)
		}
		cs = append(cs, AddIgnore(site, p, ""))
	}
	for i := range 20 {
		site := "*"
		if i%2 == 1 {
			site = sites[i]
		}
		cs = append(cs, AddAllow(site, fmt.Sprintf("10.%d.0.0/16", i), ""))
	}
	if len(on) > 0 {
		cs = append(cs, On(on, OnOptions{}))
	}
	return stateOf(b, cs...)
}

func runBench(b *testing.B, h http.Handler, r *http.Request, wantCode int) {
	w := &benchWriter{h: make(http.Header)}
	h.ServeHTTP(w, r)
	if w.code != wantCode {
		b.Fatalf("status = %d, want %d", w.code, wantCode)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, r)
	}
}

func benchRequest(host, path, peer string) *http.Request {
	r := httptest.NewRequest("GET", "http://"+host+path, nil)
	r.Host, r.RemoteAddr = host, peer
	r.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	return r
}

// BenchmarkGate measures the gate against the bare handler. The target:
// maintenance off costs <= 20 ns/op over Bare and 0 allocs/op; the
// maintenance answer <= 2 allocs/op.
func BenchmarkGate(b *testing.B) {
	r := benchRequest("site42.example.com", "/products/17", "198.51.100.9:4242")
	b.Run("Bare", func(b *testing.B) { runBench(b, bare, r, 200) })
	b.Run("Off/AllSitesOff", func(b *testing.B) {
		runBench(b, testGate(b, benchState(b), Options{}).Handler(bare), r, 200)
	})
	b.Run("Off/OtherSitesOn", func(b *testing.B) {
		g := testGate(b, benchState(b, "site1.example.com", "*.tenant3.example.net"), Options{})
		runBench(b, g.Handler(bare), r, 200)
	})
	b.Run("Off/WildcardHost", func(b *testing.B) {
		g := testGate(b, benchState(b, "site1.example.com"), Options{})
		runBench(b, g.Handler(bare), benchRequest("a.b.tenant7.example.net", "/", "198.51.100.9:1"), 200)
	})
	g := testGate(b, benchState(b, "site42.example.com"), Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	b.Run("On/Answer", func(b *testing.B) { runBench(b, g.Handler(bare), r, 503) })
	b.Run("On/AnswerJSON", func(b *testing.B) {
		r := benchRequest("site42.example.com", "/api/x", "198.51.100.9:4242")
		r.Header.Set("Accept", "application/json")
		runBench(b, g.Handler(bare), r, 503)
	})
	b.Run("On/AnswerGerman", func(b *testing.B) {
		r := benchRequest("site42.example.com", "/", "198.51.100.9:4242")
		r.Header.Set("Accept-Language", "de-CH,de;q=0.9,en-US;q=0.8,en;q=0.7")
		runBench(b, g.Handler(bare), r, 503)
	})
	b.Run("On/AnswerFavicon", func(b *testing.B) {
		r := benchRequest("site42.example.com", "/favicon.ico", "198.51.100.9:4242")
		r.Header.Set("Accept", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8")
		r.Header.Set("Sec-Fetch-Dest", "image")
		runBench(b, g.Handler(bare), r, 503)
	})
	b.Run("On/AllowedIP", func(b *testing.B) {
		runBench(b, g.Handler(bare), benchRequest("site42.example.com", "/", "10.18.3.4:1"), 200)
	})
	b.Run("On/AllowedIPViaProxy", func(b *testing.B) {
		r := benchRequest("site42.example.com", "/", "192.0.2.1:1")
		r.Header.Set("X-Forwarded-For", "10.18.3.4, 192.0.2.7")
		runBench(b, g.Handler(bare), r, 200)
	})
	b.Run("On/IgnoredPath", func(b *testing.B) {
		runBench(b, g.Handler(bare), benchRequest("site42.example.com", "/re23/abc/123", "198.51.100.9:1"), 200)
	})
}

// nopObserver counts requests, so that BenchmarkGateObserver measures
// what an Observer costs the gate, not the observer's own work.
type nopObserver struct{ n int }

func (o *nopObserver) Observe(r *http.Request, site string, out Outcome) { o.n++ }

// BenchmarkGateObserver: what Options.Observer adds to the Off and On
// benchmarks of BenchmarkGate (a lookup of the request's site, which the
// off path otherwise skips, and a call).
func BenchmarkGateObserver(b *testing.B) {
	r := benchRequest("site42.example.com", "/products/17", "198.51.100.9:4242")
	opts := Options{Observer: &nopObserver{}}
	b.Run("Off/AllSitesOff", func(b *testing.B) {
		runBench(b, testGate(b, benchState(b), opts).Handler(bare), r, 200)
	})
	b.Run("Off/OtherSitesOn", func(b *testing.B) {
		g := testGate(b, benchState(b, "site1.example.com", "*.tenant3.example.net"), opts)
		runBench(b, g.Handler(bare), r, 200)
	})
	b.Run("Off/WildcardHost", func(b *testing.B) {
		g := testGate(b, benchState(b, "site1.example.com"), opts)
		runBench(b, g.Handler(bare), benchRequest("a.b.tenant7.example.net", "/", "198.51.100.9:1"), 200)
	})
	b.Run("On/Answer", func(b *testing.B) {
		runBench(b, testGate(b, benchState(b, "site42.example.com"), opts).Handler(bare), r, 503)
	})
}

func TestGateOffDoesNotAllocate(t *testing.T) {
	g := testGate(t, benchState(t, "site1.example.com"), Options{})
	h := g.Handler(bare)
	r := benchRequest("SITE42.example.com:443", "/products/17", "198.51.100.9:4242")
	w := &benchWriter{h: make(http.Header)}
	if n := testing.AllocsPerRun(100, func() { w.reset(); h.ServeHTTP(w, r) }); n != 0 {
		t.Errorf("maintenance off: %v allocs per request, want 0", n)
	}
	h = testGate(t, benchState(t, "site1.example.com"), Options{Observer: &nopObserver{}}).Handler(bare)
	if n := testing.AllocsPerRun(100, func() { w.reset(); h.ServeHTTP(w, r) }); n != 0 {
		t.Errorf("maintenance off, with an observer: %v allocs per request, want 0", n)
	}
	g = testGate(t, benchState(t, "site42.example.com"), Options{})
	h = g.Handler(bare)
	if n := testing.AllocsPerRun(100, func() { w.reset(); h.ServeHTTP(w, r) }); n > 2 {
		t.Errorf("maintenance answer: %v allocs per request, want <= 2", n)
	}
}

// manySites returns a state with n exact sites, every tenth one on, each
// with an ignore pattern and an allow entry.
func manySites(b testing.TB, n int) *State {
	st := &State{Version: 1}
	for i := range n {
		s := SiteState{Site: fmt.Sprintf("tenant%05d.example.com", i)}
		if i%10 == 0 {
			s.On, s.Mode, s.Message = true, ModeFull, "upgrading"
			s.Ignore = []Rule{{Value: "^/api/v[0-9]+/health"}, {Value: "/static/*"}}
			s.Allow = []Rule{{Value: fmt.Sprintf("10.%d.%d.0/24", i/256%256, i%256)}}
		}
		st.Sites = append(st.Sites, s)
	}
	st.Normalize()
	return st
}

// BenchmarkBuildSnapshot: the target is 10,000 sites built in <= 100 ms.
func BenchmarkBuildSnapshot(b *testing.B) {
	for _, n := range []int{100, 10000} {
		st := manySites(b, n)
		g := testGate(b, st, Options{})
		b.Run(fmt.Sprintf("sites=%d/cold", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g.cfg.patterns, g.cfg.answers = nil, nil
				buildSnapshot(st, &g.cfg, time.Now())
			}
		})
		// warm: what a gate does after one change, with the previous
		// build's compiled patterns and rendered answers at hand.
		b.Run(fmt.Sprintf("sites=%d/warm", n), func(b *testing.B) {
			b.ReportAllocs()
			buildSnapshot(st, &g.cfg, time.Now())
			for b.Loop() {
				buildSnapshot(st, &g.cfg, time.Now())
			}
		})
	}
}

// BenchmarkLookup shows that finding a request's site does not depend on
// how many sites there are.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{100, 10000} {
		g := testGate(b, manySites(b, n), Options{})
		s := g.snap.Load()
		host := fmt.Sprintf("tenant%05d.example.com:443", n/2+1)
		b.Run(fmt.Sprintf("sites=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if s.site(host) == s.def {
					b.Fatal("wrong site")
				}
			}
		})
	}
}

// BenchmarkDeployErrors: the cost of the deploy-error wrapper when it
// applies (release mismatch); when it does not, the Off benchmarks above
// show the path unchanged.
func BenchmarkDeployErrors(b *testing.B) {
	r := benchRequest("site42.example.com", "/products/17", "198.51.100.9:4242")
	st := benchState(b)
	st, _, _ = commitChange(st, SetRelease("v2"), time.Now())
	g := testGate(b, st, Options{Release: "v1"})
	b.Run("Mismatch/Pass", func(b *testing.B) { runBench(b, g.Handler(bare), r, 200) })
	fail := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	b.Run("Mismatch/Replace500", func(b *testing.B) { runBench(b, g.Handler(fail), r, 503) })
}
