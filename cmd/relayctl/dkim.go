package main

import (
	"context"
	"fmt"
	"io"

	"github.com/holdrelay/relay/admin"
	"github.com/holdrelay/relay/internal/names"
	"github.com/spf13/cobra"
)

func newDKIMCommand(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "dkim",
		Short: "Manage the DKIM keys relayd signs outgoing mail with",
		Long: `Manage DKIM keys. A message whose From: domain, or a parent domain, has a
key is signed when it is delivered (relaxed/relaxed canonicalization).
relayd makes and keeps the private key; only the DNS TXT record that
publishes its public half is ever shown. See docs/dkim.md for publishing
the record and rotating a key.`,
		Example: `  relayctl dkim add example.com
  relayctl dkim add example.com --selector mail2 --algorithm ed25519
  relayctl dkim ls
  relayctl dkim rm example.com --selector relay20260101`,
	})
	cmd.AddCommand(newDKIMAddCommand(g, nil), newDKIMListCommand(g, nil), newDKIMRemoveCommand(g, nil))
	return cmd
}

type dkimAddOptions struct {
	common
	Domain    string
	Selector  string
	Algorithm string
}

func newDKIMAddCommand(g *globals, runF func(*dkimAddOptions) error) *cobra.Command {
	o := &dkimAddOptions{Algorithm: admin.DKIMRSA}
	cmd := &cobra.Command{
		Use:   "add DOMAIN [--selector S] [--algorithm rsa|ed25519]",
		Short: "Make a DKIM key for a domain and print the DNS record to publish",
		Long: `Make a DKIM signing key for DOMAIN (and its subdomains that have none of
their own) and print the DNS TXT record to publish: its name
(SELECTOR._domainkey.DOMAIN) and its value. Mail is signed with the key
from now on; receivers can check the signature once the record is
published.

--selector defaults to relay and today's date (relay20260102), so that a
rotation's new key gets a new name. --algorithm rsa (2048 bits, the
default) is checked by every receiver; ed25519 (RFC 8463) is smaller and
faster but not yet checked by all, so sign with both if you use it. With
-o json the record is in "name" and "record".`,
		Example: `  relayctl dkim add example.com
  relayctl dkim add example.com --selector mail2 --algorithm ed25519
  relayctl dkim add example.com -o json`,
		Args: argNames("DOMAIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			d, err := names.DKIMDomain(args[0])
			if err != nil {
				return usageErrorf("%s: %v", cmd.CommandPath(), err)
			}
			o.Domain = d
			if runF != nil {
				return runF(o)
			}
			return runDKIMAdd(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.Var(checkedFlag{&o.Selector, "selector", checkSelector}, "selector", "the key's selector (default relay + today's date, e.g. relay20260102)")
	fs.Var(checkedFlag{&o.Algorithm, "algorithm", checkAlgorithm}, "algorithm", "rsa (2048 bits) or ed25519")
	return cmd
}

func checkSelector(v string) error {
	_, err := names.DKIMSelector(v)
	return err
}

func checkAlgorithm(v string) error {
	if v != admin.DKIMRSA && v != admin.DKIMEd25519 {
		return fmt.Errorf("want %s or %s, got %q", admin.DKIMRSA, admin.DKIMEd25519, v)
	}
	return nil
}

func runDKIMAdd(ctx context.Context, o *dkimAddOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	k, err := c.AddDKIM(ctx, admin.AddDKIMRequest{Domain: o.Domain, Selector: o.Selector, Algorithm: o.Algorithm})
	if err != nil {
		return err
	}
	return o.out.print(k, func(w io.Writer) {
		fmt.Fprintf(w, "domain:\t%s\nselector:\t%s\nalgorithm:\t%s\n", k.Domain, k.Selector, k.Algorithm)
		fmt.Fprintf(w, "name:\t%s\nrecord:\t%s\n", k.Name, k.Record)
		fmt.Fprintf(w, "zone file:\t%s\n", k.Zone)
		fmt.Fprintln(w, "Publish this TXT record; mail from the domain is signed with the key from now on.")
	})
}

type dkimListOptions struct {
	common
}

func newDKIMListCommand(g *globals, runF func(*dkimListOptions) error) *cobra.Command {
	o := &dkimListOptions{}
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List DKIM keys with their DNS records",
		Long: `List every DKIM key by domain and selector: its algorithm, when it was
made, and the DNS TXT record (name and value) that publishes it. Private
keys are never shown.`,
		Example: `  relayctl dkim ls
  relayctl dkim ls -o json`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.common = g.common(cmd)
			if runF != nil {
				return runF(o)
			}
			return runDKIMList(cmd.Context(), o)
		},
	}
}

func runDKIMList(ctx context.Context, o *dkimListOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	list, err := c.DKIMKeys(ctx)
	if err != nil {
		return err
	}
	if list == nil {
		list = []admin.DKIMKey{}
	}
	return o.out.print(list, func(w io.Writer) {
		if len(list) == 0 {
			fmt.Fprintln(w, "No DKIM keys: mail goes out unsigned. Add one with: relayctl dkim add DOMAIN")
			return
		}
		fmt.Fprintln(w, "DOMAIN\tSELECTOR\tALGORITHM\tCREATED\tNAME\tRECORD")
		for _, k := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Domain, k.Selector, k.Algorithm, when(k.Created), k.Name, k.Record)
		}
	})
}

type dkimRemoveOptions struct {
	common
	Domain   string
	Selector string
}

func newDKIMRemoveCommand(g *globals, runF func(*dkimRemoveOptions) error) *cobra.Command {
	o := &dkimRemoveOptions{}
	cmd := &cobra.Command{
		Use:     "rm DOMAIN [--selector S]",
		Aliases: []string{"remove"},
		Short:   "Remove a DKIM key",
		Long: `Remove a DKIM key: mail is no longer signed with it. Without --selector,
removes the domain's only key (and refuses when it has several). Remove
a key's DNS record only after its last signed message has been read:
a few days after this.`,
		Example: `  relayctl dkim rm example.com
  relayctl dkim rm example.com --selector relay20260101`,
		Args: argNames("DOMAIN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.common = g.common(cmd)
			d, err := names.DKIMDomain(args[0])
			if err != nil {
				return usageErrorf("%s: %v", cmd.CommandPath(), err)
			}
			o.Domain = d
			if runF != nil {
				return runF(o)
			}
			return runDKIMRemove(cmd.Context(), o)
		},
	}
	cmd.Flags().Var(checkedFlag{&o.Selector, "selector", checkSelector}, "selector", "the key's selector (needed when the domain has several)")
	return cmd
}

func runDKIMRemove(ctx context.Context, o *dkimRemoveOptions) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	res, err := c.RemoveDKIM(ctx, o.Domain, o.Selector)
	if err != nil {
		return err
	}
	return o.out.print(res, func(w io.Writer) {
		fmt.Fprintf(w, "removed:\t%s._domainkey.%s\n", res.Selector, res.Domain)
	})
}
