package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/internal/pgtest"
	"eacgate/store"

	"gorm.io/gorm"
)

// seedActivity adds n messages (requests of the seeded terminals, a few refused) and n
// audit events to a seeded store, with raw batch INSERTs: the lists of messages and of
// the audit log are read at a realistic size. The audit rows are not a valid chain (no
// page verifies it here).
func seedActivity(tb testing.TB, st *store.Store, n int, now time.Time) {
	tb.Helper()
	ctx := context.Background()
	var terminals []int64
	if err := st.DB().WithContext(ctx).Raw("SELECT id FROM holders WHERE role = 'terminal' ORDER BY id").Scan(&terminals).Error; err != nil {
		tb.Fatal(err)
	}
	var head struct {
		Seq  int64
		Hash string
	}
	if err := st.DB().WithContext(ctx).Raw("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").Scan(&head).Error; err != nil {
		tb.Fatal(err)
	}
	err := st.DB().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var msgs, events [][]any
		prev := head.Hash
		for i := range n {
			at := now.Add(-time.Duration(n-i) * time.Minute).UTC()
			code := "ok_cert_available"
			if i%50 == 0 {
				code = "failure_outer_signature"
			}
			holder := terminals[i%len(terminals)]
			msgs = append(msgs, []any{fmt.Sprintf("holder:%d", holder), fmt.Sprintf("m-%d", i), "RequestCertificate", holder, "answered", code, at, at})
			sum := sha256.Sum256(fmt.Appendf(nil, "event %d", i))
			hash := hex.EncodeToString(sum[:])
			action := []string{"ca.issue", "console.holder.suspend", "auth.login", "admin.holder.register"}[i%4]
			events = append(events, []any{head.Seq + int64(i) + 1, at, "operator:bench", action, fmt.Sprintf("holder:%d", holder), "192.0.2.1", "ok", `{"n":1}`, prev, hash})
			prev = hash
		}
		if err := batchInsert(tx, "messages", []string{"originator", "message_id", "operation", "holder_id", "state", "return_code", "created_at", "updated_at"}, msgs); err != nil {
			return err
		}
		return batchInsert(tx, "audit_events", []string{"seq", "at", "actor", "action", "target", "source", "outcome", "details", "prev_hash", "hash"}, events)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// Every page of the console, signed in as an auditor (who may read all of them), over
// 100,000 certificates, 100,000 messages and 100,000 audit events, on SQLite and on
// PostgreSQL (after VACUUM ANALYZE, as autovacuum would have run). The issue's bound is "well
// under 100 ms" a page; README, Benchmarks, has the figures.
func BenchmarkConsolePages(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchPages(b, filepath.Join(b.TempDir(), "eacgate.db")) })
	b.Run("postgres", func(b *testing.B) { benchPages(b, pgtest.DSN(b)) })
}

func benchPages(b *testing.B, dsn string) {
	h, cookie, st := benchConsoleOn(b, dsn, 100000)
	seedActivity(b, st, 100000, time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	if st.Dialect() == "postgres" {
		if err := st.DB().Exec("VACUUM ANALYZE").Error; err != nil {
			b.Fatal(err)
		}
	}
	var holderID, certID int64
	st.DB().Raw("SELECT id FROM holders WHERE role = 'terminal' ORDER BY id LIMIT 1").Scan(&holderID)
	st.DB().Raw("SELECT id FROM certificates WHERE role = 'terminal' ORDER BY id DESC LIMIT 1").Scan(&certID)
	for _, p := range []string{
		"/console/", "/console/hierarchy",
		"/console/holders", "/console/holders?role=terminal&status=suspended", "/console/holders?role=terminal&page=40",
		fmt.Sprintf("/console/holders/%d", holderID),
		"/console/certificates", "/console/certificates?status=revoked&role=terminal", "/console/certificates?expiring=30",
		"/console/certificates?chr=UTSDIS0", "/console/certificates?page=200",
		fmt.Sprintf("/console/certificates/%d", certID),
		"/console/proposals", "/console/requests", "/console/outbox", "/console/partners", "/console/messages",
		"/console/audit", "/console/audit?action=ca.issue", "/console/audit?action=console.", "/console/audit?outcome=failed",
		"/console/reports", "/console/reports/certificates?status=active", "/console/reports/certificates?status=expired&page=50",
		"/console/reports/statistics?by=month", "/console/reports/statistics?by=country", "/console/reports/statistics?by=role",
		"/console/operators",
	} {
		name := strings.TrimPrefix(p, "/console/")
		if name == "" {
			name = "dashboard"
		}
		b.Run(name, func(b *testing.B) {
			get := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodGet, "https://console.example"+p, nil)
				req.AddCookie(cookie)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec
			}
			if rec := get(); rec.Code != http.StatusOK {
				b.Fatalf("%s: %d %s", p, rec.Code, rec.Body.String())
			}
			for b.Loop() {
				get()
			}
		})
	}
}
