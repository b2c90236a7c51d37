// Package proxy is the reverse proxy behind `maintenance serve`: it forwards
// the requests a Gate lets through to one upstream web application.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configure a proxy.
type Options struct {
	// Upstream is the application's base URL: http://127.0.0.1:8000.
	Upstream *url.URL
	// TrustedProxies are the peers whose X-Forwarded-For is kept and
	// appended to; from any other peer it is replaced, so the application
	// cannot be lied to through this proxy.
	TrustedProxies []netip.Prefix
	// Transport is used to reach the upstream; nil means a tuned default.
	Transport http.RoundTripper
	// Logger receives upstream errors; nil means slog.Default().
	Logger *slog.Logger
}

// ParseUpstream validates an upstream URL: http or https, with a host, and
// no query or fragment.
func ParseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("upstream %q: accepted: an http:// or https:// URL with a host and no query, like http://127.0.0.1:8000", s)
	}
	return u, nil
}

// NewTransport returns a transport tuned for one busy upstream: many idle
// keep-alive connections, bounded dial and TLS handshake times, no
// compression negotiation (the application's own encoding passes through).
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// New returns a reverse proxy to o.Upstream. The client's Host header is
// kept (applications check it, as Django's ALLOWED_HOSTS does) and
// X-Forwarded-For, -Host and -Proto are set.
func New(o Options) (*httputil.ReverseProxy, error) {
	if o.Upstream == nil {
		return nil, errors.New("proxy: no upstream")
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	transport := o.Transport
	if transport == nil {
		transport = NewTransport()
	}
	target := o.Upstream
	trusted := o.TrustedProxies
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if xff := pr.In.Header["X-Forwarded-For"]; len(xff) > 0 && peerTrusted(pr.In.RemoteAddr, trusted) {
				pr.Out.Header["X-Forwarded-For"] = xff
			}
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
		},
		Transport: transport,
		// Zero, as in Caddy and nginx: an answer with a Content-Length is
		// written when it is complete or the server's buffer is full, in
		// one write. -1 (flush after every write) cost a goroutine, a timer
		// and a second write syscall per request, for the headers alone.
		// Streaming answers (no Content-Length, text/event-stream) are
		// still flushed after every write: ReverseProxy does that itself.
		FlushInterval: 0,
		// Body copy buffers are reused: without a pool each request
		// allocates 32 KiB, most of the garbage of the pass-through.
		BufferPool: bufferPool{},
		ErrorLog:   slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status := http.StatusBadGateway
			if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				status = http.StatusGatewayTimeout
			}
			logger.Error("maintenance: upstream request failed", "host", r.Host, "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
			h := w.Header()
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(status)
			io.WriteString(w, strings.ToLower(http.StatusText(status))+": the application did not answer\n")
		},
	}, nil
}

// copyBufferSize is ReverseProxy's own buffer size.
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}

// bufferPool is the ReverseProxy's pool of body copy buffers. It pools
// array pointers, so that Put does not allocate.
type bufferPool struct{}

func (bufferPool) Get() []byte { return copyBuffers.Get().(*[copyBufferSize]byte)[:] }

func (bufferPool) Put(b []byte) {
	if len(b) == copyBufferSize {
		copyBuffers.Put((*[copyBufferSize]byte)(b))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func peerTrusted(remoteAddr string, trusted []netip.Prefix) bool {
	if len(trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
