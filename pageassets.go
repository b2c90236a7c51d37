package maintenance

import (
	"html/template"
	"net/http"
	"strings"
)

// pageSnap is a stored page, compiled: its template parsed and its assets
// ready to serve. Builds reuse it while the page's digest is the same, so a
// page costs its parsing once per change of the page, not per snapshot.
type pageSnap struct {
	tmpl   *template.Template
	assets map[string]*assetBody
}

// assetBody is one asset with its headers, built once: serving it costs
// no allocation. The bytes are the state's own, not a copy.
type assetBody struct {
	data  []byte
	ctype []string
	len   []string
	etag  []string
}

// Headers of every asset: cached briefly and revalidated by ETag, never
// sniffed, and, since an SVG may hold a script, run in a sandbox with
// nothing allowed when opened on its own.
var (
	hdrAssetCache = []string{"public, max-age=60"}
	hdrAssetCSP   = []string{"default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"}
)

// compileAssets turns assets into bodies; etag is the page's digest.
func compileAssets(assets []Asset, etag string) map[string]*assetBody {
	m := make(map[string]*assetBody, len(assets))
	for _, a := range assets {
		t, _ := AssetType(a.Name)
		b := newBody(a.Data)
		m[a.Name] = &assetBody{data: a.Data, ctype: []string{t}, len: b.len, etag: []string{`"` + etag + `"`}}
	}
	return m
}

// compilePage compiles a stored page, or returns the one compiled for the
// same digest by the last build. A page that does not compile (the store
// validated it, so this means a newer writer) is logged and skipped.
func (b *build) compilePage(p *Page) *pageSnap {
	if ps, ok := b.cfg.compiled[p.Digest]; ok {
		b.compiled[p.Digest] = ps
		return ps
	}
	t, err := parsePageTemplate("503.html of "+p.Site, p.Template)
	if err != nil {
		b.cfg.logger.Error("maintenance: skipping a stored page that does not parse", "site", p.Site, "err", err)
		return nil
	}
	etag := p.Digest
	if len(etag) > 16 {
		etag = etag[:16]
	}
	ps := &pageSnap{tmpl: t, assets: compileAssets(p.Assets, etag)}
	b.compiled[p.Digest] = ps
	return ps
}

// template returns the page template of a site: its stored page, else its
// own --templates page, else the stored page of "*", else the --templates
// default, else the built-in page.
func (s *snapshot) template(site string) *template.Template {
	if ps := s.pages[site]; ps != nil {
		return ps.tmpl
	}
	if t, ok := s.local.sites[site]; ok {
		return t
	}
	if ps := s.pages[DefaultSite]; ps != nil {
		return ps.tmpl
	}
	return s.local.forSite(site)
}

// asset finds an asset for a site: in its stored page, then in the stored
// page of "*", then in --templates DIR/assets/.
func (s *snapshot) asset(site, name string) *assetBody {
	if ps := s.pages[site]; ps != nil {
		if a := ps.assets[name]; a != nil {
			return a
		}
	}
	if ps := s.pages[DefaultSite]; ps != nil {
		if a := ps.assets[name]; a != nil {
			return a
		}
	}
	return s.local.assets[name]
}

// serveAsset answers GET/HEAD AssetsPath + NAME with the asset of the
// request's site, whatever the maintenance state: a page's stylesheet is
// never blocked. An unknown name is a 404.
func (g *Gate) serveAsset(w http.ResponseWriter, r *http.Request, s *snapshot) {
	h := w.Header()
	h["X-Content-Type-Options"] = hdrNoSniff
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h["Allow"] = []string{"GET, HEAD"}
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a := s.asset(s.site(r.Host).name, strings.TrimPrefix(r.URL.Path, AssetsPath))
	if a == nil {
		h["Cache-Control"] = hdrNoStore
		http.Error(w, "no such asset", http.StatusNotFound)
		return
	}
	h["Cache-Control"] = hdrAssetCache
	h["Content-Security-Policy"] = hdrAssetCSP
	h["Etag"] = a.etag
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && strings.Contains(inm[0], a.etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h[hdrContentType] = a.ctype
	h["Content-Length"] = a.len
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(a.data)
	}
}
