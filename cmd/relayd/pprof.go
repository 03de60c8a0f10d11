//go:build pprof

package main

import (
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

// A relayd built with -tags pprof (bench/run.sh with PROFILE=1) serves
// net/http/pprof on RELAY_PPROF_LISTEN (a loopback address): for profiling
// under load only. Release builds do not contain it.
func init() {
	addr := os.Getenv("RELAY_PPROF_LISTEN")
	if addr == "" {
		return
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		os.Stderr.WriteString("relayd: RELAY_PPROF_LISTEN: " + err.Error() + "\n")
		return
	}
	go http.Serve(l, nil)
}
