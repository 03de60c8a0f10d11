package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/holdrelay/relay/spool"
)

// lockedBuffer is a log both the watcher and the test use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Each kind reloads its own copy, "" every copy; a failure is logged at
// error level and the watch goes on.
func TestWatchRecords(t *testing.T) {
	var mu sync.Mutex
	var reloaded []string
	loader := func(kind string, err error) func() error {
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			reloaded = append(reloaded, kind)
			return err
		}
	}
	loaders := map[string]func() error{
		spool.RecordsCredentials: loader("credentials", nil),
		spool.RecordsDKIM:        loader("dkim", errors.New("key unreadable")),
		spool.RecordsTokens:      loader("tokens", nil),
		spool.RecordsWebhooks:    loader("webhooks", nil),
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	changed := make(chan string)
	ctx, cancel := context.WithCancel(context.Background())
	done := watchRecords(ctx, changed, loaders, log)
	for _, kind := range []string{spool.RecordsTokens, "pauses", spool.RecordsDKIM, ""} {
		changed <- kind
	}
	changed <- spool.RecordsWebhooks // taken once the "" before it is done
	cancel()
	<-done

	want := []string{"tokens", "dkim", "credentials", "dkim", "tokens", "webhooks", "webhooks"}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(reloaded, want) {
		t.Errorf("reloaded %v, want %v", reloaded, want)
	}
	out := logs.String()
	if strings.Count(out, "level=ERROR") != 2 || !strings.Contains(out, `kind=dkim err="key unreadable"`) {
		t.Errorf("a failed reload is not logged at error level, once each:\n%s", out)
	}
	if !strings.Contains(out, `level=DEBUG msg="records changed on another node; reloaded" kind=tokens`) ||
		!strings.Contains(out, "kind=pauses") {
		t.Errorf("reloads are not logged at debug level:\n%s", out)
	}
}

// On a spool of one node nothing comes, and the watch ends with ctx.
func TestWatchRecordsNil(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := watchRecords(ctx, nil, nil, slog.New(slog.DiscardHandler))
	cancel()
	<-done
}
