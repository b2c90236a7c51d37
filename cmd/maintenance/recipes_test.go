//go:build unix

package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomaint/maintenance/internal/testenv"
)

// TestRecipes runs the deploy recipes of docs/recipes.md ("Behind serve")
// as the document writes them: for each framework, the smallest real
// application is made in a temporary directory, started with the command
// of the recipe's table, put behind `maintenance serve` started with the
// document's own command line, and the recipe's deploy step is run as
// written. The application's migration itself asks the site for its page
// while it runs and records the status it got: the test checks that the
// migration ran (its table holds the record), that the site answered 503
// while it ran, and that the application answers again after. Only the
// addresses are the test's own (loopback ports instead of 8000 and 8080).
// A framework whose tools are not installed is skipped with a message
// (a failure under MAINTENANCE_TEST_REQUIRE=1).
func TestRecipes(t *testing.T) {
	doc := recipesDoc(t)
	serveLine := doc.serve
	for _, app := range recipeApps {
		t.Run(app.name, func(t *testing.T) {
			row, ok := doc.rows[app.name]
			if !ok {
				t.Fatalf("docs/recipes.md has no %s row in its table of applications behind serve", app.name)
			}
			app.need(t)
			t.Parallel()
			runRecipe(t, app, row, serveLine, doc.readme)
		})
	}
}

// recipeRow is one row of the table of docs/recipes.md: how the application
// runs, and its deploy step.
type recipeRow struct{ server, deploy string }

type recipeDocument struct {
	serve  string               // the serve command line
	rows   map[string]recipeRow // by application
	readme string               // README.md's deploy step
}

// The application's address in the document, and serve's.
const (
	recipeAppAddr   = "127.0.0.1:8000"
	recipeAppPort   = "8000"
	recipeServeAddr = ":8080"
)

var (
	recipeRowRE  = regexp.MustCompile("(?m)^\\| (\\w+) \\| ([^|]*) \\| `([^`|]+)` \\|$")
	recipeCodeRE = regexp.MustCompile("`([^`]+)`")
	recipeServe  = regexp.MustCompile("(?m)^```sh\n(maintenance serve [^\n]*)\n```$")
)

// recipesDoc reads the commands of docs/recipes.md's section "Behind serve".
func recipesDoc(t *testing.T) recipeDocument {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "recipes.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Behind `serve`\n")
	end := strings.Index(text, "\n## With forward auth\n")
	if start < 0 || end < start {
		t.Fatal("docs/recipes.md has no section \"Behind `serve`\" followed by \"With forward auth\"")
	}
	section := text[start:end]
	d := recipeDocument{rows: map[string]recipeRow{}}
	m := recipeServe.FindStringSubmatch(section)
	if m == nil {
		t.Fatal("docs/recipes.md, Behind serve: no ```sh block with a maintenance serve command")
	}
	d.serve = m[1]
	for _, m := range recipeRowRE.FindAllStringSubmatch(section, -1) {
		code := recipeCodeRE.FindStringSubmatch(m[2])
		if code == nil {
			t.Fatalf("docs/recipes.md: the %s row names no command the application runs on: %q", m[1], m[2])
		}
		d.rows[m[1]] = recipeRow{server: code[1], deploy: m[3]}
	}
	b, err = os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m = regexp.MustCompile("(?m)^```sh\n(maintenance run [^\n]*)\n```$").FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("README.md has no ```sh block with a maintenance run command")
	}
	d.readme = m[1]
	if len(d.rows) != len(recipeApps) {
		t.Errorf("docs/recipes.md's table has %d applications, the test knows %d: add the new one to recipeApps", len(d.rows), len(recipeApps))
	}
	return d
}

// recipeApp makes the smallest application of a framework whose migration
// creates the table deploys and records in it the status the site answered.
type recipeApp struct {
	name string
	// need skips the test when a tool is missing.
	need func(t *testing.T)
	// make writes the application into dir; it returns the environment
	// its commands need, beyond PATH and HOME.
	make func(t *testing.T, dir string) []string
	// seen returns the statuses the migration recorded.
	seen func(t *testing.T, dir string) []int
	// page is in the application's answer to GET / after the deploy.
	page string
}

