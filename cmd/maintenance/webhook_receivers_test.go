//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestWebhookDjangoReceiver runs the Django view of docs/webhooks.md, the
// code as the document shows it, in a real Django project under gunicorn,
// and has `maintenance webhook test` post a signed event to it: the view
// accepts the webhook whose secret it has (the test is delivered) and
// refuses one signed with another secret (403).
func TestWebhookDjangoReceiver(t *testing.T) {
	needDjango(t)
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

	cli(t, dir, "init")
	add := func(secret string) string {
		t.Helper()
		cmd := exec.Command("maintenance", "--store", "sqlite:"+filepath.Join(dir, "m.db"), "webhook", "add", "http://"+addr+"/hooks/maintenance", "--secret-stdin")
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
		t.Errorf("the view refuses a webhook signed with its secret: %v\n%s", err, out)
	}
	bad := add("another-secret-the-view-does-not-have")
	if out, err := test(bad); err == nil || !strings.Contains(out, "answered 403") {
		t.Errorf("the view accepts a webhook signed with another secret: %v\n%s", err, out)
	}
}
