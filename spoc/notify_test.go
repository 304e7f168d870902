package spoc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"eacgate/authority"
	"eacgate/msg"
	"eacgate/ops"
	"eacgate/server"
	"eacgate/store"
)

// Each C.4 template renders to its subject and body, the parameters filled in.
func TestNoticeRender(t *testing.T) {
	for _, tc := range []struct {
		n             Notice
		subject, body string
	}{
		{Notice{Template: TemplateDisruption}, "Disruption of CVCA communication channel", "The communication channel of our CVCA is disrupted."},
		{Notice{Template: TemplateSuspension}, "Suspension of CVCA service", "The service of our CVCA is suspended."},
		{Notice{Template: TemplateReactivation}, "Reactivation of SPOC service", "The service of our SPOC is reactivated."},
		{Notice{Template: TemplateKeyCompromise, Role: "DV", Loss: "stolen", CHR: "UTDVN00001", Date: "2026-11-30"},
			"DV private key stolen", "Private key belonging to UTDVN00001 was stolen on 2026-11-30."},
		{Notice{Template: TemplateKeyCompromise, Role: "CVCA", Loss: "compromised", CHR: "UTCVCA00001", Date: "2026-12-01"},
			"CVCA private key compromised", "Private key belonging to UTCVCA00001 was compromised on 2026-12-01."},
		{Notice{Template: TemplateKeyCompromise, Role: "IS", Loss: "lost", CHR: "UTIS000001", Date: "2026-12-02"},
			"IS private key lost", "Private key belonging to UTIS000001 was lost on 2026-12-02."},
		{Notice{Template: TemplateCertificateInaccurate, CHR: "UTDVN00001"}, "Certificate inaccurate", "The certificate UTDVN00001 is inaccurate."},
		{Notice{Template: TemplateTermination, Role: "DV", CHR: "UTDVN00001"}, "DV Termination", "The DV UTDVN00001 terminates its operation."},
		{Notice{Template: TemplateTermination, Role: "CVCA", CHR: "UTCVCA00001"}, "CVCA Termination", "The CVCA UTCVCA00001 terminates its operation."},
		{Notice{Template: TemplateDVNotCompliant, CHR: "UTDVN00001"}, "DV not compliant", "The DV UTDVN00001 is no longer compliant to Common CP requirements."},
		{Notice{Subject: "Maintenance", Body: "Down on Sunday.\nBack on Monday."}, "Maintenance", "Down on Sunday.\nBack on Monday."},
	} {
		s, b, err := tc.n.Render()
		if err != nil || s != tc.subject || b != tc.body {
			t.Errorf("%+v: %q, %q, %v; want %q, %q", tc.n, s, b, err, tc.subject, tc.body)
		}
	}
	for name, n := range map[string]Notice{
		"unknown template":     {Template: "flood"},
		"key without date":     {Template: TemplateKeyCompromise, Role: "DV", Loss: "lost", CHR: "UTDVN00001"},
		"key with bad date":    {Template: TemplateKeyCompromise, Role: "DV", Loss: "lost", CHR: "UTDVN00001", Date: "30.11.2026"},
		"key with bad role":    {Template: TemplateKeyCompromise, Role: "TERM", Loss: "lost", CHR: "UTDVN00001", Date: "2026-11-30"},
		"key with bad loss":    {Template: TemplateKeyCompromise, Role: "DV", Loss: "mislaid", CHR: "UTDVN00001", Date: "2026-11-30"},
		"key with bad chr":     {Template: TemplateKeyCompromise, Role: "DV", Loss: "lost", CHR: "U", Date: "2026-11-30"},
		"termination of IS":    {Template: TemplateTermination, Role: "IS", CHR: "UTIS000001"},
		"not compliant no chr": {Template: TemplateDVNotCompliant},
		"extra parameter":      {Template: TemplateDisruption, CHR: "UTDVN00001"},
		"template and text":    {Template: TemplateDisruption, Subject: "s"},
		"no body":              {Subject: "s"},
		"two-line subject":     {Subject: "s\nt", Body: "b"},
	} {
		if _, _, err := n.Render(); !errors.Is(err, ErrNotice) {
			t.Errorf("%s: %v, want ErrNotice", name, err)
		}
	}
}

// standIn is a partner SPOC that records the GeneralMessages it receives and answers code.
type standIn struct {
	code authority.ReturnCode
	mu   sync.Mutex
	got  []msg.Message
}

func (p *standIn) Handle(_ context.Context, _ msg.Caller, m msg.Message) msg.Answer {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, m)
	return msg.Answer{ReturnCode: p.code}
}

// A notification to all partners reaches each partner SPOC as a CSN 36 9791 GeneralMessage
// with the template's subject and body; each message is stored and audited with its
// outcome, and a partner that refuses it or cannot be reached is reported and audited as
// failed while the others still get theirs.
func TestNotifyAllPartners(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	zz, qq := &standIn{code: "ok"}, &standIn{code: authority.FailureInternalError}
	zzSrv := httptest.NewTLSServer(&server.Endpoint{Protocols: server.SPOCProtocols, Service: zz})
	defer zzSrv.Close()
	qqSrv := httptest.NewTLSServer(&server.Endpoint{Protocols: server.SPOCProtocols, Service: qq})
	defer qqSrv.Close()
	gone := httptest.NewTLSServer(http.NotFoundHandler())
	goneURL, goneClient := gone.URL, gone.Client()
	gone.Close()
	f := &Forwarder{Country: "UT", Store: st,
		Config:  Config{Partners: []Partner{{Country: "ZZ", URL: zzSrv.URL}, {Country: "QQ", URL: qqSrv.URL}, {Country: "XX", URL: goneURL}}},
		Clients: map[string]*http.Client{"ZZ": zzSrv.Client(), "QQ": qqSrv.Client(), "XX": goneClient}}
	svc := &ops.Service{Store: st, Country: "UT"}
	actor := ops.Actor{Channel: ops.ChannelCLI, Name: "alice"}

	subject, body, err := Notice{Template: TemplateKeyCompromise, Role: "DV", Loss: "compromised", CHR: "UTDVN00001", Date: "2026-12-01"}.Render()
	if err != nil {
		t.Fatal(err)
	}
	results, err := svc.NotifyPartners(ctx, actor, f, ops.Notification{To: ops.AllPartners, Template: string(TemplateKeyCompromise), Subject: subject, Body: body})
	if !errors.Is(err, ops.ErrNotifyFailed) || !strings.Contains(err.Error(), "QQ, XX") {
		t.Fatalf("err %v, want ErrNotifyFailed naming QQ and XX", err)
	}
	if len(results) != 3 || results[0].Err != nil || results[1].Err == nil || results[1].ReturnCode != authority.FailureInternalError ||
		results[2].Err == nil || results[2].ReturnCode != "" {
		t.Fatalf("results %+v", results)
	}
	for i, p := range []*standIn{zz, qq} {
		if len(p.got) != 1 {
			t.Fatalf("partner %d received %d messages", i, len(p.got))
		}
		m := p.got[0]
		if m.Operation != "GeneralMessage" || m.CallerID != "UT" || m.MessageID != results[i].MessageID ||
			m.Subject != "DV private key compromised" || m.Body != "Private key belonging to UTDVN00001 was compromised on 2026-12-01." {
			t.Errorf("partner %d received %+v", i, m)
		}
	}

	want := map[string]struct {
		state   store.MessageState
		outcome string
	}{
		"spoc:ZZ": {store.MessageAnswered, "ok"},
		"spoc:QQ": {store.MessageFailed, "failed: partner answered failure_internal_error"},
		"spoc:XX": {store.MessageFailed, "failed: partner unreachable"},
	}
	rows, err := st.MessagesByOperation(ctx, "GeneralMessage", 10)
	if err != nil || len(rows) != 3 {
		t.Fatalf("stored %d messages, %v", len(rows), err)
	}
	byID := map[string]store.Message{}
	for _, r := range rows {
		var gm struct{ Subject, Body string }
		_ = json.Unmarshal(r.Request, &gm)
		if r.Direction != store.Outgoing || r.State != want[r.Peer].state || gm.Subject != subject || gm.Body != body {
			t.Errorf("stored %s: %s %s %+v", r.Peer, r.Direction, r.State, gm)
		}
		byID[r.MessageID] = r
	}
	events, err := st.ListAudit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	audited := 0
	for _, ev := range events {
		if ev.Action != string(ops.ActionPartnerNotify) {
			continue
		}
		audited++
		var d struct{ MessageID, Template, Subject string }
		_ = json.Unmarshal([]byte(ev.Details), &d)
		row, ok := byID[d.MessageID]
		if !ok || row.Peer != ev.Target || ev.Outcome != want[ev.Target].outcome || ev.Actor != "cli:alice" ||
			d.Template != "key-compromise" || d.Subject != subject {
			t.Errorf("audit event %+v (details %+v) for row %+v", ev, d, row)
		}
	}
	if audited != 3 {
		t.Fatalf("%d notify events, want 3", audited)
	}
}

