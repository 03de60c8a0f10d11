// Command inflight measures how much memory relayd takes while many SMTP
// sessions stream big messages at once: it starts the relayd binary given,
// opens --sessions sessions from a trusted address, brings them all to the
// 354 of DATA, then streams --size bytes down each at once, and prints the
// replies counted by code and relayd's peak resident memory (VmHWM).
// bench/inflight.sh runs it against the relayd of two commits.
//
//	inflight --relayd ./bin/relayd --sessions 100 --size 20MiB [-- relayd flags]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/holdrelay/relay/internal/size"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "inflight:", err)
		os.Exit(1)
	}
}

func run() error {
	relayd := flag.String("relayd", "bin/relayd", "relayd binary")
	sessions := flag.Int("sessions", 100, "concurrent SMTP sessions")
	sizeFlag := flag.String("size", "20MiB", "message size")
	port := flag.Int("port", 2799, "SMTP port for relayd")
	flag.Parse()
	n, err := size.Parse(*sizeFlag)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("/var/tmp", "inflight-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr := fmt.Sprintf("127.0.0.1:%d", *port)
	args := append([]string{"--data", filepath.Join(dir, "data"), "--smtp-listen", addr, "--console-listen", "off",
		"--trusted-networks", "127.0.0.1/32", "--hold", "1h", "--upstream", "smtp://127.0.0.1:9?tls=none",
		"--max-connections-per-ip", "1000", "--log-level", "error"}, flag.Args()...)
	cmd := exec.Command(*relayd, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	if err := waitListening(addr); err != nil {
		return err
	}
	start := time.Now()
	codes := load(addr, *sessions, int(n))
	hwm, err := peakRSS(cmd.Process.Pid)
	if err != nil {
		return err
	}
	var keys []string
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, codes[k]))
	}
	fmt.Printf("%d sessions × %s: replies %s in %.1fs; relayd peak RSS %s\n",
		*sessions, *sizeFlag, strings.Join(parts, ", "), time.Since(start).Seconds(), hwm)
	return nil
}

func waitListening(addr string) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
	}
	return errors.New("relayd did not start listening")
}

// load runs the sessions and counts the replies to their final dots (or
// the errors that stood in for them).
func load(addr string, sessions, n int) map[string]int {
	var (
		mu     sync.Mutex
		codes  = map[string]int{}
		ready  sync.WaitGroup
		done   sync.WaitGroup
		go354  = make(chan struct{})
		line   = []byte(strings.Repeat("x", 76) + "\r\n")
		stream = make([]byte, 0, 64<<10)
	)
	for len(stream)+len(line) <= cap(stream) {
		stream = append(stream, line...)
	}
	ready.Add(sessions)
	done.Add(sessions)
	for range sessions {
		go func() {
			defer done.Done()
			code := session(addr, n, stream, &ready, go354)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	ready.Wait()
	close(go354)
	done.Wait()
	return codes
}

// session gets to DATA, waits for every other session to get there, then
// streams n bytes and returns the reply code to the final dot.
func session(addr string, n int, stream []byte, ready *sync.WaitGroup, start <-chan struct{}) string {
	readied := false
	defer func() {
		if !readied {
			ready.Done()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "dial error"
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	r := bufio.NewReader(c)
	for _, step := range []struct{ cmd, want string }{
		{"", "220"}, {"EHLO inflight\r\n", "250"}, {"MAIL FROM:<a@example.com>\r\n", "250"},
		{"RCPT TO:<b@example.net>\r\n", "250"}, {"DATA\r\n", "354"},
	} {
		if _, err := io.WriteString(c, step.cmd); err != nil {
			return "write error"
		}
		if code, err := reply(r); err != nil || code != step.want {
			return "before data: " + code
		}
	}
	ready.Done()
	readied = true
	<-start
	io.WriteString(c, "Subject: inflight\r\n\r\n")
	for sent := 0; sent < n; sent += len(stream) {
		if _, err := c.Write(stream[:min(len(stream), n-sent)]); err != nil {
			return "write error"
		}
	}
	io.WriteString(c, "\r\n.\r\n")
	code, err := reply(r)
	if err != nil {
		return "read error"
	}
	return code
}

// reply reads one reply and returns its code.
func reply(r *bufio.Reader) (string, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if len(line) < 4 || line[3] != '-' {
			return line[:min(3, len(line))], nil
		}
	}
}

// peakRSS is the process's VmHWM from /proc (Linux).
func peakRSS(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("no VmHWM in /proc status")
}
