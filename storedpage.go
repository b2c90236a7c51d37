package maintenance

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// AssetsPath is where a gate serves the assets of its pages: AssetsPath +
// NAME, for the request's site. It is under ReservedPrefix, so never
// blocked.
const AssetsPath = ReservedPrefix + "assets/"

// MaxPageSize is the most bytes a page may hold: its template and its
// assets together.
const MaxPageSize = 1 << 20

// MaxAssets is the most assets a page may have.
const MaxAssets = 100

// MaxAssetName is the longest asset name, in bytes.
const MaxAssetName = 128

// assetTypes are the asset file extensions accepted, with the content type
// they are served with: stylesheets, images and fonts. No scripts: a page
// is served on the site's own origin.
var assetTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".gif":   "image/gif",
	".webp":  "image/webp",
	".avif":  "image/avif",
	".svg":   "image/svg+xml",
	".ico":   "image/x-icon",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".ttf":   "font/ttf",
	".otf":   "font/otf",
}

// Page is a maintenance page kept in the store (`maintenance page set`):
// every gate serves it for its site, with its assets under AssetsPath,
// within the propagation time.
type Page struct {
	// Site is the declared site the page is for ("*": every site without
	// a page of its own).
	Site string `json:"site"`
	// Template is the html/template of the page, as DIR/503.html holds it.
	Template string `json:"template"`
	// Assets are the files of DIR/assets/, sorted by name.
	Assets []Asset `json:"assets,omitempty"`
	// Digest is the hex SHA-256 of the template and the assets: it names
	// this content (`page show`), and tells gates when it changed.
	Digest string `json:"digest"`
	// SetBy and SetAt say who set the page, and when.
	SetBy string    `json:"set_by,omitempty"`
	SetAt time.Time `json:"set_at,omitzero"`
}

