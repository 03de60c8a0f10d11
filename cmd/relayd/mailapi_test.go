package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/holdrelay/relay/auth"
	"github.com/holdrelay/relay/internal/smtptest"
)

// TestMailAPISurvivesKill9: every message of every request answered 202
// by the Mail Send API is delivered after relayd is killed with SIGKILL
// right after a 202 and started again (guarantee 1, over HTTP).
func TestMailAPISurvivesKill9(t *testing.T) {
	t.Parallel()
	up := &smtptest.Server{}
	upAddr := up.Start(t)
	data := t.TempDir()
	httpAddr := freePort(t)
	args := []string{"--hold", "0s", "--upstream", "smtp://" + upAddr + "?tls=none",
		"--admin-listen", "unix:" + shortSock(t), "--http-listen", httpAddr}
	d := startRelayd(t, data, args...)
	key := auth.APIKey("default", d.password)
	if !strings.Contains(d.stdout.String(), "api key:  "+key) {
		t.Errorf("the first start does not show the API key:\n%s", d.stdout)
	}

	var mu sync.Mutex
	accepted := map[string]bool{}
	kill := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				subjects := []string{fmt.Sprintf("api-%d-%d-a", c, i), fmt.Sprintf("api-%d-%d-b", c, i), fmt.Sprintf("api-%d-%d-c", c, i)}
				if !postThree(httpAddr, key, subjects) {
					return // relayd is gone
				}
				mu.Lock()
				for _, s := range subjects {
					accepted[s] = true
				}
				if len(accepted) >= 90 {
					once.Do(func() { close(kill) }) // right after this 202
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-kill:
	case <-time.After(20 * time.Second):
		t.Fatalf("too few requests accepted\nstderr:\n%s", d.stderr)
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	d.waitExit(t)
	wg.Wait()
	t.Logf("%d messages accepted, %d delivered before the kill", len(accepted), len(up.Messages()))

	d2 := startRelayd(t, data, args...)
	waitDelivered(t, up, accepted, 30*time.Second, d2.stderr)
	stopAndCheck(t, d2, data, "after a kill under HTTP load")
}

// postThree sends one request of three personalizations; false if it was
// not answered 202.
func postThree(addr, key string, subjects []string) bool {
	var ps []string
	for i, s := range subjects {
		ps = append(ps, fmt.Sprintf(`{"to": [{"email": "r%d@example.com"}], "subject": %q}`, i, s))
	}
	body := `{"personalizations": [` + strings.Join(ps, ",") + `], "from": {"email": "app@example.com"},
	  "content": [{"type": "text/plain", "value": "hello"}]}`
	req, _ := http.NewRequest("POST", "http://"+addr+"/v3/mail/send", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusAccepted
}
