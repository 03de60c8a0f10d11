package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/spool"
)

// TestRunawayScriptWithNobodyWatching is the brake's story with the real
// binary and its defaults (30 s hold, --brake-duplicates 5, the file
// upstream): a script mails the same invoice to the same customer
// forever, stamping a new Message-ID and Date on every copy. Nobody
// acts; relayd is even killed with -9 and restarted in the middle. Once
// the first copy's hold window is over, the upstream must have received
// at most 5 (the loop threshold) of them: in fact none, since the 6th
// copy trips the brake well inside the first copy's 30 s.
func TestRunawayScriptWithNobodyWatching(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	sock := shortSock(t)
	args := []string{"--admin-listen", "unix:" + sock}
	d := startRelayd(t, data, args...)
	password := d.password
	var smtpAddr atomic.Value
	smtpAddr.Store(d.smtp)

	var sent atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the script: loops until told to stop, reconnecting as scripts do
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c, err := login(smtpAddr.Load().(string), password)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			for ; ; i++ {
				if err := sendCopy(c, i); err != nil {
					break
				}
				sent.Add(1)
				select {
				case <-stop:
					c.Close()
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
			c.Close()
		}
	}()
	start := time.Now()

	brakes := func() []admin.Brake {
		c, err := admin.NewClient("unix:"+sock, "")
		if err != nil {
			t.Fatal(err)
		}
		bs, err := c.Brakes(context.Background())
		if err != nil {
			return nil
		}
		return bs
	}
	for len(brakes()) == 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no brake after 10 s and %d copies\nstderr:\n%s", sent.Load(), d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b := brakes()[0]
	t.Logf("tripped after %s: %+v", time.Since(start).Round(time.Millisecond), b)
	if b.Credential != "default" || b.Trigger != spool.TriggerLoop || b.Count != 6 || b.Subject != "Your invoice" {
		t.Errorf("brake %+v", b)
	}

	time.Sleep(5 * time.Second)
	d.cmd.Process.Signal(syscall.SIGKILL)
	d.waitExit(t)
	d2 := startRelayd(t, data, args...)
	smtpAddr.Store(d2.smtp)
	if bs := brakes(); len(bs) != 1 || bs[0].Credential != "default" {
		t.Fatalf("after kill -9 and restart: brakes %+v", bs)
	}

	// Past the first copy's hold window, with margin for the dispatcher.
	time.Sleep(time.Until(start.Add(33 * time.Second)))
	close(stop)
	<-done
	delivered := countFiles(t, filepath.Join(data, "outbox"))
	held := brakes()[0].Held
	t.Logf("the script sent %d copies in %s; the upstream received %d; the brake holds %d",
		sent.Load(), time.Since(start).Round(time.Second), delivered, held)
	if delivered > 5 {
		t.Errorf("the upstream received %d copies of the loop, more than the threshold 5", delivered)
	}
	if int64(held) < sent.Load()-1 { // the kill may cut one copy short of its 250
		t.Errorf("the brake holds %d of %d copies", held, sent.Load())
	}
	sp := stopAndCheck(t, d2, data, "after the runaway")
	if bs, _ := sp.Brakes(); len(bs) != 1 {
		t.Errorf("spool brakes after a clean stop: %+v", bs)
	}
}

// sendCopy sends the script's invoice, with a Date and Message-ID of its
// own: the content (Subject and body) is the same every time.
func sendCopy(c *smtp.Client, i int) error {
	if err := c.Mail("app@example.com", nil); err != nil {
		return err
	}
	if err := c.Rcpt("customer@example.net", nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "From: app@example.com\r\nTo: customer@example.net\r\nSubject: Your invoice\r\n"+
		"Date: Mon, 30 Nov 2026 09:%02d:%02d +0000\r\nMessage-ID: <%d@script>\r\n\r\nPlease pay invoice 42.\r\n", i/60%60, i%60, i)
	return w.Close()
}

// countFiles counts the .eml files in dir (none if it does not exist).
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if strings.HasSuffix(e.Name(), ".eml") {
			n++
		}
	}
	return n
}
