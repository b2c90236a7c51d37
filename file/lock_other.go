//go:build !unix || aix

package file

import (
	"context"
	"fmt"
	"runtime"
)

// lock fails: this system has no flock(2), and the store does not write
// without a lock that other processes respect.
func lock(ctx context.Context, path string) (unlock func(), err error) {
	return nil, fmt.Errorf("locking %s: the file store cannot lock files on %s", path, runtime.GOOS)
}
