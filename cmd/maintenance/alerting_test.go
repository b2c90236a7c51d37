package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance/internal/testenv"
)

// TestAlertingRules checks the Prometheus rules of docs/operations.md, the
// file as the document shows it, with promtool: "promtool check rules",
// then "promtool test rules" on the series a real `maintenance serve`
// exports (scraped from its --metrics-listen while a site has been on
// longer than --max-duration), as Prometheus would scrape them for minutes,
// and on series where the gate's snapshot grows old and a webhook fails.
// Every metric the rules name must be among those serve exports.
func TestAlertingRules(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	t.Parallel()
	rules := alertingRulesDoc(t)
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yml")
	if err := os.WriteFile(rulesFile, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	promtoolRun(t, dir, promtool, "check", "rules", rulesFile)

	// What serve exports, the site on with no end for longer than its
	// --max-duration.
	metricsAddr := freePort(t)
	startServe(t, dir, "--upstream", named(t, "app"), "--metrics-listen", metricsAddr, "--max-duration", "1ns")
	cli(t, dir, "on")
	var scraped map[string][]string // metric name: its series
	deadline := time.Now().Add(waitFor)
	for {
		scraped = scrape(t, "http://"+metricsAddr+"/metrics")
		if slices.Contains(scraped["maintenance_site_forgotten"], `maintenance_site_forgotten{site="*"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve's metrics do not say the site is forgotten: %v", scraped["maintenance_site_forgotten"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	var used []string
	for _, name := range regexp.MustCompile(`\bmaintenance_[a-z_]+`).FindAllString(rules, -1) {
		if _, ok := scraped[name]; !ok {
			t.Errorf("docs/operations.md's rules use %s, which serve does not export", name)
		}
		if !slices.Contains(used, name) {
			used = append(used, name)
		}
	}
	if t.Failed() {
		return
	}

	// Scraped every minute for ten minutes, with the labels a scrape adds.
	var real strings.Builder
	for _, name := range used {
		for _, s := range scraped[name] {
			series, value, _ := strings.Cut(s, " ")
			series = withScrapeLabels(series)
			fmt.Fprintf(&real, "      - series: '%s'\n        values: '%sx10'\n", series, value)
		}
	}
	// The scrape's labels, in a series and as an alert's expected labels.
	const series, labels = `{instance="127.0.0.1:9090", job="maintenance"}`, `{instance: "127.0.0.1:9090", job: maintenance}`
	tests := `rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  # serve, as scraped: the site "*" has been on too long.
  - interval: 1m
    input_series:
` + real.String() + `    alert_rule_test:
      - {eval_time: 4m, alertname: MaintenanceForgotten, exp_alerts: []}
      - {eval_time: 6m, alertname: MaintenanceForgotten, exp_alerts: [{exp_labels: {site: "*"}}]}
      - {eval_time: 6m, alertname: MaintenanceGateStale, exp_alerts: []}
      - {eval_time: 6m, alertname: MaintenanceWebhooksFailed, exp_alerts: []}
  # A gate whose snapshot grows old, and a webhook that fails.
  - interval: 1m
    input_series:
      - series: 'maintenance_snapshot_age_seconds` + series + `'
        values: '5 15 45 75'
      - series: 'maintenance_webhooks_failed` + series + `'
        values: '0 0 1 1'
      - series: 'maintenance_site_forgotten{site="*", instance="127.0.0.1:9090", job="maintenance"}'
        values: '0 0 0 0'
    alert_rule_test:
      - {eval_time: 1m, alertname: MaintenanceGateStale, exp_alerts: []}
      - {eval_time: 2m, alertname: MaintenanceGateStale, exp_alerts: [{exp_labels: ` + labels + `}]}
      - {eval_time: 1m, alertname: MaintenanceWebhooksFailed, exp_alerts: []}
      - {eval_time: 2m, alertname: MaintenanceWebhooksFailed, exp_alerts: [{exp_labels: ` + labels + `}]}
      - {eval_time: 3m, alertname: MaintenanceForgotten, exp_alerts: []}
`
	testFile := filepath.Join(dir, "rules_test.yml")
	if err := os.WriteFile(testFile, []byte(tests), 0o644); err != nil {
		t.Fatal(err)
	}
	promtoolRun(t, dir, promtool, "test", "rules", testFile)
}

// alertingRulesDoc returns the YAML block of docs/operations.md's section
// "Alerting on forgotten maintenance".
func alertingRulesDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Alerting on forgotten maintenance\n")
	section, _, _ = strings.Cut(section, "\n## ")
	m := regexp.MustCompile("(?s)\n```yaml\n(.*?\n)```\n").FindStringSubmatch(section)
	if !ok || m == nil {
		t.Fatal("docs/operations.md: no ```yaml block in the section \"Alerting on forgotten maintenance\"")
	}
	return m[1]
}

func promtoolRun(t *testing.T, dir, promtool string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		b, _ := os.ReadFile(args[len(args)-1])
		t.Fatalf("promtool %s: %v\n%s\n%s:\n%s", strings.Join(args, " "), err, out, args[len(args)-1], b)
	}
}

// scrape returns the series of a Prometheus text exposition, by metric
// name: each series as "name{labels} value".
func scrape(t *testing.T, url string) map[string][]string {
	t.Helper()
	status, body := recipeGet(t, url)
	if status != 200 {
		t.Fatalf("%s: %d %q", url, status, body)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		m[name] = append(m[name], line)
	}
	return m
}

// withScrapeLabels adds the instance and job labels of a scrape to a series.
func withScrapeLabels(series string) string {
	const l = `instance="127.0.0.1:9090", job="maintenance"`
	if name, labels, ok := strings.Cut(series, "{"); ok {
		return name + "{" + strings.TrimSuffix(labels, "}") + ", " + l + "}"
	}
	return series + "{" + l + "}"
}
