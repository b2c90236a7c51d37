package redis_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomaint/maintenance/internal/testenv"
	"github.com/gomaint/maintenance/storetest"
)

// TestCluster runs the acceptance suite through a redis+cluster:// URL on a
// private Redis Cluster of three masters: the hash tag keeps every key of a
// store in one slot, so that its scripts run (a script that touched two
// slots would fail with CROSSSLOT), and watchers subscribe on that slot's
// node, the channel having the same tag.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private Redis Cluster")
	}
	cli := testenv.Binary(t, "redis-cli", "/usr/bin/redis-cli", "/usr/local/bin/redis-cli")
	var addrs []string
	for range 3 {
		n := startRedis(t, false, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
		addrs = append(addrs, n.addr())
	}
	create := exec.CommandContext(t.Context(), cli,
		append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// The nodes agree on the slots a moment after the command returns.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range addrs {
		c := rawClient(t, "redis://"+a)
		for {
			info, err := c.ClusterInfo(t.Context()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ready: %q, %v", a, info, err)
			}
			<-tick.C
		}
	}
	base := "redis+cluster://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2]
	storetest.Run(t, storetest.Harness{
		New:  func(t *testing.T) string { return withQuery(t, base, "prefix", newPrefix()) },
		Open: open,
	})
}

// TestSentinel runs the acceptance suite through a redis+sentinel:// URL on
// a private master watched by a private Sentinel.
func TestSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private Redis and Sentinel")
	}
	master := startRedis(t, false)
	conf := filepath.Join(t.TempDir(), "sentinel.conf") // Sentinel rewrites it
	if err := os.WriteFile(conf, []byte("sentinel monitor shop "+strings.Replace(master.addr(), ":", " ", 1)+" 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sentinel := startServer(t, "+monitor master shop", conf, "--sentinel")
	base := "redis+sentinel://" + sentinel.addr() + "/0?master_name=shop"
	storetest.Run(t, storetest.Harness{
		New:  func(t *testing.T) string { return withQuery(t, base, "prefix", newPrefix()) },
		Open: open,
	})
}
