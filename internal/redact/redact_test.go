package redact

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:S3CRET@h:6379/0":                                    "redis://:xxxxx@h:6379/0",
		"redis://u:S3CRET@h/0?prefix=p":                               "redis://u:xxxxx@h/0?prefix=p",
		"redis://h/0?password=S3CRET&prefix=p":                        "redis://h/0?password=xxxxx&prefix=p",
		"redis+sentinel://h/0?master_name=m&sentinel_password=S3CRET": "redis+sentinel://h/0?master_name=m&sentinel_password=xxxxx",
		"host=db password=S3CRET dbname=x":                            "host=db password=xxxxx dbname=x",
		"host=db password = 'S3 \\' CRET' dbname=x":                   "host=db password = xxxxx dbname=x",
		`opening "redis://h/0?pass%77ord=S3CRET": bad`:                `opening "redis://h/0?pass%77ord=xxxxx": bad`,
		"postgres://alice@db/x":                                       "postgres://alice@db/x",
		"sqlite:maintenance.db":                                       "sqlite:maintenance.db",
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

// forms returns the ways a store URL or DSN can carry password pw, each
// written as a person would (escaped where the syntax needs it).
func forms(pw string) []string {
	q := url.QueryEscape(pw)
	ui := url.UserPassword("user", pw).String()
	kv := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'"
	return []string{
		"redis://" + ui + "@127.0.0.1:6379/0",
		"redis://127.0.0.1:6379/0?password=" + q,
		"redis://127.0.0.1:6379/0?prefix=p&password=" + q + "&db=1",
		"redis+sentinel://h1:26379,h2:26379/0?master_name=m&sentinel_password=" + q,
		"rediss+cluster://" + ui + "@h1:7000?addr=h2:7000",
		"postgres://" + ui + "@db:5432/maintenance?schema=s",
		"postgresql://db/maintenance?sslpassword=" + q,
		"host=db user=u password=" + kv + " dbname=maintenance",
		"host=db password = " + kv,
		fmt.Sprintf("opening store %q: bad", "redis://127.0.0.1:6379/0?password="+q),
	}
}

// FuzzRedact checks that a password never survives redaction, in any of
// the forms a store URL can carry it, raw or escaped.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{"S3CRET", "p@ss:w/rd", "it's \"quoted\"", "a b&c=d", "ünïcødé", "%41%42"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		if len(pw) < 4 {
			return // too short to tell from the text around it
		}
		base := forms("QZQZQZQZ")
		for i, form := range forms(pw) {
			out := String(form)
			skeleton := String(base[i])
			for _, secret := range []string{pw, url.QueryEscape(pw), url.PathEscape(pw)} {
				if strings.Contains(out, secret) && !strings.Contains(skeleton, secret) {
					t.Fatalf("password %q survives in String(%q) = %q", pw, form, out)
				}
			}
		}
	})
}
