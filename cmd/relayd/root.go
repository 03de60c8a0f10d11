package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/holdrelay/relay/internal/mangen"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	var cfg config
	var manDir string
	cmd := &cobra.Command{
		Use:   "relayd",
		Short: "SMTP relay with an interceptable outbound spool",
		Long: `relayd accepts mail from applications over authenticated SMTP, writes each
message durably to a bbolt spool, holds it for a short window, then delivers
it upstream, unless an operator flushes, holds or drops it first (relayctl).

It runs with no configuration at all. Every setting below can also be given
as an environment variable (RELAY_ plus the flag name in capitals with
underscores, e.g. RELAY_HOLD=10s) or as a key of the YAML file named by
--config (e.g. "hold: 10s"). A flag beats the environment, which beats the
file, which beats the default.

On its first start, with no credentials yet, relayd creates the credential
"default" and prints its password once.`,
		Example: `  relayd                                   # all defaults: 127.0.0.1:2525, ./relay-data
  relayd --hold 0s --upstream 'smtp://smtp.example.com:587'
  RELAY_HOLD=2m relayd --config /etc/relay/relayd.yaml

  # An upstream password or an admin token goes in the config file (mode
  # 0600) or the environment, never on the command line, where ps shows it:
  #   upstream: smtp://user:pass@smtp.example.com:587
  #   admin-tokens: [ops:operator:SECRET-OF-16-OR-MORE]
  RELAY_UPSTREAM='smtp://user:pass@smtp.example.com:587' relayd`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       fmt.Sprintf("%s (%s %s/%s)", version, runtime.Version(), runtime.GOOS, runtime.GOARCH),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if manDir != "" {
				return mangen.Write(cmd, "8", version, manDir)
			}
			cfg.TokensOnCommandLine = cmd.Flags().Changed("admin-tokens")
			if err := merge(settings(cmd.Flags()), os.LookupEnv); err != nil {
				return usageError{err}
			}
			if err := cfg.resolve(); err != nil {
				return usageError{err}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				// After the first signal, a second one kills at once.
				<-ctx.Done()
				stop()
			}()
			return run(ctx, cfg, stdout, stderr)
		},
	}
	cfg.flags(cmd.Flags())
	// Named by cobra's version handling, which prints the template and exits
	// before RunE; declared here to have no -v shorthand.
	cmd.Flags().Bool("version", false, "print relayd's version and the Go release it was built with, and exit")
	cmd.SetVersionTemplate("relayd {{.Version}}\n")
	cmd.Flags().StringVar(&manDir, "generate-man", "", "write relayd's man page into this directory, and exit (make man)")
	cmd.Flags().MarkHidden("generate-man")
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{withoutSecret(err)} })
	return cmd
}

// commandLineOnly are the flags that act and exit rather than configure:
// they have no environment variable and no config file key.
var commandLineOnly = map[string]bool{"help": true, "version": true, "generate-man": true}

// settings is fs without the commandLineOnly flags, for merge.
func settings(fs *pflag.FlagSet) *pflag.FlagSet {
	out := pflag.NewFlagSet(fs.Name(), pflag.ContinueOnError)
	fs.VisitAll(func(f *pflag.Flag) {
		if !commandLineOnly[f.Name] {
			out.AddFlag(f)
		}
	})
	return out
}

// usageError marks errors in how relayd was invoked: exit status 2.
type usageError struct{ error }

func execute(args []string, stdout, stderr io.Writer) int {
	cmd := newRootCommand(stdout, stderr)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "relayd:", err)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintln(stderr, "Run 'relayd --help' for usage.")
		return 2
	}
	return 1
}
