// Command relayd is the relay daemon: SMTP intake, spool, dispatcher and
// admin API in one process. See README.md and relayd --help.
package main

import "os"

func main() { os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr)) }
