package console_test

import (
	"testing"

	"github.com/holdrelay/relay/internal/pgtest"
)

// TestMain stops the PostgreSQL server the tests started, if they ran on
// it (RELAY_TEST_SPOOL=pg).
func TestMain(m *testing.M) { pgtest.Main(m) }