// A notification to one partner goes to that partner only; an unknown partner or a
// gateway without partners is refused before anything is sent, and audited.
func TestNotifyOnePartner(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	zz, qq := &standIn{code: "ok"}, &standIn{code: "ok"}
	zzSrv := httptest.NewTLSServer(&server.Endpoint{Protocols: server.SPOCProtocols, Service: zz})
	defer zzSrv.Close()
	qqSrv := httptest.NewTLSServer(&server.Endpoint{Protocols: server.SPOCProtocols, Service: qq})
	defer qqSrv.Close()
	f := &Forwarder{Country: "UT", Store: st,
		Config:  Config{Partners: []Partner{{Country: "ZZ", URL: zzSrv.URL}, {Country: "QQ", URL: qqSrv.URL}}},
		Clients: map[string]*http.Client{"ZZ": zzSrv.Client(), "QQ": qqSrv.Client()}}
	svc := &ops.Service{Store: st, Country: "UT"}
	actor := ops.Actor{Channel: ops.ChannelREST, Name: "bob"}
	for _, tmpl := range Templates() {
		n := Notice{Template: tmpl}
		switch tmpl {
		case TemplateKeyCompromise:
			n.Role, n.Loss, n.CHR, n.Date = "IS", "lost", "UTIS000001", "2026-12-02"
		case TemplateTermination:
			n.Role, n.CHR = "CVCA", "UTCVCA00001"
		case TemplateCertificateInaccurate, TemplateDVNotCompliant:
			n.CHR = "UTDVN00001"
		}
		subject, body, err := n.Render()
		if err != nil {
			t.Fatal(err)
		}
		results, err := svc.NotifyPartners(ctx, actor, f, ops.Notification{To: "QQ", Template: string(tmpl), Subject: subject, Body: body})
		if err != nil || len(results) != 1 || results[0].ReturnCode != "ok" {
			t.Fatalf("%s: %+v, %v", tmpl, results, err)
		}
		last := qq.got[len(qq.got)-1]
		if last.Subject != subject || last.Body != body {
			t.Errorf("%s: QQ received %q / %q", tmpl, last.Subject, last.Body)
		}
	}
	if len(zz.got) != 0 || len(qq.got) != len(Templates()) {
		t.Fatalf("ZZ received %d, QQ %d", len(zz.got), len(qq.got))
	}
	for name, tc := range map[string]struct {
		m  ops.PartnerMessenger
		to string
	}{
		"unknown partner": {f, "XX"},
		"no SPOC role":    {nil, "ZZ"},
	} {
		before, _ := st.ListAudit(ctx, 1000)
		_, err := svc.NotifyPartners(ctx, actor, tc.m, ops.Notification{To: tc.to, Subject: "s", Body: "b"})
		if !errors.Is(err, ops.ErrNotification) {
			t.Errorf("%s: %v, want ErrNotification", name, err)
		}
		after, _ := st.ListAudit(ctx, 1000)
		last := after[len(after)-1]
		if len(after) != len(before)+1 || !strings.HasPrefix(last.Outcome, "failed: ") || last.Action != "admin.partner.notify" ||
			last.Target != "spoc:"+tc.to {
			t.Errorf("%s: audit %+v", name, last)
		}
	}
	if len(zz.got) != 0 {
		t.Fatal("a refused notification was sent")
	}
}