// Asset is one file of a page: a stylesheet, an image or a font.
type Asset struct {
	// Name is its path under AssetsPath: "style.css", "img/logo.png".
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// Size returns the bytes of the page: its template and its assets.
func (p *Page) Size() int {
	n := len(p.Template)
	for _, a := range p.Assets {
		n += len(a.Data)
	}
	return n
}

// digest returns the hex SHA-256 of the page's content.
func (p *Page) digest() string {
	h := sha256.New()
	h.Write([]byte(p.Template))
	for _, a := range p.Assets {
		h.Write([]byte{0})
		h.Write([]byte(a.Name))
		h.Write([]byte{0})
		h.Write(a.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AssetType returns the content type an asset name is served with, and
// false for a name that is not accepted (see ParseAssetName).
func AssetType(name string) (string, bool) {
	t, ok := assetTypes[strings.ToLower(path.Ext(name))]
	return t, ok
}

// ParseAssetName checks an asset's name: 1 to MaxAssetName bytes, segments
// separated by "/", each of ASCII letters, digits, '.', '_' and '-', not
// starting with '.'; and an extension of a stylesheet, an image or a font
// (.css .png .jpg .jpeg .gif .webp .avif .svg .ico .woff .woff2 .ttf .otf).
func ParseAssetName(name string) (string, error) {
	const accepted = "accepted: letters, digits, . _ - and / (no segment starting with .), ending in .css, .png, .jpg, .jpeg, .gif, .webp, .avif, .svg, .ico, .woff, .woff2, .ttf or .otf"
	if name == "" || len(name) > MaxAssetName {
		return "", invalidf("asset name %q: 1 to %d bytes; %s", name, MaxAssetName, accepted)
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg[0] == '.' {
			return "", invalidf("asset name %q: %s", name, accepted)
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				return "", invalidf("asset name %q: %s", name, accepted)
			}
		}
	}
	if _, ok := AssetType(name); !ok {
		return "", invalidf("asset name %q: %s", name, accepted)
	}
	return name, nil
}

// parsePageTemplate parses a page template and executes it once with sample
// data, so that a template that fails does so when it is set, never on a
// request.
func parsePageTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Parse(text)
	if err != nil {
		return nil, invalidf("template %s: %v", name, err)
	}
	if err := checkTemplate(t, name); err != nil {
		return nil, err
	}
	return t, nil
}

// validate checks a page: a declared site (the caller checks that), a
// template that parses and executes, assets with accepted names, each
// once, sorted, and MaxPageSize in all.
func (p *Page) validate() error {
	if c, err := ParseSite(p.Site); err != nil {
		return err
	} else if c != p.Site {
		return invalidf("page site %q is not in canonical form %q", p.Site, c)
	}
	if n := p.Size(); n > MaxPageSize {
		return invalidf("page of %q is %d bytes with its assets; accepted: at most %d (1 MiB)", p.Site, n, MaxPageSize)
	}
	if len(p.Assets) > MaxAssets {
		return invalidf("page of %q has %d assets; accepted: at most %d", p.Site, len(p.Assets), MaxAssets)
	}
	for i, a := range p.Assets {
		if _, err := ParseAssetName(a.Name); err != nil {
			return err
		}
		if i > 0 && p.Assets[i-1].Name >= a.Name {
			return invalidf("page of %q: asset %q is given twice or out of order", p.Site, a.Name)
		}
	}
	if _, err := parsePageTemplate("503.html", p.Template); err != nil {
		return err
	}
	if p.Digest != p.digest() {
		return invalidf("page of %q: the digest does not match its content", p.Site)
	}
	return nil
}

// ReadPageDir reads a page from a directory, for `maintenance page set`:
// DIR/503.html (required) and the files under DIR/assets/ (optional), and
// checks it: the template parses and executes, every asset name is
// accepted (see ParseAssetName), MaxPageSize in all. Errors wrap
// ErrInvalid and name the file.
func ReadPageDir(dir, site string) (*Page, error) {
	s, err := ParseSite(site)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, invalidf("page directory %q: %v", dir, errors.Unwrap(err))
	}
	if !fi.IsDir() {
		return nil, invalidf("page directory %q: not a directory", dir)
	}
	tmpl := filepath.Join(dir, "503.html")
	b, err := readLimited(tmpl)
	if err != nil {
		return nil, err
	}
	p := &Page{Site: s, Template: string(b)}
	if p.Assets, err = readAssets(filepath.Join(dir, "assets")); err != nil {
		return nil, err
	}
	if n := p.Size(); n > MaxPageSize {
		return nil, invalidf("page directory %q: 503.html and assets/ are %d bytes; accepted: at most %d (1 MiB)", dir, n, MaxPageSize)
	}
	if _, err := parsePageTemplate(tmpl, p.Template); err != nil {
		return nil, err
	}
	p.Digest = p.digest()
	return p, nil
}

// readLimited reads a file of at most MaxPageSize bytes.
func readLimited(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, invalidf("%s: %v", name, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, invalidf("%s: not a regular file", name)
	}
	if fi.Size() > MaxPageSize {
		return nil, invalidf("%s is %d bytes; accepted: at most %d (1 MiB) with the rest of the page", name, fi.Size(), MaxPageSize)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, invalidf("%s: %v", name, errors.Unwrap(err))
	}
	return b, nil
}

// readAssets reads the files under dir (absent: none), sorted by name.
// Symbolic links and other special files are refused.
func readAssets(dir string) ([]Asset, error) {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var assets []Asset
	total := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return invalidf("%s: %v", p, errors.Unwrap(err))
		}
		if p == dir {
			if !d.IsDir() {
				return invalidf("%s: not a directory", p)
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		name := filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") {
				return invalidf("asset directory %s: accepted: names not starting with .", p)
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return invalidf("asset %s: not a regular file (symbolic links are not followed)", p)
		}
		if _, err := ParseAssetName(name); err != nil {
			return invalidf("asset %s: %v", p, strings.TrimPrefix(err.Error(), "invalid input: "))
		}
		if len(assets) == MaxAssets {
			return invalidf("%s: more than %d assets", dir, MaxAssets)
		}
		b, err := readLimited(p)
		if err != nil {
			return err
		}
		if total += len(b); total > MaxPageSize {
			return invalidf("%s: the assets are more than %d bytes (1 MiB)", dir, MaxPageSize)
		}
		assets = append(assets, Asset{Name: name, Data: b})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(assets, func(a, b Asset) int { return strings.Compare(a.Name, b.Name) })
	return assets, nil
}

// SetPage returns a change that keeps page p in the store for its site,
// replacing the site's page if it has one. Build p with ReadPageDir.
func SetPage(p *Page) Change {
	return Change{Action: "page set", Apply: func(st *State, reason string) error {
		if p == nil {
			return invalidf("no page")
		}
		if st.Site(p.Site) == nil {
			return notFoundf("site %q is not declared; declare it first with: maintenance sites add %s", p.Site, p.Site)
		}
		np := *p
		np.SetAt = time.Time{}
		i := slices.IndexFunc(st.Pages, func(x Page) bool { return x.Site == p.Site })
		if i >= 0 {
			if st.Pages[i].Digest == np.Digest {
				return nil // the same page: nothing changes
			}
			st.Pages[i] = np
		} else {
			st.Pages = append(st.Pages, np)
		}
		return nil
	}}
}

// RemovePage returns a change that removes the page of a site ("" means
// "*"); the site is then served the page of --templates, or the built-in
// one.
func RemovePage(site string) Change {
	return Change{Action: "page rm", Apply: func(st *State, reason string) error {
		if site == "" {
			site = DefaultSite
		}
		n, err := ParseSite(site)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(st.Pages, func(x Page) bool { return x.Site == n })
		if i < 0 {
			return notFoundf("site %q has no page in the store; see them with: maintenance page show", n)
		}
		st.Pages = slices.Delete(st.Pages, i, i+1)
		return nil
	}}
}

// pageEvents returns one event per page the change set, replaced or
// removed (target "page"), and stamps the new ones' SetBy and SetAt. The
// event names the site; it does not carry the page.
func pageEvents(c Change, now time.Time, cur, next *State) []Event {
	var events []Event
	old := map[string]string{}
	for _, p := range cur.Pages {
		old[p.Site] = p.Digest
	}
	for i := range next.Pages {
		p := &next.Pages[i]
		d, ok := old[p.Site]
		delete(old, p.Site)
		if ok && d == p.Digest {
			continue
		}
		if p.SetAt.IsZero() {
			p.SetBy, p.SetAt = c.Actor, now
		}
		e := newEvent(c, now, next.Version, p.Site, nil, nil)
		e.Target = "page " + p.Digest[:8]
		events = append(events, e)
	}
	for site, d := range old {
		if next.Site(site) == nil {
			continue // removed with its site, whose event says so
		}
		e := newEvent(c, now, next.Version, site, nil, nil)
		e.Target = "page " + d[:8]
		events = append(events, e)
	}
	return events
}
