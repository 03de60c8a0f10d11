package main

import (
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// relayd's first start prints a one-time sign-in link to the console
// beside the first password; it signs in once.
func TestFirstStartPrintsAConsoleLinkThatWorksOnce(t *testing.T) {
	t.Parallel()
	d := startRelayd(t, t.TempDir(), "--admin-listen", "unix:"+shortSock(t))
	link := regexp.MustCompile(`http://127\.0\.0\.1:\d+/signin/\S+`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		url = link.FindString(d.stdout.String())
		if url == "" && time.Now().After(deadline) {
			t.Fatalf("no sign-in link on stdout:\n%s", d.stdout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// Opening the link shows its button; the button's POST spends it.
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the link's page: %d", resp.StatusCode)
	}
	if resp, err = c.Post(url, "", nil); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("first use: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if resp, err = c.Post(url, "", nil); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("second use: %d, want 410", resp.StatusCode)
	}
}

// A busy console port stops the start, naming the setting, before the
// first password is used up.
func TestBusyConsolePortRefusesToStart(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code, stdout, stderr := runToExit(t, "--data", t.TempDir(), "--smtp-listen", freePort(t), "--admin-listen", "unix:"+shortSock(t),
		"--console-listen", busy.Addr().String())
	if code == 0 || !strings.Contains(stderr, "--console-listen") || !strings.Contains(stderr, "or off") {
		t.Errorf("exit %d\nstderr:\n%s", code, stderr)
	}
	if strings.Contains(stdout, "password") {
		t.Errorf("a failed start printed the password:\n%s", stdout)
	}
}

func TestConsoleOffLoopbackNeedsTLS(t *testing.T) {
	t.Parallel()
	code, _, stderr := runToExit(t, "--data", t.TempDir(), "--smtp-listen", freePort(t), "--console-listen", "0.0.0.0:0")
	if code != 2 || !strings.Contains(stderr, "--console-listen 0.0.0.0:0 is not a loopback address") {
		t.Errorf("exit %d\nstderr:\n%s", code, stderr)
	}
}
