package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/holdrelay/relay/admin"
	"github.com/spf13/cobra"
)

// Exit statuses, as the contract fixes them.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// run executes relayctl with args and returns its exit status. Errors are
// printed here, once, as "Error: ..."; cobra's own printing is silenced.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "Error:", err)
	// relayd refusing what the command line said (a malformed ID, a bad
	// name or setting) is a usage error too, as the contract counts it.
	var apiErr *admin.APIError
	if errors.As(err, &apiErr) && apiErr.Code == admin.CodeInvalid {
		return exitUsage
	}
	if !errors.As(err, new(usageError)) {
		return exitFailure
	}
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	return exitUsage
}

// globals are the root's persistent flags, which every command shares.
type globals struct {
	admin  string
	token  string
	output format
}

// common is what every command's options carry: how to reach relayd and
// how to print. Commands fill it when they run, after flags are parsed.
type common struct {
	client func() (*admin.Client, error)
	out    printer
	in     io.Reader // for questions (purge)
	errOut io.Writer // for questions and hints, which are not the result
}

func (g *globals) common(cmd *cobra.Command) common {
	return common{
		client: func() (*admin.Client, error) {
			// Read here rather than as the flag's default, so that --help
			// never prints a secret from the environment.
			token := g.token
			if token == "" {
				token = os.Getenv("RELAY_TOKEN")
			}
			return admin.NewClient(g.admin, token)
		},
		out:    printer{w: cmd.OutOrStdout(), format: g.output},
		in:     cmd.InOrStdin(),
		errOut: cmd.ErrOrStderr(),
	}
}

// NewRootCommand returns relayctl's command tree.
func NewRootCommand() *cobra.Command {
	g := &globals{admin: admin.DefaultAddr(), output: formatTable}
	root := group(&cobra.Command{
		Use:   "relayctl",
		Short: "Control a running relayd",
		Long: `relayctl controls a running relayd through its admin API: it shows the
spool, holds, flushes and drops messages, manages credentials and
webhooks, and prints the event stream.

It reaches relayd on the unix socket in relayd's data directory
(./relay-data/admin.sock, or $RELAY_DATA/admin.sock) unless --admin or
$RELAY_ADMIN says otherwise. An admin API on TCP needs a token: --token
or $RELAY_TOKEN.

Exit status: 0 on success, 1 on failure, 2 on a usage error.`,
		Example: `  relayctl status
  relayctl queue ls --credential shop --state waiting
  relayctl pause --credential shop --reason "bad template"
  relayctl drop --credential shop --older-than 10m --dry-run
  relayctl credential add shop --description "web shop" --hold 5m
  relayctl credential disable shop --reason "runaway script"
  relayctl password-rotate shop --grace 1h
  relayctl batch pause spring-sale --reason "wrong price"
  relayctl webhook add crm --url https://crm.example.com/relay-events
  relayctl events --follow --credential shop
  relayctl --admin 10.0.0.5:8025 --token "$TOKEN" -o json credential ls`,
		SilenceUsage:  true,
		SilenceErrors: true,
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.admin, "admin", g.admin, "relayd's admin API: unix:PATH or HOST:PORT (env RELAY_ADMIN)")
	pf.StringVar(&g.token, "token", "", "bearer token for an admin API on TCP (env RELAY_TOKEN)")
	pf.VarP(&g.output, "output", "o", "output format: table or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true

	root.AddCommand(
		newStatusCommand(g, nil),
		newQueueCommand(g),
		newActionCommand(g, flushAction, nil),
		newActionCommand(g, dropAction, nil),
		newActionCommand(g, holdAction, nil),
		newActionCommand(g, releaseAction, nil),
		newPurgeCommand(g, nil),
		newPauseCommand(g, nil),
		newResumeCommand(g, nil),
		newBrakeCommand(g),
		newAuditCommand(g),
		newBatchCommand(g),
		newCredentialCommand(g),
		newRotateCommand(g, nil),
		newWebhookCommand(g),
		newDKIMCommand(g),
		newEventsCommand(g, nil),
		newVersionCommand(g),
		newCompletionCommand(),
		newManCommand(),
		newHealthCommand(g, nil),
		newBackupCommand(g, nil),
		newTokenCommand(g),
		newConsoleLinkCommand(g),
	)
	return root
}
