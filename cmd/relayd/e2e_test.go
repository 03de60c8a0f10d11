package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdrelay/relay/internal/pgtest"
)

// relaydBin is the real binary, built once by TestMain.
var relaydBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "relayd-bin")
	if err != nil {
		panic(err)
	}
	relaydBin = filepath.Join(dir, "relayd")
	out, err := exec.Command("go", "build", "-race", "-o", relaydBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building relayd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := pgtest.Run(m) // stops PostgreSQL, if a test started it
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running relayd process.
type proc struct {
	cmd      *exec.Cmd
	smtp     string
	stdout   *syncBuffer
	stderr   *syncBuffer
	exited   chan struct{}
	exitErr  error
	password string // printed at first start, if it was
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startRelayd starts relayd on dataDir and waits until it serves.
func startRelayd(t *testing.T, dataDir string, args ...string) *proc {
	t.Helper()
	return startRelaydEnv(t, nil, dataDir, args...)
}

// startRelaydEnv is startRelayd with env (KEY=VALUE) added to relayd's
// environment.
func startRelaydEnv(t *testing.T, env []string, dataDir string, args ...string) *proc {
	t.Helper()
	d := launchRelayd(t, env, dataDir, args...)
	d.waitStarted(t)
	return d
}

// launchRelayd starts relayd and returns at once; waitStarted waits
// until it serves.
func launchRelayd(t *testing.T, env []string, dataDir string, args ...string) *proc {
	t.Helper()
	d := &proc{smtp: freePort(t), stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	full := append([]string{"--data", dataDir, "--smtp-listen", d.smtp}, args...)
	d.cmd = exec.Command(relaydBin, full...)
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	d.cmd.Env = append(cleanEnv(), env...)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.exitErr = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() { d.kill() })
	return d
}

func (d *proc) waitStarted(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Listeners open before the password is printed; serving starts,
		// and this line is logged, after. stdout and stderr are copied
		// by separate goroutines, so a start that created the first
		// credential (logged on stderr before the password is printed)
		// must also wait for the password on stdout.
		errs := d.stderr.String()
		bootstrapped := strings.Contains(errs, "credential=default")
		if strings.Contains(errs, "relayd started") &&
			(!bootstrapped || strings.Contains(d.stdout.String(), "password: ")) {
			break
		}
		select {
		case <-d.exited:
			t.Fatalf("relayd exited at start: %v\nstderr:\n%s", d.exitErr, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("relayd did not listen on %s\nstderr:\n%s", d.smtp, d.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(d.stdout.String()); m != nil {
		d.password = m[1]
	}
}

// cleanEnv drops RELAY_* variables of the environment running the tests,
// and systemd's, lest a test run by a systemd service notify it.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RELAY_") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "WATCHDOG_") {
			env = append(env, kv)
		}
	}
	// The console's default port, 8025, would collide between relayds
	// started side by side: each test's gets a free one.
	return append(env, "RELAY_CONSOLE_LISTEN=127.0.0.1:0")
}

func (d *proc) kill() {
	select {
	case <-d.exited:
	default:
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.exited
	}
}

func (d *proc) waitExit(t *testing.T) error {
	t.Helper()
	select {
	case <-d.exited:
		return d.exitErr
	case <-time.After(30 * time.Second):
		t.Fatalf("relayd did not exit\nstderr:\n%s", d.stderr)
		return nil
	}
}

// submit sends one message over a fresh authenticated session and returns
// the 250 text, or the error.
func submit(addr, password, subject string) (string, error) {
	c, err := login(addr, password)
	if err != nil {
		return "", err
	}
	defer c.Close()
	reply, err := sendOn(c, subject)
	if err == nil {
		c.Quit()
	}
	return reply, err
}

// login opens a session authenticated as "default".
func login(addr, password string) (*smtp.Client, error) {
	c, err := smtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	if err := c.Hello("e2e.test"); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.Auth(sasl.NewPlainClient("", "default", password)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// sendOn sends one message on an open session.
func sendOn(c *smtp.Client, subject string) (string, error) {
	return sendBody(c, subject, "body of "+subject+"\r\n")
}

// sendBody sends one message with the given body on an open session and
// returns the 250's text.
func sendBody(c *smtp.Client, subject, body string) (string, error) {
	if err := c.Mail("app@example.com", nil); err != nil {
		return "", err
	}
	if err := c.Rcpt("user@example.net", nil); err != nil {
		return "", err
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(w, "From: app@example.com\r\nTo: user@example.net\r\nSubject: %s\r\n\r\n%s", subject, body)
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	return resp.StatusText, nil
}

func subjectOf(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "Subject: "); ok {
			return s
		}
	}
	return ""
}
