package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// usageError marks a mistake in the command line, which exits 2, from a
// failure of the command itself, which exits 1.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// group makes cmd a holder of subcommands: alone, it prints its help; an
// unknown subcommand is a usage error. (Cobra would print help and
// succeed for an unknown subcommand below the root.)
func group(cmd *cobra.Command) *cobra.Command {
	cmd.SuggestionsMinimumDistance = 2 // cobra's own default, which SuggestionsFor lacks
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
		}
		return usageError{errors.New(msg)}
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	return cmd
}

// argNames accepts exactly the named positional arguments, and names
// the missing or extra one when the count is wrong.
func argNames(names ...string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usageErrorf("%s: missing %s", c.CommandPath(), strings.Join(names[len(args):], " "))
		case len(args) > len(names):
			return usageErrorf("%s: unexpected argument %q", c.CommandPath(), args[len(names)])
		}
		return nil
	}
}
