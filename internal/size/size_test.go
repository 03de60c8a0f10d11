package size

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]int64{"25MiB": 25 << 20, "10MB": 10e6, "512 KiB": 512 << 10, "1048576": 1 << 20, "1B": 1, "0": 0} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-5MiB", "MiB", "1.5MiB", "99999999999GiB"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}
