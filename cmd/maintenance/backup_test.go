package main

import (
	"context"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance/internal/testenv"
)

// TestBackupDoc runs the backups of docs/operations.md's table "Backing up
// the store" as the document writes them, with the test's paths and
// servers: a site is switched on with a message, the store is backed up,
// and the copy shows the site on with its message (for PostgreSQL: the
// schema dropped, then restored from the dump; for Redis: the snapshot
// loaded by a redis-server of the test's).
func TestBackupDoc(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // store: its "back up" cell
	keep := map[string]string{} // store: its "keep with it" cell
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z]+):[^`]*` \\| ([^|]*) \\|([^|]*)\\|$").FindAllStringSubmatch(string(b), -1) {
		rows[m[1]], keep[m[1]] = m[2], m[3]
	}
	code := func(t *testing.T, store string) string {
		t.Helper()
		m := regexp.MustCompile("`([^`]+)`").FindStringSubmatch(rows[store])
		if m == nil {
			t.Fatalf("docs/operations.md: the %s row of the backup table has no command: %q", store, rows[store])
		}
		return m[1]
	}
	// status shows the store's state, that of the backup.
	status := func(t *testing.T, store string) {
		t.Helper()
		out, err := exec.Command("maintenance", "--store", store, "status").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Backed up") {
			t.Errorf("the backup, %s: %v: the site is not on with its message:\n%s", store, err, out)
		}
	}
	on := func(t *testing.T, store string) {
		t.Helper()
		for _, args := range [][]string{{"init"}, {"on", "--message", "Backed up"}} {
			cmd := exec.Command("maintenance", append([]string{"--store", store}, args...)...)
			cmd.Env = append(os.Environ(), "MAINTENANCE_WAIT=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("maintenance %v: %v\n%s", args, err, out)
			}
		}
	}
	sh := func(t *testing.T, dir, line string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", line)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
	}

	t.Run("sqlite", func(t *testing.T) {
		testenv.Binary(t, "sqlite3")
		t.Parallel()
		line := code(t, "sqlite") // sqlite3 PATH ".backup /backup/maintenance.db"
		dir := t.TempDir()
		on(t, "sqlite:"+filepath.Join(dir, "m.db"))
		line = recipeReplace(t, line, "PATH", filepath.Join(dir, "m.db"))
		line = recipeReplace(t, line, "/backup/", filepath.Join(dir, "backup")+"/")
		os.Mkdir(filepath.Join(dir, "backup"), 0o700)
		sh(t, dir, line)
		status(t, "sqlite:"+filepath.Join(dir, "backup", "maintenance.db"))
	})

	t.Run("file", func(t *testing.T) {
		t.Parallel()
		// "copy PATH", and keep PATH.key with it.
		if !strings.Contains(rows["file"], "copy `PATH`") || !strings.Contains(keep["file"], "`PATH.key`") {
			t.Fatalf("docs/operations.md: the file row of the backup table: %q, %q", rows["file"], keep["file"])
		}
		dir := t.TempDir()
		store := "file:" + filepath.Join(dir, "m.json")
		on(t, store)
		// A webhook's signing secret is sealed with the server key, which
		// this makes.
		if out, err := exec.Command("maintenance", "--store", store, "webhook", "add", "http://127.0.0.1:9/hook").CombinedOutput(); err != nil {
			t.Fatalf("maintenance webhook add: %v\n%s", err, out)
		}
		os.Mkdir(filepath.Join(dir, "backup"), 0o700)
		sh(t, dir, "cp -p m.json m.json.key backup/")
		status(t, "file:"+filepath.Join(dir, "backup", "m.json"))
	})

	t.Run("redis", func(t *testing.T) {
		url := testenv.Redis(t)
		testenv.Binary(t, "redis-cli")
		server := testenv.Binary(t, "redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server")
		t.Parallel()
		// "redis-cli --rdb FILE" (an RDB snapshot of the whole server).
		m := regexp.MustCompile("`(redis-cli [^`]*FILE)`").FindStringSubmatch(rows["redis"])
		if m == nil {
			t.Fatalf("docs/operations.md: the redis row of the backup table has no redis-cli command: %q", rows["redis"])
		}
		dir := t.TempDir()
		prefix := fmt.Sprintf("backup-doc-%d:", time.Now().UnixNano())
		store := url + "?prefix=" + prefix
		if strings.Contains(url, "?") {
			store = url + "&prefix=" + prefix
		}
		t.Cleanup(func() {
			exec.Command("sh", "-c", "redis-cli -u '"+url+"' --scan --pattern '{"+prefix+"}*' | xargs -r redis-cli -u '"+url+"' del").Run()
		})
		on(t, store)
		// The snapshot takes about 5 s: the server's repl-diskless-sync-delay.
		line := recipeReplace(t, m[1], "redis-cli", "redis-cli -u '"+url+"'")
		sh(t, dir, recipeReplace(t, line, "FILE", "dump.rdb"))
		// The snapshot, restored: a redis-server of the test's that loads it.
		addr := freePort(t)
		_, port, _ := net.SplitHostPort(addr)
		startApp(t, dir, os.Environ(), "exec "+server+" --bind 127.0.0.1 --port "+port+" --dir . --dbfilename dump.rdb --save '' --appendonly no", addr)
		u, err := neturl.Parse(store)
		if err != nil {
			t.Fatal(err)
		}
		u.User, u.Host = nil, addr
		status(t, u.String())
	})

	t.Run("postgres", func(t *testing.T) {
		url := testenv.Postgres(t)
		testenv.Binary(t, "pg_dump")
		testenv.Binary(t, "psql")
		t.Parallel()
		line := code(t, "postgres") // pg_dump --schema=maintenance DBNAME
		dir := t.TempDir()
		schema := fmt.Sprintf("backup_doc_%d", time.Now().UnixNano())
		store := url + "&schema=" + schema
		if !strings.Contains(url, "?") {
			store = url + "?schema=" + schema
		}
		drop := func() { exec.Command("psql", url, "-qc", "DROP SCHEMA IF EXISTS "+schema+" CASCADE").Run() }
		t.Cleanup(drop)
		on(t, store)
		line = recipeReplace(t, line, "--schema=maintenance", "--schema="+schema)
		line = recipeReplace(t, line, "DBNAME", "'"+url+"'")
		sh(t, dir, line+" > dump.sql")
		drop()
		sh(t, dir, "psql '"+url+"' -q -v ON_ERROR_STOP=1 -f dump.sql")
		status(t, store)
	})
}
