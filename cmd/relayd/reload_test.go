package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/internal/smtptest"
)

// writeFile replaces path whole, as certbot and config management do
// (write aside, rename): a reload reads the old file or the new one.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// writePair writes c's certificate and the key of keyOf as PEM files.
func writePair(t *testing.T, certPath, keyPath string, c, keyOf tls.Certificate) {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(keyOf.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}))
	writeFile(t, keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}))
}

// startTLSSerial opens a session, runs STARTTLS and returns the serial of
// the certificate relayd showed.
func startTLSSerial(addr string) (string, error) {
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Noop(); err != nil { // the handshake is done by the first command
		return "", err
	}
	st, _ := c.TLSConnectionState()
	if len(st.PeerCertificates) == 0 {
		return "", errors.New("no certificate after STARTTLS")
	}
	c.Quit()
	return st.PeerCertificates[0].SerialNumber.Text(16), nil
}

// waitLog waits a while for a line of relayd's log: stderr is copied by a
// goroutine of its own, so a line may come after what the test saw.
func waitLog(d *proc, re *regexp.Regexp) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if re.MatchString(d.stderr.String()) {
			return true
		}
	}
	return false
}

func serialOf(c tls.Certificate) string { return c.Leaf.SerialNumber.Text(16) }

// adminStatus is the status code of GET /v1/status with secret as token.
func adminStatus(t *testing.T, admin, secret string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+admin+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// hupAndWait sends SIGHUP and waits for the reload to end, as systemd
// sees it: RELOADING=1 with the time, then READY=1 with a status line,
// which it returns.
func hupAndWait(t *testing.T, d *proc, notify interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGHUP)
	buf := make([]byte, 4096)
	n, err := notify.Read(buf)
	if err != nil {
		t.Fatalf("waiting for RELOADING=1: %v", err)
	}
	if msg := string(buf[:n]); !regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$`).MatchString(msg) {
		t.Fatalf("first notification of a reload %q, want RELOADING=1 and MONOTONIC_USEC", msg)
	}
	if n, err = notify.Read(buf); err != nil {
		t.Fatalf("waiting for READY=1 after a reload: %v", err)
	}
	msg := string(buf[:n])
	if !strings.HasPrefix(msg, "READY=1\nSTATUS=") {
		t.Fatalf("notification ending a reload %q, want READY=1 and a STATUS", msg)
	}
	return msg
}

// TestSIGHUPReloadsCertificateAndTokens runs relayd with STARTTLS and a
// TCP admin API whose tokens come from its config file, and a client that
// runs STARTTLS in a loop throughout: it sees the new certificate after a
// reload and never a refused connection; bad material (a key that does
// not match, a malformed tokens entry, no token left) fails the whole
// reload, and relayd serves on with the old certificate and tokens.
func TestSIGHUPReloadsCertificateAndTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certPath, keyPath, conf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "relayd.yaml")
	first, _ := smtptest.Certificate(t)
	second, _ := smtptest.Certificate(t)
	third, _ := smtptest.Certificate(t)
	writePair(t, certPath, keyPath, first, first)
	const oldSecret, newSecret = "old-secret-0123456789", "new-secret-0123456789"
	writeFile(t, conf, []byte("admin-tokens: [old:operator:"+oldSecret+"]\n"))

	path, notify := notifySocket(t)
	admin, metrics := freePort(t), freePort(t)
	d := startRelaydEnv(t, []string{"NOTIFY_SOCKET=" + path}, t.TempDir(), "--config", conf, "--tls-cert", certPath,
		"--tls-key", keyPath, "--admin-listen", admin, "--metrics-listen", metrics)
	waitNotify(t, notify, "READY=1")
	notify.SetReadDeadline(time.Now().Add(60 * time.Second))

	// The client in a loop: every connection must get its certificate.
	var (
		stop        atomic.Bool
		wg          sync.WaitGroup
		mu          sync.Mutex
		seen        = map[string]int{}
		loopErrs    []error
		connections int
	)
	wg.Go(func() {
		for !stop.Load() {
			serial, err := startTLSSerial(d.smtp)
			mu.Lock()
			connections++
			if err != nil {
				loopErrs = append(loopErrs, err)
			}
			seen[serial]++
			mu.Unlock()
		}
	})
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()

	if got, err := startTLSSerial(d.smtp); err != nil || got != serialOf(first) {
		t.Fatalf("certificate at start %s, %v; want %s", got, err, serialOf(first))
	}
	if code := adminStatus(t, admin, oldSecret); code != 200 {
		t.Fatalf("old token at start: %d", code)
	}

	waitLoop := func() { // until the loop has seen the certificate in force
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			n := connections
			mu.Unlock()
			if n >= 3 || time.Now().After(deadline) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLoop()

	// A good reload: both change.
	writePair(t, certPath, keyPath, second, second)
	writeFile(t, conf, []byte("admin-tokens:\n  - new:operator:"+newSecret+"\n"))
	if status := hupAndWait(t, d, notify); !strings.Contains(status, "STATUS=Reloaded at ") {
		t.Errorf("status after a good reload: %q", status)
	}
	if got, err := startTLSSerial(d.smtp); err != nil || got != serialOf(second) {
		t.Errorf("certificate after the reload %s, %v; want the new one %s", got, err, serialOf(second))
	}
	if code := adminStatus(t, admin, newSecret); code != 200 {
		t.Errorf("new token after the reload: %d, want 200", code)
	}
	if code := adminStatus(t, admin, oldSecret); code != 401 {
		t.Errorf("removed token after the reload: %d, want 401", code)
	}
	if _, body := httpGet(t, "http://"+metrics+"/metrics"); !strings.Contains(body, "\nrelay_reload_last_successful 1\n") {
		t.Errorf("metrics after a good reload lack relay_reload_last_successful 1")
	}

	// Bad reloads: each keeps the second certificate and the new token.
	for i, bad := range []struct {
		name       string
		cert, key  tls.Certificate
		conf, want string
	}{
		{"key of another certificate", third, second, "admin-tokens: [other:operator:other-secret-0123456789]\n", "private key does not match public key"},
		{"malformed tokens line", third, third, "admin-tokens: [other:operator]\n", "key admin-tokens: entry 1: want name:role:secret"},
		{"no token left for the TCP admin API", third, third, "hold: 1s\n", "no admin token configured"},
	} {
		writePair(t, certPath, keyPath, bad.cert, bad.key)
		writeFile(t, conf, []byte(bad.conf))
		status := hupAndWait(t, d, notify)
		if !strings.Contains(status, "STATUS=Reload failed at ") || !strings.Contains(status, bad.want) {
			t.Errorf("%s: status %q, want a failure naming %q", bad.name, status, bad.want)
		}
		if !waitLog(d, regexp.MustCompile(`level=ERROR msg="reload failed; the previous TLS certificate and admin tokens stay in force" err=".*`+
			regexp.QuoteMeta(bad.want))) {
			t.Errorf("%s: no error in the log naming %q:\n%s", bad.name, bad.want, d.stderr)
		}
		if got, err := startTLSSerial(d.smtp); err != nil || got != serialOf(second) {
			t.Errorf("%s: certificate %s, %v; want the previous one %s", bad.name, got, err, serialOf(second))
		}
		if code := adminStatus(t, admin, newSecret); code != 200 {
			t.Errorf("%s: the token in force gets %d, want 200", bad.name, code)
		}
		if code := adminStatus(t, admin, "other-secret-0123456789"); code != 401 {
			t.Errorf("%s: a token of the failed reload gets %d, want 401", bad.name, code)
		}
		_, body := httpGet(t, "http://"+metrics+"/metrics")
		if want := "\nrelay_reload_failures_total " + string(rune('1'+i)) + "\n"; !strings.Contains(body, want) ||
			!strings.Contains(body, "\nrelay_reload_last_successful 0\n") {
			t.Errorf("%s: metrics lack %q and relay_reload_last_successful 0", bad.name, strings.TrimSpace(want))
		}
	}
	if strings.Contains(d.stderr.String(), "secret-0123456789") {
		t.Errorf("the log shows a token's secret:\n%s", d.stderr)
	}

	stop.Store(true)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(loopErrs) > 0 {
		t.Errorf("%d of %d connections in the loop failed, the first: %v", len(loopErrs), connections, loopErrs[0])
	}
	if seen[serialOf(first)] == 0 || seen[serialOf(second)] == 0 || seen[serialOf(third)] > 0 {
		t.Errorf("certificates seen by the loop over %d connections: %v; want the first and the second, never the third", connections, seen)
	}
}