var recipeApps = []recipeApp{
	{name: "Django", need: needDjango, make: makeDjango, seen: sqliteSeen("db.sqlite3", "shop_deploy"), page: "The install worked successfully!"},
	{name: "Rails", need: needRails, make: makeRails, seen: sqliteSeen("db/development.sqlite3", "deploys"), page: "Ruby on Rails"},
	{name: "Laravel", need: needLaravel, make: makeLaravel, seen: sqliteSeen("database/database.sqlite", "deploys"), page: "shop: 1 deploys"},
	{name: "Node", need: needNode, make: makeNode, seen: nodeSeen, page: "shop: 1 deploys"},
}

// recipeStart bounds the start of an application (Rails takes seconds on a
// loaded machine); recipeDeploy bounds the deploy step.
const (
	recipeStart  = 90 * time.Second
	recipeDeploy = 3 * time.Minute
)

// runRecipe runs a recipe; and README.md's deploy step (readme), when it
// runs the same command as this recipe's.
func runRecipe(t *testing.T, app recipeApp, row recipeRow, serveLine, readme string) {
	dir := t.TempDir()
	appDir := filepath.Join(dir, "app")
	if err := os.Mkdir(appDir, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+filepath.Join(dir, "home"), "MAINTENANCE_STORE=sqlite:"+filepath.Join(dir, "m.db"))
	env = append(env, app.make(t, appDir)...)

	// The application, on a port of the test's instead of 8000.
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	// The command names the address, or the port; else the application
	// listens on $PORT (8000 by default).
	server := row.server
	switch {
	case strings.Contains(server, recipeAppAddr):
		server = strings.Replace(server, recipeAppAddr, addr, 1)
	case strings.Contains(server, " "+recipeAppPort):
		server = strings.Replace(server, " "+recipeAppPort, " "+port, 1)
	}
	startApp(t, appDir, append(env, "PORT="+port), server, addr)

	// serve in front of it, as the document starts it.
	line := recipeReplace(t, serveLine, "--listen "+recipeServeAddr, "--listen 127.0.0.1:0")
	line = recipeReplace(t, line, "http://"+recipeAppAddr, "http://"+addr)
	if strings.ContainsAny(line, `"'$\`) {
		t.Fatalf("the serve command of docs/recipes.md needs a shell: %s", line)
	}
	s := startServeCmd(t, dir, strings.Fields(line))
	site := "http://" + s.addr + "/"
	if status, body := recipeGet(t, site); status == http.StatusServiceUnavailable {
		t.Fatalf("before the deploy: %d %q", status, body)
	}

	// The deploy step, as written, in the application's directory.
	ctx, cancel := context.WithTimeout(context.Background(), recipeDeploy)
	defer cancel()
	deploy := exec.CommandContext(ctx, "sh", "-c", row.deploy)
	deploy.Dir = appDir
	deploy.Env = append(env, "SHOP_URL="+site)
	out, err := deploy.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", row.deploy, err, out)
	}
	if got := app.seen(t, appDir); len(got) != 1 || got[0] != http.StatusServiceUnavailable {
		t.Errorf("%s: the migration saw the site answer %v, want [503] (the maintenance page while it ran)\n%s", row.deploy, got, out)
	}
	// Back: the application answers, its migration applied.
	recipeBack(t, site, app.page, row.deploy)

	// README.md's deploy step names the commit it deploys, with git.
	_, command, _ := strings.Cut(row.deploy, " -- ")
	if _, readmeCommand, _ := strings.Cut(readme, " -- "); readmeCommand != command {
		return
	}
	testenv.Binary(t, "git")
	recipeRun(t, appDir, nil, "git", "init", "-q")
	recipeRun(t, appDir, nil, "git", "add", ".")
	recipeRun(t, appDir, nil, "git", "-c", "user.name=Deployer", "-c", "user.email=deployer@example.com", "commit", "-q", "-m", "shop")
	deploy = exec.CommandContext(ctx, "sh", "-c", readme)
	deploy.Dir = appDir
	deploy.Env = append(env, "SHOP_URL="+site)
	if out, err := deploy.CombinedOutput(); err != nil {
		t.Fatalf("README.md: %s: %v\n%s", readme, err, out)
	}
	head, err := exec.Command("git", "-C", appDir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command("maintenance", "--store", "sqlite:"+filepath.Join(dir, "m.db"), "log", "--limit", "1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "deploy "+strings.TrimSpace(string(head))) {
		t.Errorf("README.md: %s: the log does not give the reason \"deploy %s\": %v\n%s", readme, strings.TrimSpace(string(head)), err, out)
	}
	recipeBack(t, site, app.page, "README.md's "+readme)
}

// recipeBack waits until the site answers 200 with page, as the gates
// follow the store.
func recipeBack(t *testing.T, site, page, after string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		status, body := recipeGet(t, site)
		if status == http.StatusOK && strings.Contains(body, page) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d %q, want 200 with %q", after, status, recipeShort(body), page)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recipeReplace replaces old, which s must contain, with new.
func recipeReplace(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("docs/recipes.md: %q does not contain %q", s, old)
	}
	return strings.Replace(s, old, new, 1)
}

func recipeGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func recipeShort(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// startApp runs the shell command line in dir, in a process group of its
// own that is stopped when the test ends, and waits until addr accepts
// connections.
func startApp(t *testing.T, dir string, env []string, line, addr string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("%s:\n%s", line, out.String())
		}
	})
	deadline := time.Now().Add(recipeStart)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited: %s", line, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after %s", line, addr, recipeStart)
		}
	}
}

// sqliteSeen reads the statuses recorded in a table of a SQLite database.
func sqliteSeen(file, table string) func(t *testing.T, dir string) []int {
	return func(t *testing.T, dir string) []int {
		t.Helper()
		path := filepath.Join(dir, file)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("no database: %v", err)
		}
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query("SELECT seen FROM " + table)
		if err != nil {
			t.Fatalf("%s: %v (the migration did not run)", file, err)
		}
		defer rows.Close()
		var seen []int
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			seen = append(seen, n)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return seen
	}
}

// needTool skips the test unless the shell command line succeeds.
func needTool(t *testing.T, what, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "sh", "-c", line).CombinedOutput(); err != nil {
		testenv.Missing(t, what, fmt.Sprintf("%s: %v %s", line, err, strings.TrimSpace(string(out))))
	}
}

// Django: django-admin startproject, gunicorn, and an application whose
// migration records what the site answered.

// djangoPython is the python3 that has Django (manage.py runs
// "/usr/bin/env python3"): the first of PATH, or Debian's.
func djangoPython(t *testing.T) string {
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if err := exec.Command(p, "-c", "import django").Run(); err == nil {
			if abs, err := exec.LookPath(p); err == nil {
				return abs
			}
		}
	}
	return ""
}

func needDjango(t *testing.T) {
	testenv.Binary(t, "django-admin")
	testenv.Binary(t, "gunicorn")
	if djangoPython(t) == "" {
		testenv.Missing(t, "Django (python3-django)", "no python3 imports django")
	}
}

func makeDjango(t *testing.T, dir string) []string {
	t.Helper()
	// manage.py runs the python3 of PATH: make it the one with Django.
	bin := filepath.Join(filepath.Dir(dir), "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(djangoPython(t), filepath.Join(bin, "python3")); err != nil {
		t.Fatal(err)
	}
	recipeRun(t, dir, nil, "django-admin", "startproject", "mysite", ".")
	writeFiles(t, dir, map[string]string{
		"shop/__init__.py":            "",
		"shop/migrations/__init__.py": "",
		"shop/migrations/0001_initial.py": `import os
import urllib.error
import urllib.request

from django.db import migrations, models


def probe(apps, schema_editor):
    try:
        status = urllib.request.urlopen(os.environ["SHOP_URL"], timeout=10).status
    except urllib.error.HTTPError as e:
        status = e.code
    apps.get_model("shop", "Deploy").objects.create(seen=status)


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel("Deploy", [("id", models.AutoField(primary_key=True)), ("seen", models.IntegerField())]),
        migrations.RunPython(probe),
    ]
`,
	})
	appendFile(t, filepath.Join(dir, "mysite", "settings.py"), "\nINSTALLED_APPS += [\"shop\"]\n")
	return []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
}

// Rails: rails new with Debian's gems (no network: --skip-bundle, and a
// Gemfile of the gems installed), Puma, and a migration that records what
// the site answered.

func needRails(t *testing.T) {
	testenv.Binary(t, "rails")
	testenv.Binary(t, "puma")
	needTool(t, "the Ruby gems sqlite3 and puma (ruby-sqlite3, puma)", `ruby -e 'require "sqlite3"; require "puma"'`)
}

func makeRails(t *testing.T, dir string) []string {
	t.Helper()
	recipeRun(t, dir, nil, "rails", "new", ".", "--name", "shop", "--minimal", "--skip-bundle", "--skip-git", "--skip-test", "--skip-sprockets", "--quiet")
	writeFiles(t, dir, map[string]string{
		"Gemfile": "source 'https://rubygems.org'\ngem 'rails'\ngem 'sqlite3'\ngem 'puma'\n",
		"db/migrate/20260101000000_create_deploys.rb": `require "net/http"

class CreateDeploys < ActiveRecord::Migration[6.1]
  def up
    create_table :deploys do |t|
      t.integer :seen
    end
    status = Net::HTTP.get_response(URI(ENV.fetch("SHOP_URL"))).code.to_i
    execute "INSERT INTO deploys (seen) VALUES (#{status})"
  end
end
`,
	})
	// The development environment watches files with the listen gem, which
	// the minimal Gemfile leaves out.
	dev := filepath.Join(dir, "config", "environments", "development.rb")
	b, err := os.ReadFile(dev)
	if err != nil {
		t.Fatal(err)
	}
	watcher := regexp.MustCompile(`(?m)^\s*config\.file_watcher = .*$`)
	if err := os.WriteFile(dev, watcher.ReplaceAll(b, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return nil
}

// Laravel: the smallest application on Debian's Illuminate framework (the
// skeleton's artisan, server.php and public/index.php, and the framework's
// service providers), and a migration that records what the site answered.

func needLaravel(t *testing.T) {
	testenv.Binary(t, "php")
	needTool(t, "Laravel (php-laravel-framework) with SQLite (php-sqlite3)",
		`php -r 'require "Illuminate/autoload.php"; exit(class_exists("Illuminate\\Foundation\\Application") && extension_loaded("pdo_sqlite") ? 0 : 1);'`)
}

func makeLaravel(t *testing.T, dir string) []string {
	t.Helper()
	for _, d := range []string{"bootstrap/cache", "storage/framework/views", "storage/logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFiles(t, dir, map[string]string{
		"database/database.sqlite": "",
		"artisan": `#!/usr/bin/env php
<?php
require 'Illuminate/autoload.php';
$app = require __DIR__.'/bootstrap/app.php';
$kernel = $app->make(Illuminate\Contracts\Console\Kernel::class);
$status = $kernel->handle($input = new Symfony\Component\Console\Input\ArgvInput, new Symfony\Component\Console\Output\ConsoleOutput);
$kernel->terminate($input, $status);
exit($status);
`,
		"server.php": `<?php
$uri = urldecode(parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH));
if ($uri !== '/' && file_exists(__DIR__.'/public'.$uri)) {
    return false;
}
require_once __DIR__.'/public/index.php';
`,
		"public/index.php": `<?php
