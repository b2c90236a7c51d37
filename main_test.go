package maintenance

import (
	"os"
	"testing"

	"github.com/gomaint/maintenance/internal/testenv"
)

// TestMain reports the tests skipped for a missing service (Chromium).
func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
