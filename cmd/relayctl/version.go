package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/holdrelay/relay/internal/mangen"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// versionAskTimeout bounds the question to relayd: version must answer
// promptly even when relayd's address leads nowhere.
const versionAskTimeout = 5 * time.Second

// versions is what relayctl version prints. Relayd is empty, and
// RelaydError says why, when relayd could not be asked.
type versions struct {
	Relayctl    string `json:"relayctl"`
	Go          string `json:"go"`
	Relayd      string `json:"relayd,omitempty"`
	RelaydError string `json:"relayd_error,omitempty"`
}

func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show relayctl's version and the running relayd's",
		Long: `Show relayctl's own version and the Go release it was built with, then
the version of the relayd it reaches (as relayctl status shows it). When
relayd cannot be reached or refuses the question, version says why on the
relayd line and still exits 0: relayctl's own version is known.`,
		Example: `  relayctl version
  relayctl version -o json`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := g.common(cmd)
			v := versions{Relayctl: version, Go: runtime.Version()}
			v.Relayd, v.RelaydError = relaydVersion(cmd.Context(), o)
			return o.out.print(v, func(w io.Writer) { versionTable(w, v) })
		},
	}
}

// relaydVersion asks relayd for its version; any failure is the answer's
// second half rather than an error, as version's contract says.
func relaydVersion(ctx context.Context, o common) (string, string) {
	c, err := o.client()
	if err != nil {
		return "", err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, versionAskTimeout)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return "", err.Error()
	}
	return st.Version, ""
}

func versionTable(w io.Writer, v versions) {
	fmt.Fprintf(w, "relayctl:\t%s (%s %s/%s)\n", v.Relayctl, v.Go, runtime.GOOS, runtime.GOARCH)
	if v.RelaydError != "" {
		fmt.Fprintf(w, "relayd:\tnot reachable: %s\n", v.RelaydError)
		return
	}
	fmt.Fprintf(w, "relayd:\t%s\n", v.Relayd)
}

// newManCommand is make man's way in: hidden, since the pages are built
// with the sources, not by operators.
func newManCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "__man DIR",
		Short:  "Write relayctl's man pages into DIR",
		Hidden: true,
		Args:   argNames("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return mangen.Write(cmd.Root(), "1", version, args[0])
		},
	}
}
