package storeurl

import (
	"context"
	"strings"
	"testing"
	"time"
)

// No error of opening a store repeats its password, whatever form the URL
// gives it.
func TestOpenErrorsRedactPasswords(t *testing.T) {
	for _, url := range []string{
		"redis://127.0.0.1:1/0?password=S3CRET&dial_timeout=bogus",
		"redis://127.0.0.1:1/0?password=S3CRET&prefix=",
		"redis://:S3CRET@127.0.0.1:1/0?prefix=bad{prefix}",
		"redis://user:S3CRET@127.0.0.1:1/0",
		"redis+sentinel://127.0.0.1:1/0?master_name=m&sentinel_password=S3CRET&route_randomly=true",
		"redis+sentinel://127.0.0.1:1/0?sentinel_password=S3CRET",
		"redis+cluster://127.0.0.1:1?password=S3CRET&read_only=true",
		"rediss://127.0.0.1:1/0?pass%77ord=S3CRET&prefix=",
		"redis://127.0.0.1:1/0?password=S3CRET",
		"host=db.example.com password=S3CRET dbname=x",
		"host=db.example.com password = 'S3CRET with spaces' dbname=x",
		"postgres://u:S3CRET@127.0.0.1:1/db?schema=BAD",
		"postgres://127.0.0.1:1/db?password=S3CRET&schema=a&schema=b",
		"postgres://127.0.0.1:1/db?sslpassword=S3CRET&connect_timeout=x",
		"postgresql://u:S3CRET@127.0.0.1:1/db?connect_timeout=1",
		"file:",
		"mysql://u:S3CRET@db/x",
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		st, err := Open(ctx, url)
		cancel()
		if err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded", url)
			continue
		}
		if strings.Contains(err.Error(), "S3CRET") {
			t.Errorf("Open(%q): the error shows the password: %v", url, err)
		}
		if r := Redact(url); strings.Contains(r, "S3CRET") {
			t.Errorf("Redact(%q) = %q", url, r)
		}
	}
}
