package main

import (
	"strings"
	"testing"
)

// TestMaxInflightBytes: the budget for messages being received defaults to
// 512 MiB, and one too small for the largest message is refused at start
// rather than turning that message away for ever.
func TestMaxInflightBytes(t *testing.T) {
	c, err := parseConfig(t, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := parseSize(c.MaxInflight); n != 512<<20 {
		t.Errorf("default --max-inflight-bytes %d", n)
	}
	if _, err := parseConfig(t, nil, map[string]string{"RELAY_MAX_INFLIGHT_BYTES": "60MiB"}, ""); err != nil {
		t.Errorf("60MiB with 25MiB messages: %v", err)
	}
	for _, args := range [][]string{
		{"--max-inflight-bytes", "lots"},
		{"--max-inflight-bytes", "40MiB"},
		{"--max-inflight-bytes", "20MiB", "--max-message-size", "10MiB"},
	} {
		_, err := parseConfig(t, args, nil, "")
		if err == nil || !strings.Contains(err.Error(), "--max-inflight-bytes") {
			t.Errorf("%v: error %v, want one naming --max-inflight-bytes", args, err)
		}
	}
}
