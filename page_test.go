package maintenance

import (
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPickLang(t *testing.T) {
	ui := catalogTags
	tests := []struct {
		header string
		tags   []string
		want   string // "" for none
	}{
		{"", ui, ""},
		{"de", ui, "de"},
		{"DE", ui, "de"},
		{"de-CH", ui, "de"},
		{"de_AT", ui, "de"},
		{"zh-Hant-TW", ui, "zh"},
		{"sv", ui, ""},
		{"sv, fr;q=0.5", ui, "fr"},
		{"fr;q=0.5, de;q=0.8", ui, "de"},
		{"fr, de", ui, "fr"},                 // a tie: the first listed
		{"fr;q=0.8, de;q=0.8", ui, "fr"},     // the same
		{"fr;q=0.8, de;q=0.81", ui, "de"},    // three decimals count
		{"de;q=0, en", ui, "en"},             // excluded
		{"en;q=0, de-CH;q=0, *", ui, ""},     // a wildcard picks nothing by itself
		{"de;q=0, de-CH", ui, ""},            // de excluded: de-CH finds nothing
		{"pl;q=garbage, it;q=0.1", ui, "it"}, // a bad q is 0
		{"ja;q=1.5, nl;q=0.9", ui, "nl"},     // so is one over 1... parsed as 0
		{"  es ; q=0.9 ,pt", ui, "pt"},
		{",,,;;;,", ui, ""},
		{"x-klingon, de", ui, "de"},
		{"pt", []string{"pt-BR", "de"}, "pt-BR"}, // a range finds a longer tag
		{"pt-PT, pt-BR;q=0.9", []string{"pt-BR", "pt-PT"}, "pt-PT"},
		{"pt-PT", []string{"pt", "pt-BR"}, "pt"}, // truncated before extended
		{"zh-TW", []string{"zh-Hant", "zh"}, "zh"},
		{"en-GB", []string{"de"}, ""},
	}
	for _, tt := range tests {
		got := ""
		if i := pickLang(tt.header, tt.tags); i >= 0 {
			got = tt.tags[i]
		}
		if got != tt.want {
			t.Errorf("pickLang(%q, %v) = %q, want %q", tt.header, tt.tags, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { pickLang("de-CH,de;q=0.9,en-US;q=0.8,en;q=0.7,fr;q=0", catalogTags) }); n != 0 {
		t.Errorf("pickLang allocates %v times", n)
	}
}

func TestParseLang(t *testing.T) {
	for in, want := range map[string]string{"de": "de", "DE": "de", "pt-br": "pt-BR", "pt_BR": "pt-BR", "zh-hant": "zh-Hant",
		"zh-hant-tw": "zh-Hant-TW", "es-419": "es-419", "sr-Latn-RS": "sr-Latn-RS", "gsw": "gsw", "de-x-ch": "de-x-ch"} {
		got, err := ParseLang(in)
		if err != nil || got != want {
			t.Errorf("ParseLang(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "deut", "1e", "de-", "-de", "de--ch", "de-abcdefghi", "de ch", "dé", "*", "de=", strings.Repeat("ab-", 20) + "ab"} {
		if got, err := ParseLang(in); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "accepted: a language tag") {
			t.Errorf("ParseLang(%q) = %q, %v; want ErrInvalid saying what is accepted", in, got, err)
		}
	}
}

// answerOf serves one request to the gate and returns the recorder.
func answerOf(t *testing.T, g *Gate, app http.Handler, method, accept, lang string, header ...string) (int, http.Header, string) {
	t.Helper()
	h := map[string]string{}
	if lang != "" {
		h["Accept-Language"] = lang
	}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	w := do(g.Handler(app), req{method: method, accept: accept, header: h})
	return w.Code, w.Header(), w.Body.String()
}

var failing = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "Traceback", 500) })

// TestAnswerWording: the page, the problem's title and the text answer say
// what is true for each reason: a read-only site can still be read, a
// deploy is not scheduled maintenance, and a Retry-After of 30 minutes is
// not "a few minutes".
func TestAnswerWording(t *testing.T) {
	headings := map[string]bool{"We’re down for maintenance": true, "We’re down for scheduled maintenance": true, "Changes are paused": true,
		"This is taking longer than expected": true, "We’re updating the site": true}
	const nav = "text/html,application/xhtml+xml,*/*;q=0.8"
	now := time.Now()
	type want struct {
		title string
		in    []string // in the page and the text answer
		not   []string // in none of them
	}
	tests := []struct {
		name    string
		changes []Change
		release string
		app     http.Handler
		method  string
		want    want
	}{
		{"full", []Change{On(nil, OnOptions{})}, "", upstream, "GET", want{"Down for maintenance",
			[]string{"We’re down for maintenance", "Thank you for your patience"}, []string{"scheduled", "few minutes", "not saved"}}},
		{"full, retry after 30m", []Change{On(nil, OnOptions{RetryAfter: ptr(30 * time.Minute)})}, "", upstream, "GET", want{"Down for maintenance",
			[]string{"Expected back in about 30 minutes."}, []string{"scheduled", "few minutes"}}},
		{"full, retry after 2h", []Change{On(nil, OnOptions{RetryAfter: ptr(2 * time.Hour)})}, "", upstream, "GET", want{"Down for maintenance",
			[]string{"Expected back in about 2 hours."}, nil}},
		{"full, a POST", []Change{On(nil, OnOptions{})}, "", upstream, "POST", want{"Down for maintenance",
			[]string{"What you just sent was not saved."}, []string{"may have been saved"}}},
		{"window switched on for 1h", []Change{On(nil, OnOptions{Until: ptr(now.Add(time.Hour))})}, "", upstream, "GET", want{"Down for maintenance",
			[]string{"Expected back by " + now.Add(time.Hour).UTC().Format("2006-01-02 15:04 UTC")}, []string{"scheduled"}}},
		{"scheduled window", []Change{AddWindow("", Window{From: now.Add(-time.Minute), Until: now.Add(time.Hour)})}, "", upstream, "GET",
			want{"Down for scheduled maintenance", []string{"We’re down for scheduled maintenance", "Expected back by "}, nil}},
		{"read-only, a POST", []Change{On(nil, OnOptions{Mode: ptr(ModeReadOnly), RetryAfter: ptr(10 * time.Minute)})}, "", upstream, "POST",
			want{"Read-only during maintenance", []string{"Changes are paused", "You can still browse the site", "was not saved", "Changes can be made again in about 10 minutes."},
				[]string{"Down for maintenance", "back soon", "We’re down"}}},
		{"read-only window, a DELETE", []Change{On(nil, OnOptions{Mode: ptr(ModeReadOnly), Until: ptr(now.Add(time.Hour))})}, "", upstream, "DELETE",
			want{"Read-only during maintenance", []string{"Changes can be made again by "}, []string{"Down for"}}},
		{"hold", []Change{On(nil, OnOptions{Mode: ptr(ModeHold)})}, "", upstream, "GET",
			want{"Briefly unavailable", []string{"This is taking longer than expected"}, []string{"scheduled"}}},
		{"deploy, release mismatch, a POST", []Change{SetRelease("v2")}, "v1", failing, "POST",
			want{"Temporarily unavailable during an update", []string{"We’re updating the site", "may have been saved already"},
				[]string{"scheduled", "Down for maintenance", "not saved"}}},
		{"mode errors, a GET", []Change{On(nil, OnOptions{Mode: ptr(ModeErrors)})}, "", failing, "GET",
			want{"Temporarily unavailable during an update", []string{"We’re updating the site"}, []string{"scheduled", "was not saved", "may have been saved"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testGate(t, stateOf(t, tt.changes...), Options{Release: tt.release, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HoldTimeout: time.Millisecond})
			_, _, page := answerOf(t, g, tt.app, tt.method, nav, "")
			_, _, text := answerOf(t, g, tt.app, tt.method, "text/plain", "")
			code, _, js := answerOf(t, g, tt.app, tt.method, "application/json", "")
			if code < 500 {
				t.Fatalf("status %d", code)
			}
			var p struct{ Title, Reason string }
			if err := json.Unmarshal([]byte(js), &p); err != nil || p.Title != tt.want.title {
				t.Errorf("problem title %q (%v), want %q: %s", p.Title, err, tt.want.title, js)
			}
			if !strings.Contains(page, "<title>"+tt.want.title+"</title>") || !strings.HasPrefix(text, tt.want.title+"\n") {
				t.Errorf("page or text answer lacks the title %q:\n%s", tt.want.title, text)
			}
			page = template.HTMLEscapeString(page) // compare escaped texts as visitors read them
			page = strings.NewReplacer("&amp;rsquo;", "’", "&amp;#39;", "'", "&amp;amp;", "&").Replace(page)
			for _, s := range tt.want.in {
				if !strings.Contains(page, template.HTMLEscapeString(s)) {
					t.Errorf("page lacks %q", s)
				}
				if headings[s] {
					continue // the page's heading; the text answer has the title
				}
				if !strings.Contains(text, s) {
					t.Errorf("text answer lacks %q: %q", s, text)
				}
			}
			for _, s := range tt.want.not {
				if strings.Contains(page, template.HTMLEscapeString(s)) || strings.Contains(text, s) || strings.Contains(js, s) {
					t.Errorf("the answer says %q:\n%s", s, text)
				}
			}
		})
	}
}

// TestAnswerLanguages: the built-in page, the problem and the text answer
// speak the visitor's language; the operator's message is shown in the
// visitor's language when given, else as typed.
func TestAnswerLanguages(t *testing.T) {
	g := testGate(t, stateOf(t, On(nil, OnOptions{Message: ptr("Back at 14:00"), RetryAfter: ptr(30 * time.Minute),
		Messages: map[string]string{"de": "Zurück um 14 Uhr", "pt-br": "De volta às 14h"}})), Options{})
	const nav = "text/html,*/*;q=0.8"
	tests := []struct {
		lang, wantLang, heading, message, messageLang, about string
	}{
		{"", "en", "We’re down for maintenance", "Back at 14:00", "", "about 30 minutes"},
		{"de-CH,de;q=0.9,en;q=0.5", "de", "Wir führen Wartungsarbeiten durch", "Zurück um 14 Uhr", "", "etwa 30 Minuten"},
		{"fr-FR,fr;q=0.9", "fr", "Le site est en maintenance", "Back at 14:00", "", "environ 30 minutes"},
		{"es", "es", "Estamos en mantenimiento", "Back at 14:00", "", "aproximadamente 30 minutos"},
		{"it", "it", "Il sito è in manutenzione", "Back at 14:00", "", "circa 30 minuti"},
		{"pt-BR", "pt", "Estamos em manutenção", "De volta às 14h", "pt-BR", "cerca de 30 minutos"},
		{"nl-BE", "nl", "We zijn bezig met onderhoud", "Back at 14:00", "", "ongeveer 30 minuten"},
		{"pl", "pl", "Trwa przerwa techniczna", "Back at 14:00", "", "około 30 minut"},
		{"ja,en;q=0.5", "ja", "ただいまメンテナンス中です", "Back at 14:00", "", "約30分"},
		{"zh-CN,zh;q=0.9", "zh", "网站正在维护", "Back at 14:00", "", "约30分钟"},
		{"sv, de;q=0.1", "de", "Wir führen Wartungsarbeiten durch", "Zurück um 14 Uhr", "", ""},
		{"sv", "en", "We’re down for maintenance", "Back at 14:00", "", ""},
		{"de;q=0, fr", "fr", "Le site est en maintenance", "Back at 14:00", "", ""},
	}
	for _, tt := range tests {
		code, h, page := answerOf(t, g, upstream, "GET", nav, tt.lang)
		if code != 503 || !strings.Contains(page, `<html lang="`+tt.wantLang+`">`) || !strings.Contains(page, tt.heading) {
			t.Errorf("Accept-Language %q: %d, want lang %q with %q:\n%.400s", tt.lang, code, tt.wantLang, tt.heading, page)
		}
		if got := h.Get("Content-Language"); got != tt.wantLang {
			t.Errorf("Accept-Language %q: Content-Language %q", tt.lang, got)
		}
		if !strings.Contains(page, "Accept-Language") && h.Get("Vary") != "Accept, Accept-Language, Sec-Fetch-Dest" {
			t.Errorf("Vary %q", h.Get("Vary"))
		}
		m := regexp.MustCompile(`<p class="message" id="message" dir="auto"( lang="([^"]*)")?>([^<]*)</p>`).FindStringSubmatch(page)
		if m == nil || m[3] != template.HTMLEscapeString(tt.message) || m[2] != tt.messageLang {
			t.Errorf("Accept-Language %q: message %q, want %q in lang %q", tt.lang, m, tt.message, tt.messageLang)
		}
		if !strings.Contains(page, tt.about) {
			t.Errorf("Accept-Language %q: page lacks %q", tt.lang, tt.about)
		}
		_, _, text := answerOf(t, g, upstream, "GET", "text/plain", tt.lang)
		_, _, js := answerOf(t, g, upstream, "GET", "application/json", tt.lang)
		if !strings.Contains(text, tt.message) || !strings.Contains(js, tt.message) {
			t.Errorf("Accept-Language %q: text or problem lacks %q: %q %q", tt.lang, tt.message, text, js)
		}
	}
	// Only translations: a visitor with none of their languages gets the first.
	g = testGate(t, stateOf(t, On(nil, OnOptions{Messages: map[string]string{"fr": "Retour à 14 h", "de": "Zurück um 14 Uhr"}})), Options{})
	if _, _, page := answerOf(t, g, upstream, "GET", nav, "ja"); !strings.Contains(page, `lang="de">Zurück um 14 Uhr`) {
		t.Errorf("with translations only, a Japanese visitor got:\n%s", page)
	}
	// A scheduled window has its own translations.
	now := time.Now()
	g = testGate(t, stateOf(t, AddWindow("", Window{From: now.Add(-time.Minute), Until: now.Add(time.Hour), Message: "DB upgrade",
		Messages: map[string]string{"DE": "Datenbank-Update"}})), Options{})
	if _, _, page := answerOf(t, g, upstream, "GET", nav, "de"); !strings.Contains(page, ">Datenbank-Update</p>") || !strings.Contains(page, "Geplante Wartungsarbeiten") {
		t.Errorf("a window's message in German:\n%s", page)
	}
	if _, _, err := commitChange(stateOf(t), AddWindow("", Window{From: now, Until: now.Add(time.Hour), Messages: map[string]string{"deutsch": "x"}}), now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a window with a bad language: %v", err)
	}
	// Setting the message alone drops the translations, which would say
	// something else.
	st := stateOf(t, On(nil, OnOptions{Message: ptr("a"), Messages: map[string]string{"de": "b"}}), On(nil, OnOptions{Message: ptr("c")}))
	if m := st.Site("*").Messages; m != nil {
		t.Errorf("translations after a new message: %v", m)
	}
}

func TestMessagesInvalid(t *testing.T) {
	st := stateOf(t)
	for name, m := range map[string]map[string]string{
		"bad tag":   {"deutsch": "x"},
		"empty":     {"de": ""},
		"twice":     {"pt-BR": "a", "pt-br": "b"},
		"too long":  {"de": strings.Repeat("x", MaxText+1)},
		"bad UTF-8": {"de": "\xff"},
		"too many": func() map[string]string {
			m := map[string]string{}
			for i := 0; i <= MaxMessages; i++ {
				m["x"+string(rune('a'+i/26))+string(rune('a'+i%26))] = "x"
			}
			return m
		}(),
	} {
		_, _, err := commitChange(st, On(nil, OnOptions{Messages: m}), time.Now())
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// A stored state with a tag not in canonical form is refused too.
	bad := st.Clone()
	bad.Sites[0].Messages = map[string]string{"pt-br": "x"}
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"pt-BR"`) {
		t.Errorf("Validate: %v", err)
	}
}

// TestStatusReasons: the status endpoint says, for each reason, whether
// this gate serves the page for it now; "on" alone cannot tell a page
// served for a deploy that it is over.
func TestStatusReasons(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		changes []Change
		release string
		on      bool
		reasons []string
	}{
		{"off", nil, "", false, []string{}},
		{"full", []Change{On(nil, OnOptions{})}, "", true, []string{"full"}},
		{"read-only", []Change{On(nil, OnOptions{Mode: ptr(ModeReadOnly)})}, "", true, []string{"read-only"}},
		{"hold", []Change{On(nil, OnOptions{Mode: ptr(ModeHold)})}, "", true, []string{"hold"}},
		{"errors", []Change{On(nil, OnOptions{Mode: ptr(ModeErrors)})}, "", true, []string{"errors"}},
		{"release mismatch, site off", []Change{SetRelease("v2")}, "v1", false, []string{"release"}},
		{"release mismatch, read-only", []Change{SetRelease("v2"), On(nil, OnOptions{Mode: ptr(ModeReadOnly)})}, "v1", true, []string{"read-only", "release"}},
		{"releases match", []Change{SetRelease("v1")}, "v1", false, []string{}},
		{"window announced", []Change{On(nil, OnOptions{From: ptr(now.Add(time.Hour)), Until: ptr(now.Add(2 * time.Hour))})}, "", false, []string{}},
		{"scheduled window now", []Change{AddWindow("", Window{From: now.Add(-time.Minute), Until: now.Add(time.Hour), Mode: ModeReadOnly})}, "", true, []string{"read-only"}},
	}
	for _, tt := range tests {
		g := testGate(t, stateOf(t, tt.changes...), Options{Release: tt.release})
		w := do(g.Handler(upstream), req{path: StatusPath})
		var s struct {
			On      bool
			Reasons []string
		}
		if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || s.On != tt.on || strings.Join(s.Reasons, ",") != strings.Join(tt.reasons, ",") || s.Reasons == nil {
			t.Errorf("%s: status %s (%v), want on %v and reasons %q", tt.name, w.Body, err, tt.on, tt.reasons)
		}
	}
}

// TestAnswerResources: requests for things that are not pages (a favicon,
// an image, a script, a stylesheet, fetch()) get a short text answer with
// the same status and headers, never the HTML page.
func TestAnswerResources(t *testing.T) {
	g := testGate(t, stateOf(t, On(nil, OnOptions{RetryAfter: ptr(5 * time.Minute), Status: ptr(503)})), Options{})
	tests := []struct{ name, accept, dest string }{
		{"favicon, Chrome", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", "image"},
		{"image, Firefox", "image/avif,image/webp,*/*", "image"},
		{"script", "*/*", "script"},
		{"stylesheet", "text/css,*/*;q=0.1", "style"},
		{"font", "*/*", "font"},
		{"fetch", "*/*", "empty"},
		{"image, no Sec-Fetch-Dest", "image/webp,image/*,*/*;q=0.8", ""},
		{"stylesheet, no Sec-Fetch-Dest", "text/css,*/*;q=0.1", ""},
	}
	_, page, _ := answerOf(t, g, upstream, "GET", "text/html", "")
	for _, tt := range tests {
		code, h, body := answerOf(t, g, upstream, "GET", tt.accept, "", "Sec-Fetch-Dest", tt.dest)
		if code != 503 || h.Get("Content-Type") != "text/plain; charset=utf-8" || len(body) > 300 || strings.Contains(body, "<") {
			t.Errorf("%s: %d %q, %d bytes: %q", tt.name, code, h.Get("Content-Type"), len(body), body)
		}
		for _, k := range []string{"Retry-After", "Cache-Control", "Vary", "X-Content-Type-Options"} {
			if h.Get(k) != page.Get(k) || h.Get(k) == "" {
				t.Errorf("%s: %s %q, the page's %q", tt.name, k, h.Get(k), page.Get(k))
			}
		}
	}
	// A document still gets the page.
	if _, h, _ := answerOf(t, g, upstream, "GET", "text/html,*/*;q=0.8", "", "Sec-Fetch-Dest", "document"); h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("a document got %q", h.Get("Content-Type"))
	}
}

// TestPageRefreshAndReload: the <noscript> refresh is capped, and a page
// that answers a request that is not GET or HEAD has none and never
// reloads by itself.
func TestPageRefreshAndReload(t *testing.T) {
	refresh := regexp.MustCompile(`http-equiv="refresh" content="(\d+)"`)
	for _, tt := range []struct {
		retry  time.Duration
		method string
		want   string // "" for no refresh
	}{
		{30 * time.Minute, "GET", "300"},
		{168 * time.Hour, "GET", "300"},
		{2 * time.Minute, "GET", "120"},
		{5 * time.Second, "GET", "30"},
		{0, "GET", "60"},
		{30 * time.Minute, "POST", ""},
		{0, "PUT", ""},
	} {
		o := OnOptions{}
		if tt.retry > 0 {
			o.RetryAfter = &tt.retry
		}
		g := testGate(t, stateOf(t, On(nil, o)), Options{})
		_, _, page := answerOf(t, g, upstream, tt.method, "text/html", "")
		got := ""
		if m := refresh.FindStringSubmatch(page); m != nil {
			got = m[1]
		}
		if got != tt.want {
			t.Errorf("%s with Retry-After %v: refresh %q, want %q", tt.method, tt.retry, got, tt.want)
		}
		unsafe := tt.method != "GET"
		if strings.Contains(page, "unsafe =  true") != unsafe || unsafe && (!strings.Contains(page, `<a href="/" id="home">`) || strings.Contains(page, `id="reloads"`)) {
			t.Errorf("%s: the page does not offer a way back instead of reloading", tt.method)
		}
	}
}

// TestPageEndsAt: a custom template that prints .EndsAt prints nothing when
// no end is set, and one that uses it unguarded fails at start.
func TestPageEndsAt(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("503.html", `[{{.EndsAt}}]{{with .EndsAt}}({{.Format "15:04"}}){{end}}{{if .EndsAt}}until{{end}} {{.Lang}} {{.Reason}} {{.Title}}`)
	until := time.Now().Add(time.Hour)
	for _, tt := range []struct {
		o    OnOptions
		want string
	}{
		{OnOptions{}, "[] en full Down for maintenance"},
		{OnOptions{Until: &until}, "[" + until.UTC().Format(time.RFC3339) + "](" + until.UTC().Format("15:04") + ")until en full Down for maintenance"},
	} {
		g := testGate(t, stateOf(t, On(nil, tt.o)), Options{Templates: dir})
		if _, _, page := answerOf(t, g, upstream, "GET", "text/html", ""); page != tt.want {
			t.Errorf("custom page %q, want %q", page, tt.want)
		}
	}
	write("503.html", `back at {{.EndsAt.Format "15:04"}}`)
	if _, _, err := newGate(nil, Options{Templates: dir}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "503.html") {
		t.Errorf("a template that uses .EndsAt unguarded: %v", err)
	}
}

// FuzzPickLang: any Accept-Language header picks a valid tag or none,
// without panicking.
func FuzzPickLang(f *testing.F) {
	for _, s := range []string{"de-CH,de;q=0.9,en;q=0.8", "*;q=0", "x-a-b-c", "zh-Hant-TW;q=0.1, ja", ";;q=1.0,", "de_de;q=.5"} {
		f.Add(s)
	}
	tags := append(slicesClone(catalogTags), "pt-BR", "zh-Hant")
	f.Fuzz(func(t *testing.T, h string) {
		if i := pickLang(h, tags); i < -1 || i >= len(tags) {
			t.Fatalf("pickLang(%q) = %d", h, i)
		}
		if i := pickLang(h, catalogTags); i >= 0 && !strings.Contains(strings.ToLower(strings.ReplaceAll(h, "_", "-")), catalogTags[i]) {
			t.Fatalf("pickLang(%q) picked %q, which the header does not name", h, catalogTags[i])
		}
		if tag, err := ParseLang(h); err == nil {
			if again, err := ParseLang(tag); err != nil || again != tag {
				t.Fatalf("ParseLang(%q) = %q, then %q, %v", h, tag, again, err)
			}
		}
	})
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }
