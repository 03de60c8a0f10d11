// Package mangen writes man pages for a cobra command tree. relayd and
// relayctl each call it from a hidden entry point (make man), because
// their root commands live in package main and cannot be built elsewhere.
package mangen

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// Write puts one page per available command of root into dir, in the
// given section: root.SECTION, then ROOT-SUB.SECTION for each subcommand.
// The pages' date follows SOURCE_DATE_EPOCH when set, for reproducible
// packages.
func Write(root *cobra.Command, section, version, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	// The footer would name cobra and a date: noise in a man page.
	root.DisableAutoGenTag = true
	escapeFlagUsages(root)
	header := &doc.GenManHeader{Section: section, Source: "relay " + version, Manual: "relay manual"}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	return nil
}

// escapeFlagUsages keeps a "<data>" in a flag's usage text: the generator
// reads usages as Markdown, where it would be an HTML tag and vanish.
func escapeFlagUsages(c *cobra.Command) {
	seen := map[*pflag.Flag]bool{}
	escape := func(f *pflag.Flag) {
		if !seen[f] {
			seen[f] = true
			f.Usage = strings.ReplaceAll(f.Usage, "<", `\<`)
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(escape)
		c.PersistentFlags().VisitAll(escape)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(c)
}