require 'Illuminate/autoload.php';
$app = require __DIR__.'/../bootstrap/app.php';
$kernel = $app->make(Illuminate\Contracts\Http\Kernel::class);
$response = $kernel->handle($request = Illuminate\Http\Request::capture());
$response->send();
$kernel->terminate($request, $response);
`,
		"bootstrap/app.php": `<?php
$app = new Illuminate\Foundation\Application(dirname(__DIR__));
$app->singleton(Illuminate\Contracts\Http\Kernel::class, Illuminate\Foundation\Http\Kernel::class);
$app->singleton(Illuminate\Contracts\Console\Kernel::class, Illuminate\Foundation\Console\Kernel::class);
$app->singleton(Illuminate\Contracts\Debug\ExceptionHandler::class, Illuminate\Foundation\Exceptions\Handler::class);
$app->booted(function ($app) {
    $app['router']->get('/', function () {
        return 'shop: '.Illuminate\Support\Facades\DB::table('deploys')->count().' deploys';
    });
});
return $app;
`,
		"config/app.php": `<?php
return [
    'name' => 'shop',
    'env' => 'production',
    'debug' => false,
    'key' => 'base64:'.base64_encode(str_repeat('k', 32)),
    'cipher' => 'AES-256-CBC',
    'providers' => [
        Illuminate\Bus\BusServiceProvider::class,
        Illuminate\Cache\CacheServiceProvider::class,
        Illuminate\Foundation\Providers\ConsoleSupportServiceProvider::class,
        Illuminate\Database\DatabaseServiceProvider::class,
        Illuminate\Filesystem\FilesystemServiceProvider::class,
        Illuminate\Foundation\Providers\FoundationServiceProvider::class,
        Illuminate\Queue\QueueServiceProvider::class,
        Illuminate\View\ViewServiceProvider::class,
    ],
];
`,
		"config/cache.php": `<?php
