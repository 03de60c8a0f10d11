// Command slowsink is the upstream of bench/run.sh's end-to-end rows on
// PostgreSQL: an SMTP sink that answers each message's end-of-data dot
// after a fixed delay, as a remote server that takes its time does. With
// every message costing its delivery slot that long, the delivered rate
// is bounded by the slots a cluster has, not by the CPU two relayd on one
// machine share: so two nodes can be told from one. smtp-sink's own
// delays (-w, -W) are whole seconds, too coarse for that.
//
// It takes any number of connections and messages on each, and exits
// after the count'th message, as smtp-sink -M does, so that the bench
// waits for its exit.
//
//	go run ./bench/slowsink --listen 127.0.0.1:2792 --delay 20ms --count 20000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:2792", "address to listen on")
	delay := flag.Duration("delay", 20*time.Millisecond, "wait before answering each end-of-data dot")
	count := flag.Int64("count", 0, "exit after this many messages (0: never)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	s := &sink{delay: *delay, count: *count}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go s.serve(c)
	}
}

type sink struct {
	delay time.Duration
	count int64
	done  atomic.Int64
}

// serve speaks just enough SMTP for relayd's client: no PIPELINING, no
// CHUNKING, so that every command waits for its reply.
func (s *sink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(line string) bool {
		w.WriteString(line + "\r\n")
		return w.Flush() == nil
	}
	if !reply("220 slowsink ESMTP") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch verb {
		case "EHLO":
			w.WriteString("250-slowsink\r\n")
			if !reply("250 8BITMIME") {
				return
			}
		case "DATA":
			if !reply("354 end with <CRLF>.<CRLF>") || !skipData(r) {
				return
			}
			time.Sleep(s.delay)
			if !reply("250 2.0.0 queued") {
				return
			}
			if n := s.done.Add(1); s.count > 0 && n >= s.count {
				fmt.Fprintf(os.Stderr, "slowsink: %d messages\n", n)
				os.Exit(0)
			}
		case "QUIT":
			reply("221 bye")
			return
		default: // HELO, MAIL, RCPT, RSET, NOOP
			if !reply("250 ok") {
				return
			}
		}
	}
}

// skipData reads the message up to its end-of-data line.
func skipData(r *bufio.Reader) bool {
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// The rest of a long line: it cannot be the dot.
			for err == bufio.ErrBufferFull {
				_, err = r.ReadSlice('\n')
			}
			if err != nil {
				return false
			}
			continue
		}
		if err != nil {
			return false
		}
		if string(line) == ".\r\n" || string(line) == ".\n" {
			return true
		}
	}
}
