package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

type healthOptions struct {
	common
	timeout time.Duration
}

func newHealthCommand(g *globals, runF func(*healthOptions) error) *cobra.Command {
	o := &healthOptions{}
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 if relayd is ready, 1 if not",
		Long: `Ask relayd whether it is ready (GET /readyz on its admin API): its spool
open and taking writes and every listener up. Prints "ready" and exits 0
if so; otherwise says why ("starting", "draining" once a shutdown has
begun, "spool not writable") or that relayd cannot be reached, and exits 1.

/readyz needs no token, so health works on an admin API on TCP without
--token. It suits a container's or a load balancer's health check.`,
		Example: `  relayctl health
  relayctl --admin unix:/var/lib/relay/admin.sock health
  relayctl --admin 10.0.0.5:8025 health --timeout 2s

  # Containerfile:
  HEALTHCHECK --interval=10s --timeout=5s CMD ["relayctl", "health"]`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.common = g.common(cmd)
			if runF != nil {
				return runF(o)
			}
			return runHealth(cmd.Context(), o)
		},
	}
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Second, "give up, and exit 1, after this long")
	return cmd
}

func runHealth(ctx context.Context, o *healthOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	r, err := c.Ready(ctx)
	if err != nil {
		return err
	}
	if err := o.out.print(r, func(w io.Writer) { healthTable(w, r.Ready) }); err != nil {
		return err
	}
	if !r.Ready {
		return fmt.Errorf("relayd at %s is not ready: %s", c.Addr(), r.Reason)
	}
	return nil
}

func healthTable(w io.Writer, ready bool) {
	if ready {
		fmt.Fprintln(w, "ready")
	}
}
