package store

import (
	"fmt"
	"strings"
	"testing"

	"eacgate/internal/pgtest"
)

func testConsoleWork(t *testing.T, s *Store) {
	dv := &Holder{Country: "UT", Mnemonic: "DV1", Role: RoleDVDomestic, Status: HolderActive}
	fr := &Holder{Country: "FR", Mnemonic: "SPOC", Role: RoleSPOC, Status: HolderActive}
	for _, h := range []*Holder{dv, fr} {
		if err := s.CreateHolder(ctx(), h); err != nil {
			t.Fatal(err)
		}
	}
	// Three held requests and one that is not held; two outbox items dead, one pending.
	for i := range 4 {
		m := &Message{Originator: "t", MessageID: fmt.Sprintf("held-%d", i), Operation: "RequestCertificate", HolderID: &dv.ID}
		if i < 3 {
			m.Approval = ApprovalPending
		}
		state := OutboxDead
		if i == 3 {
			state = OutboxPending
		}
		if err := s.AcceptMessage(ctx(), m, &OutboxItem{TargetURL: "https://dv.example/cb", State: state}); err != nil {
			t.Fatal(err)
		}
	}
	held, err := s.HeldRequestsPage(ctx(), 2, 0)
	if err != nil || len(held) != 2 || held[0].MessageID != "held-0" || held[1].MessageID != "held-1" {
		t.Fatalf("held page 1 = %+v, %v", held, err)
	}
	if held, err = s.HeldRequestsPage(ctx(), 2, 2); err != nil || len(held) != 1 || held[0].MessageID != "held-2" {
		t.Fatalf("held page 2 = %+v, %v", held, err)
	}
	if os, err := s.OutboxPage(ctx(), OutboxDead, 10, 0); err != nil || len(os) != 3 || os[0].ID < os[1].ID {
		t.Fatalf("dead outbox = %+v, %v", os, err)
	}
	if os, err := s.OutboxPage(ctx(), "", 10, 0); err != nil || len(os) != 4 || os[0].State != OutboxPending {
		t.Fatalf("outbox = %+v, %v", os, err)
	}
	if os, err := s.OutboxPage(ctx(), OutboxDead, 2, 2); err != nil || len(os) != 1 {
		t.Fatalf("dead outbox page 2 = %+v, %v", os, err)
	}
	// General messages: one received from FR's SPOC, one sent to it, one sent to IT.
	gms := []*Message{
		{Originator: "FRSPOC", MessageID: "in-1", Operation: "GeneralMessage", HolderID: &fr.ID, State: MessageAnswered},
		{Originator: "self", MessageID: "out-1", Operation: "GeneralMessage", Direction: Outgoing, Peer: "spoc:FR", State: MessageAnswered},
		{Originator: "self", MessageID: "out-2", Operation: "GeneralMessage", Direction: Outgoing, Peer: "spoc:IT", State: MessageFailed},
	}
	for _, m := range gms {
		if err := s.AcceptMessage(ctx(), m, nil); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.GeneralMessagesPage(ctx(), 2, 0)
	if err != nil || len(all) != 2 || all[0].MessageID != "out-2" || all[1].MessageID != "out-1" {
		t.Fatalf("general messages = %+v, %v", all, err)
	}
	if all, err = s.GeneralMessagesPage(ctx(), 2, 2); err != nil || len(all) != 1 || all[0].MessageID != "in-1" {
		t.Fatalf("general messages page 2 = %+v, %v", all, err)
	}
	withFR, err := s.PartnerMessages(ctx(), "FR", 10)
	if err != nil || len(withFR) != 2 || withFR[0].MessageID != "out-1" || withFR[1].MessageID != "in-1" {
		t.Fatalf("messages with FR = %+v, %v", withFR, err)
	}
	if one, err := s.PartnerMessages(ctx(), "FR", 1); err != nil || len(one) != 1 || one[0].MessageID != "out-1" {
		t.Fatalf("newest message with FR = %+v, %v", one, err)
	}
	if at, err := s.PartnerLastContact(ctx(), "FR"); err != nil || !at.Equal(withFR[0].CreatedAt) {
		t.Fatalf("last contact with FR = %v, %v", at, err)
	}
	if at, err := s.PartnerLastContact(ctx(), "DE"); err != nil || !at.IsZero() {
		t.Fatalf("last contact with DE = %v, %v", at, err)
	}
	// Partner DVs, a page at a time, with the maintaining CVCA of those on the list.
	if err := s.CreatePartner(ctx(), &Partner{Country: "FR", URL: "https://spoc.fr/spoc"}); err != nil {
		t.Fatal(err)
	}
	for i, m := range []string{"DVB", "DVA", "DVC"} {
		cvca := ""
		if i == 0 {
			cvca = "FRCVCA00001"
		}
		if err := s.AddPartnerDV(ctx(), &Holder{Country: "FR", Mnemonic: m, Role: RoleDVForeign, Status: HolderActive}, cvca); err != nil {
			t.Fatal(err)
		}
	}
	dvs, err := s.PartnerDVsPage(ctx(), "FR", 2, 0)
	if err != nil || len(dvs) != 2 || dvs[0].Mnemonic != "DVA" || dvs[1].Mnemonic != "DVB" || dvs[1].MaintainingCVCA != "FRCVCA00001" {
		t.Fatalf("partner DVs = %+v, %v", dvs, err)
	}
	if dvs, err = s.PartnerDVsPage(ctx(), "FR", 2, 2); err != nil || len(dvs) != 1 || dvs[0].Mnemonic != "DVC" {
		t.Fatalf("partner DVs page 2 = %+v, %v", dvs, err)
	}
}

func TestConsoleWorkSQLite(t *testing.T) { testConsoleWork(t, open(t, sqliteDSNFor(t))) }

func TestConsoleWorkPostgres(t *testing.T) {
	pgtest.AdminDSN(t)
	testConsoleWork(t, open(t, pgtest.DSN(t)))
}

// TestConsoleWorkPlans: on SQLite, the console's lists read their index (the queries as
// consolework.go writes them), never a whole table or a sort of one.
func TestConsoleWorkPlans(t *testing.T) {
	s := open(t, sqliteDSNFor(t))
	for q, index := range map[string]string{
		"SELECT * FROM messages WHERE approval = 'pending' ORDER BY id LIMIT 51 OFFSET 50":                                                                                "ix_messages_approval",
		"SELECT * FROM outbox WHERE state = 'dead' ORDER BY id DESC LIMIT 51 OFFSET 50":                                                                                   "ix_outbox_state",
		"SELECT * FROM messages WHERE operation = 'GeneralMessage' ORDER BY id DESC LIMIT 51 OFFSET 50":                                                                   "ix_messages_general",
		"SELECT * FROM messages WHERE peer = 'spoc:FR' AND peer <> '' ORDER BY id DESC LIMIT 20":                                                                          "ix_messages_peer",
		"SELECT MAX(id) FROM messages WHERE peer = 'spoc:FR' AND peer <> ''":                                                                                              "ix_messages_peer",
		"SELECT return_code FROM messages WHERE created_at >= '2026-01-01' AND return_code <> '' AND substr(return_code, 1, 2) <> 'ok' ORDER BY created_at DESC LIMIT 10": "ix_messages_refused",
		"SELECT * FROM messages WHERE holder_id = 1 ORDER BY id DESC LIMIT 20":                                                                                            "ix_messages_holder",
	} {
		var rows []struct{ Detail string }
		if err := s.DB().Raw("EXPLAIN QUERY PLAN " + q).Scan(&rows).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if len(rows) != 1 || !strings.Contains(rows[0].Detail+" ", " INDEX "+index+" ") {
			t.Errorf("%s: plan %+v, want one search of %s", q, rows, index)
		}
	}
}
