//go:build linux

package spool

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rssFile is this process's resident file-backed memory, in KiB.
func rssFile(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

func TestTrimMemoryDropsMappedPagesAndKeepsData(t *testing.T) {
	boltOnly(t)
	s, _ := openTest(t)
	body := []byte(strings.Repeat("x", 64<<10))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 64 { // 8 × 64 × 64 KiB = 32 MiB of bodies
				if _, err := s.Accept(Incoming{From: "a@example.com", To: []string{"b@example.com"}, Credential: strconv.Itoa(w),
					Received: t0, Release: t0.Add(time.Hour)}, body); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	readAll := func() {
		msgs, _, err := s.List(Selector{All: true}, 0, 1000)
		if err != nil || len(msgs) != 512 {
			t.Fatalf("list: %d, %v", len(msgs), err)
		}
		for _, m := range msgs {
			if b, err := s.Body(m.ID); err != nil || len(b) != len(body) {
				t.Fatalf("body of %s: %d bytes, %v", m.ID, len(b), err)
			}
		}
	}
	readAll()
	before := rssFile(t)
	if err := s.TrimMemory(); err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	if before-after < 16<<10 {
		t.Errorf("resident file pages went from %d to %d KiB: want at least 16 MiB fewer", before, after)
	}
	readAll() // everything is still there, read back through the map
	mustCheck(t, s)
}