return ['default' => 'array', 'stores' => ['array' => ['driver' => 'array']]];
`,
		"config/logging.php": `<?php
return ['default' => 'stderr', 'channels' => ['stderr' => ['driver' => 'single', 'path' => 'php://stderr']]];
`,
		"config/database.php": `<?php
return [
    'default' => 'sqlite',
    'connections' => [
        'sqlite' => ['driver' => 'sqlite', 'database' => database_path('database.sqlite'), 'prefix' => ''],
    ],
    'migrations' => 'migrations',
];
`,
		"database/migrations/2026_01_01_000000_create_deploys_table.php": `<?php
use Illuminate\Database\Migrations\Migration;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Schema;

class CreateDeploysTable extends Migration
{
    public function up()
    {
        Schema::create('deploys', function (Blueprint $table) {
            $table->id();
            $table->integer('seen');
        });
        $context = stream_context_create(['http' => ['ignore_errors' => true, 'timeout' => 10]]);
        file_get_contents(getenv('SHOP_URL'), false, $context);
        preg_match('{^HTTP/\S+ (\d+)}', $http_response_header[0], $m);
        DB::table('deploys')->insert(['seen' => (int) $m[1]]);
    }
}
`,
	})
	if err := os.Chmod(filepath.Join(dir, "artisan"), 0o755); err != nil {
		t.Fatal(err)
	}
	return nil
}

// Node: a package.json whose migrate script applies the migrations to a
// JSON file (Node has no database of its own), and a server.js that reads
// it.

func needNode(t *testing.T) {
	testenv.Binary(t, "node", "nodejs")
	testenv.Binary(t, "npm")
}

func makeNode(t *testing.T, dir string) []string {
	t.Helper()
	writeFiles(t, dir, map[string]string{
		"package.json": `{
  "name": "shop",
  "private": true,
  "scripts": {
    "start": "node server.js",
    "migrate": "node migrate.js"
  }
}
`,
		"migrate.js": `const fs = require("fs");
