package main

import (
	"context"
	"log/slog"

	"github.com/holdrelay/relay/spool"
)

// recordKinds are the records relayd keeps a copy of in memory, in the
// order a reload of all of them goes.
var recordKinds = []string{spool.RecordsCredentials, spool.RecordsDKIM, spool.RecordsTokens, spool.RecordsWebhooks}

// watchRecords reloads a copy from the spool each time changed says
// another node changed its records ("": changes may have been missed,
// reload every copy), until ctx ends; the returned channel closes then.
// What fails to reload stays as it was. On a spool of one node
// changed is nil, and nothing ever comes.
func watchRecords(ctx context.Context, changed <-chan string, reload map[string]func() error, log *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case kind, ok := <-changed:
				if !ok {
					return
				}
				kinds := []string{kind}
				if kind == "" {
					kinds = recordKinds
				}
				for _, k := range kinds {
					reloadRecords(k, reload[k], log)
				}
			}
		}
	}()
	return done
}

func reloadRecords(kind string, reload func() error, log *slog.Logger) {
	if reload == nil {
		// A newer node's kind, of records this one does not keep.
		log.Debug("records changed on another node; none kept here", "kind", kind)
		return
	}
	if err := reload(); err != nil {
		log.Error("records changed on another node, and reloading them failed; what could not be read stays as it was", "kind", kind, "err", err)
		return
	}
	log.Debug("records changed on another node; reloaded", "kind", kind)
}
