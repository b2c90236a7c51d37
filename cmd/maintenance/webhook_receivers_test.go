//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gomaint/maintenance/internal/testenv"
)

// TestWebhookDjangoReceiver runs the Django view of docs/webhooks.md, the
// code as the document shows it, in a real Django project under gunicorn,
// and has `maintenance webhook test` post a signed event to it: the view
// accepts the webhook whose secret it has (the test is delivered) and
// refuses one signed with another secret (403).
func TestWebhookDjangoReceiver(t *testing.T) {
	needDjango(t)
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "webhooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)And in a Django view:\n\n```python\n(.*?\n)```\n").FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/webhooks.md has no ```python block after \"And in a Django view:\"")
	}
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	if err := os.Mkdir(app, 0o755); err != nil {
		t.Fatal(err)
	}
	makeDjango(t, app) // the project; its migration is not needed
	const secret = "a-shared-secret-of-the-receiver"
	writeFiles(t, app, map[string]string{
		"mysite/hooks.py": string(m[1]),
		"mysite/urls.py": `from django.urls import path

from mysite.hooks import maintenance_hook

urlpatterns = [path("hooks/maintenance", maintenance_hook)]
`,
	})
	appendFile(t, filepath.Join(app, "mysite", "settings.py"), "\nMAINTENANCE_WEBHOOK_SECRET = "+`"`+secret+`"`+"\n")
	addr := freePort(t)
	startApp(t, app, append(os.Environ(), "HOME="+dir), "exec gunicorn mysite.wsgi --bind "+addr, addr)

	webhookReceiverCases(t, dir, "http://"+addr+"/hooks/maintenance", secret, "answered 403")
}

// TestWebhookGoReceiver builds the Go receiver of docs/webhooks.md, the
// code as the document shows it in a program of its own, and has
// `maintenance webhook test` post signed events to it: it accepts the
// webhook whose secret it has and refuses one signed with another (401).
func TestWebhookGoReceiver(t *testing.T) {
	goCmd := testenv.Binary(t, "go")
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "webhooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)A receiver in Go:\n\n```go\n(.*?\n)```\n").FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/webhooks.md has no ```go block after \"A receiver in Go:\"")
	}
	dir := t.TempDir()
	src := `package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
` + string(m[1]) + `	http.ListenAndServe(os.Args[1], nil)
}
`
	writeFiles(t, dir, map[string]string{"receiver/main.go": src, "receiver/go.mod": "module receiver\n\ngo 1.22\n"})
	recipeRun(t, filepath.Join(dir, "receiver"), []string{"GOWORK=off"}, goCmd, "build", "-o", filepath.Join(dir, "receiver-bin"), ".")
	const secret = "a-shared-secret-of-the-receiver"
	addr := freePort(t)
	startApp(t, dir, append(os.Environ(), "WEBHOOK_SECRET="+secret), "exec ./receiver-bin "+addr, addr)
	webhookReceiverCases(t, dir, "http://"+addr+"/hooks/maintenance", secret, "answered 401")
}

// webhookReceiverCases adds two webhooks to the receiver at url, one with
// its secret and one with another, and checks that the receiver accepts
// the first's test event and refuses the second's with the answer refused.
func webhookReceiverCases(t *testing.T, dir, url, secret, refused string) {
	t.Helper()
	cli(t, dir, "init")
	add := func(secret string) string {
		t.Helper()
		cmd := exec.Command("maintenance", "--store", "sqlite:"+filepath.Join(dir, "m.db"), "webhook", "add", url, "--secret-stdin")
		cmd.Stdin = strings.NewReader(secret + "\n")
		out, err := cmd.CombinedOutput()
		id := regexp.MustCompile(`webhook ([0-9a-f]{8}) added`).FindSubmatch(out)
		if err != nil || id == nil {
			t.Fatalf("maintenance webhook add: %v\n%s", err, out)
		}
		return string(id[1])
	}
	test := func(id string) (string, error) {
		out, err := exec.Command("maintenance", "--store", "sqlite:"+filepath.Join(dir, "m.db"), "webhook", "test", id).CombinedOutput()
		return string(out), err
	}
	good := add(secret)
	if out, err := test(good); err != nil || !strings.Contains(out, "test delivered") {
		t.Errorf("the receiver refuses a webhook signed with its secret: %v\n%s", err, out)
	}
	bad := add("another-secret-the-view-does-not-have")
	if out, err := test(bad); err == nil || !strings.Contains(out, refused) {
		t.Errorf("the receiver accepts a webhook signed with another secret: %v\n%s", err, out)
	}
}
