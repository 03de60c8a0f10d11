// Package size reads byte sizes the way relayd's flags and relayctl's
// settings take them: a plain count, or with KB, MB, GB (powers of 1000)
// or KiB, MiB, GiB (powers of 1024).
package size

import (
	"fmt"
	"strconv"
	"strings"
)

var units = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

// Parse reads s as a size of at most 1 TiB. It accepts 0; callers that
// need a positive size say so.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size (e.g. 25MiB, 10MB, 1048576)", s)
	}
	return n * mult, nil
}
