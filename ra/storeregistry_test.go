package ra

import (
	"context"
	"errors"
	"testing"

	"eacgate/msg"
	"eacgate/store"
)

// NewStoreRegistry applies its options: WithQueueQuota bounds a holder's asynchronous queue
// (the gateway passes callback.holder_queue_quota this way).
func TestNewStoreRegistry(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	h := &store.Holder{Country: "UT", Mnemonic: "DVQ", Role: store.RoleDVDomestic, Status: store.HolderActive, TLSFingerprint: "fp-q"}
	if err := st.CreateHolder(ctx, h); err != nil {
		t.Fatal(err)
	}
	reg := NewStoreRegistry(st, WithQueueQuota(1))
	m := msg.Message{Operation: "RequestCertificate", MessageID: "q-1", ResponseURL: "https://dv.example/cb"}
	if err := reg.Enqueue(ctx, h.ID, m, false); err != nil {
		t.Fatal(err)
	}
	m.MessageID = "q-2"
	if err := reg.Enqueue(ctx, h.ID, m, false); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("beyond a quota of 1: %v, want ErrQueueFull", err)
	}
	if err := NewStoreRegistry(st).Enqueue(ctx, h.ID, m, false); err != nil {
		t.Fatalf("default quota: %v", err)
	}
}
