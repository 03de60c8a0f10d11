package main

import (
	"io"
	"slices"

	"github.com/spf13/cobra"
)

// completionShells are the shells relayctl writes completion scripts for.
var completionShells = []string{"bash", "zsh", "fish"}

// newCompletionCommand replaces cobra's default completion command, which
// has no install examples and succeeds on a shell it does not know.
// Writing the script never reaches relayd.
func newCompletionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print the script that makes the shell complete relayctl's commands and
flags. Load it once in the running shell, or install it where the shell
looks for completions so that every new shell has it. It does not reach
relayd.

bash needs the bash-completion package (version 2).`,
		Example: `  # bash, this shell only:
  source <(relayctl completion bash)
  # bash, every shell:
  relayctl completion bash > /etc/bash_completion.d/relayctl
  #   (or, for one user: ~/.local/share/bash-completion/completions/relayctl)

  # zsh: a directory on $fpath, with "autoload -U compinit; compinit" in ~/.zshrc
  relayctl completion zsh > "${fpath[1]}/_relayctl"

  # fish:
  relayctl completion fish > ~/.config/fish/completions/relayctl.fish`,
		ValidArgs: completionShells,
		Args: func(c *cobra.Command, args []string) error {
			if err := argNames("SHELL")(c, args); err != nil {
				return err
			}
			if !slices.Contains(completionShells, args[0]) {
				return usageErrorf("%s: unknown shell %q (want bash, zsh or fish)", c.CommandPath(), args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeCompletion(cmd.Root(), args[0], cmd.OutOrStdout())
		},
	}
}

func writeCompletion(root *cobra.Command, shell string, w io.Writer) error {
	switch shell {
	case "zsh":
		return root.GenZshCompletion(w)
	case "fish":
		return root.GenFishCompletion(w, true)
	}
	return root.GenBashCompletionV2(w, true)
}
