package pg

import (
	"testing"

	"github.com/holdrelay/relay/internal/pgtest"
)

// The package's one TestMain: every test file of spool/pg shares it.
func TestMain(m *testing.M) { pgtest.Main(m) }
