package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"eacgate/config"
	"eacgate/store"
)

// With messages_days set, a finished request older than that is deleted; a younger one stays.
func TestRetentionDeletesOldMessages(t *testing.T) {
	ctx := context.Background()
	g, err := Open(ctx, Options{DataDir: t.TempDir(), Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	m := &store.Message{Originator: "UTRETAIN", MessageID: "m-1", Operation: "RequestCertificate"}
	if err := g.Store.AcceptMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := g.Store.AnswerMessage(ctx, m.ID, "ok_cert_available", nil); err != nil {
		t.Fatal(err)
	}
	g.Options.Retention = config.RetentionOptions{MessagesDays: 30}
	g.pruneOnce(ctx, time.Now().AddDate(0, 0, 29))
	if _, err := g.Store.MessageByID(ctx, m.ID); err != nil {
		t.Fatalf("a 29-day-old message was deleted: %v", err)
	}
	g.pruneOnce(ctx, time.Now().AddDate(0, 0, 31))
	if _, err := g.Store.MessageByID(ctx, m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a 31-day-old message was kept: %v", err)
	}
}