const http = require("http");

const db = fs.existsSync("db.json") ? JSON.parse(fs.readFileSync("db.json")) : { migrations: [] };
if (!db.migrations.includes("create_deploys")) {
  http.get(process.env.SHOP_URL, (res) => {
    res.resume();
    db.deploys = [{ seen: res.statusCode }];
    db.migrations.push("create_deploys");
    fs.writeFileSync("db.json", JSON.stringify(db));
  }).on("error", (err) => { console.error(err); process.exit(1); });
}
`,
		"server.js": `const fs = require("fs");
const http = require("http");

http.createServer((req, res) => {
  const db = fs.existsSync("db.json") ? JSON.parse(fs.readFileSync("db.json")) : {};
  res.end("shop: " + (db.deploys || []).length + " deploys\n");
}).listen(Number(process.env.PORT || 8000), "127.0.0.1");
`,
	})
	return nil
}

func nodeSeen(t *testing.T, dir string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "db.json"))
	if err != nil {
		t.Fatalf("the migration did not run: %v", err)
	}
	var db struct{ Deploys []struct{ Seen int } }
	if err := json.Unmarshal(b, &db); err != nil {
		t.Fatal(err)
	}
	var seen []int
	for _, d := range db.Deploys {
		seen = append(seen, d.Seen)
	}
	return seen
}

// recipeRun runs a command in dir and fails the test if it fails.
func recipeRun(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), recipeStart)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// writeFiles writes files under dir, making their directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects the output of a process's stdout and stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
