// Package mangen writes man pages for a cobra command tree. relayd and
// relayctl each call it from a hidden entry point (make man), because
// their root commands live in package main and cannot be built elsewhere.
package mangen

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
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
	header := &doc.GenManHeader{Section: section, Source: "relay " + version, Manual: "relay manual"}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	return nil
}
