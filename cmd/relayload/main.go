// Command relayload is the relay's load generator: it sends N messages of a
// given size over C concurrent SMTP sessions and reports the rate and the
// latency of the 250 that answers the end-of-data dot. bench/run.sh uses it
// against relayd and Postfix alike.
//
//	relayload --addr 127.0.0.1:2525 --user default --password ... \
//	          --size 10240 --count 20000 --concurrency 20 --new-conn-per-message
//
// It exits 1 if any message was not accepted, 2 on a usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
