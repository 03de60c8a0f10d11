package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// format is the -o flag's value.
type format string

const (
	formatTable format = "table"
	formatJSON  format = "json"
)

func (f *format) String() string { return string(*f) }
func (f *format) Type() string   { return "table|json" }

func (f *format) Set(s string) error {
	switch format(s) {
	case formatTable, formatJSON:
		*f = format(s)
		return nil
	}
	return fmt.Errorf("want table or json, got %q", s)
}

// printer writes a command's result: v as JSON with -o json, or what table
// writes, through a tabwriter, with -o table.
type printer struct {
	w      io.Writer
	format format
}

func (p printer) print(v any, table func(w io.Writer)) error {
	if p.format == formatJSON {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// when formats a time for tables: local time, to the second, with the
// offset so that it is unambiguous.
func when(t time.Time) string {
	return t.Local().Format("2006-01-02 15:04:05Z07:00")
}

// short writes Go duration text the way people do: "5m" for "5m0s",
// "1h" for "1h0m0s". The wire keeps Go's form; both parse the same.
func short(d string) string {
	d = trimZero(d, "m0s")
	return trimZero(d, "h0m")
}

func trimZero(d, suffix string) string {
	if strings.HasSuffix(d, suffix) {
		return d[:len(d)-2]
	}
	return d
}

// commandLine rebuilds cmd's command line from the flags that were set,
// leaving out skip and the token, which must never be echoed.
func commandLine(cmd *cobra.Command, skip string) string {
	parts := []string{cmd.CommandPath()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == skip || f.Name == "token" {
			return
		}
		if f.Value.Type() == "bool" {
			parts = append(parts, "--"+f.Name)
			return
		}
		parts = append(parts, "--"+f.Name, shellQuote(f.Value.String()))
	})
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("@%+=:,./_-", r)))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// clean makes text from a message safe for one table row: control
// characters (line breaks, escapes a terminal would obey) become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// truncate cuts s to n characters, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
