package main

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"eacgate/msg"
	"eacgate/server"
)

// partnerSPOC is a stand-in partner SPOC that records the GeneralMessages it receives.
type partnerSPOC struct {
	mu  sync.Mutex
	got []msg.Message
}

func (p *partnerSPOC) Handle(_ context.Context, _ msg.Caller, m msg.Message) msg.Answer {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, m)
	return msg.Answer{ReturnCode: "ok"}
}

// spoc notify sends a template's text to the partner, which spoc messages then lists with
// the audit event of the sending; a partner that cannot be reached makes it exit 1, and a
// template without its parameters is a usage error.
func TestSPOCNotify(t *testing.T) {
	dir := t.TempDir()
	partner := &partnerSPOC{}
	srv := httptest.NewTLSServer(&server.Endpoint{Protocols: server.SPOCProtocols, Service: partner})
	defer srv.Close()
	ca := filepath.Join(dir, "zz.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	gone := httptest.NewTLSServer(nil)
	goneURL := gone.URL
	gone.Close()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "eacgate.yaml")
	yaml := "data: " + filepath.Join(dir, "data") + "\ncountry: UT\nspoc:\n  require_eku: false\n  partners:\n" +
		"    - {country: ZZ, url: " + srv.URL + ", ca_file: " + ca + "}\n" +
		"    - {country: QQ, url: " + goneURL + ", ca_file: " + ca + "}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runSplit("spoc", "notify", "--config", cfg, "--to", "zz", "--template", "dv-not-compliant", "--chr", "UTDVN00001")
	if code != 0 || !strings.Contains(out, "ZZ  sent") {
		t.Fatalf("spoc notify: exit %d: %s%s", code, out, errOut)
	}
	if len(partner.got) != 1 || partner.got[0].Subject != "DV not compliant" || partner.got[0].CallerID != "UT" ||
		partner.got[0].Body != "The DV UTDVN00001 is no longer compliant to Common CP requirements." {
		t.Fatalf("the partner received %+v", partner.got)
	}
	code, out, errOut = runSplit("spoc", "notify", "--config", cfg, "--to", "all", "--subject", "Maintenance", "--body", "Sunday 02:00 UTC")
	if code != 1 || !strings.Contains(out, "ZZ  sent") || !strings.Contains(out, "QQ  NOT TAKEN") || !strings.Contains(errOut, "QQ") {
		t.Fatalf("spoc notify --to all with QQ down: exit %d: %s%s", code, out, errOut)
	}
	if len(partner.got) != 2 || partner.got[1].Subject != "Maintenance" || partner.got[1].Body != "Sunday 02:00 UTC" {
		t.Fatalf("the partner received %+v", partner.got)
	}
	if code, out, errOut := runSplit("spoc", "messages", "--config", cfg); code != 0 || !strings.Contains(out, "to ZZ (answered ok)") ||
		!strings.Contains(out, "to QQ (failed") || !strings.Contains(out, "subject: DV not compliant") {
		t.Fatalf("spoc messages: exit %d: %s%s", code, out, errOut)
	}
	if code, out, errOut := runSplit("audit", "list", "--config", cfg); code != 0 || strings.Count(out, "partner.notify") != 3 ||
		!strings.Contains(out, "failed: partner unreachable") {
		t.Fatalf("audit list: exit %d: %s%s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"--to", "ZZ", "--template", "key-compromise", "--chr", "UTDVN00001"},
		{"--to", "ZZ", "--template", "disruption", "--subject", "s"},
		{"--template", "disruption"},
		{"--to", "XX", "--template", "disruption"},
	} {
		if code, _, errOut := runSplit(append([]string{"spoc", "notify", "--config", cfg}, args...)...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
	}
	if len(partner.got) != 2 {
		t.Fatalf("a refused notification was sent: %+v", partner.got)
	}
}
