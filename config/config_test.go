package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/ra"
	"eacgate/spoc"
	"eacgate/store"
)

func write(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "eacgate.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// One file with many mistakes gets all of them in one answer.
func TestValidateReportsEveryProblem(t *testing.T) {
	var c Config
	c.Country = "utopia"
	c.Processing = map[string]string{"terminal": "later", "cvca": "sync"}
	c.Callback.AllowedNetworks = []string{"10.0.0.0/33"}
	c.Callback.AllowedURLPrefixes = []string{"ftp://x/"}
	c.Validity.Terminal = -1
	c.Limits.MaxConnections = -5
	c.Retention.MessagesDays = -1
	c.DVClient.CVCAURL = "cvca.example"
	c.DVClient.CVCASHA256 = []string{"3f5a..."}
	c.DVClient.RenewBefore = -time.Hour
	c.Metrics.Listen = "9464"
	c.SPOC = spoc.Config{Partners: []spoc.Partner{{Country: "ZZZ", URL: "https://x"}, {Country: "QQ"}}, ForeignDVs: "sometimes"}
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`country "utopia"`, "processing.terminal", `unknown role "cvca"`, "callback.allowed_networks", "callback.allowed_url_prefixes",
		"validity_days.terminal", "limits.max_connections", "retention.messages_days", "dv_client.cvca_url", "dv_client.cvca_sha256",
		"dv_client.renew_before", "metrics.listen", `partner 1 ("ZZZ")`, `partner 2 ("QQ")`, "foreign_dvs",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q not reported in:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 15 {
		t.Errorf("%d problems reported, want 15:\n%v", n, err)
	}
}

// Zero values are the defaults and valid; so is the file docker-compose uses.
func TestValidDefaults(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{}).WithDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := Load("../deploy/eacgate.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	c, err := Load(write(t, "data: /srv/eac\ncountry: ZZ\nprocessing: {terminal: async}\ndv_client: {renew_before: 48h}\n"+
		"spoc: {partners: [{country: QQ, url: 'https://qq.example/spoc'}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/srv/eac" || c.Country != "ZZ" || c.DVClient.RenewBefore != 48*time.Hour || len(c.SPOC.Partners) != 1 {
		t.Fatalf("loaded %+v", c)
	}
	if c.DSN != "" {
		t.Fatal("Load filled in defaults: flags could no longer override the data directory")
	}
	if _, err := Load(write(t, "data: x\nlisten_on: 1\n")); err == nil || !strings.Contains(err.Error(), "listen_on") {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := Load(write(t, "processing: {terminal: later}\nvalidity_days: {dv_domestic: -1}\n")); err == nil ||
		!strings.Contains(err.Error(), "processing.terminal") || !strings.Contains(err.Error(), "validity_days.dv_domestic") {
		t.Fatalf("invalid file: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{DataDir: "d", SPOC: spoc.Config{Partners: []spoc.Partner{{Country: "ZZ", URL: "https://zz"}, {Country: "QQ", URL: "https://qq", Timeout: time.Minute}}}}
	d := c.WithDefaults()
	if d.DSN != filepath.Join("d", "eacgate.db") || d.TLSCert != filepath.Join("d", "tls.crt") || d.TLSKey != filepath.Join("d", "tls.key") ||
		d.DocumentSignerList != filepath.Join("d", "document-signer-list.p7s") || d.Country != "UT" || d.Listen != "127.0.0.1:8443" ||
		d.CVCAKey != "cvca" || d.DVKey != "dv" || d.DVMnemonic != "DVDEMO" || d.Logger == nil {
		t.Fatalf("defaults: %+v", d)
	}
	if d.Limits != (LimitOptions{MaxConnections: 1024, MaxHeaderBytes: 16 << 10, MemoryLimitMiB: 1024}) {
		t.Fatalf("limits: %+v", d.Limits)
	}
	if o := d.DVClient; o.RenewBefore != 720*time.Hour || o.CheckInterval != time.Hour || o.MinInterval != 24*time.Hour || o.Timeout != DefaultPeerTimeout {
		t.Fatalf("dv_client: %+v", o)
	}
	if p := d.SPOC.Partners; p[0].Timeout != DefaultPeerTimeout || p[1].Timeout != time.Minute {
		t.Fatalf("partner timeouts: %+v", p)
	}
	if c.SPOC.Partners[0].Timeout != 0 {
		t.Fatal("WithDefaults changed the caller's partner table")
	}
	if (Config{}).WithDefaults().DataDir != "eacgate-data" {
		t.Fatal("data directory")
	}
	again := d.WithDefaults()
	again.Logger = d.Logger
	if again.DSN != d.DSN || again.DVClient.Timeout != d.DVClient.Timeout || again.Limits != d.Limits {
		t.Fatal("WithDefaults is not idempotent")
	}
}

func TestPolicyAndModes(t *testing.T) {
	var c Config
	c.Validity.Terminal = 7
	p := c.Policy()
	if p.Validity[cvc.RoleTerminal] != 7 || p.Validity[cvc.RoleDVDomestic] != 90 {
		t.Fatalf("policy: %+v", p.Validity)
	}
	c.Processing = map[string]string{"terminal": "async", "dv_domestic": "approval"}
	m, err := c.ProcessingModes()
	if err != nil || m[store.RoleTerminal] != ra.ModeAsync || m[store.RoleDVDomestic] != ra.ModeApproval || m[store.RoleDVForeign] != ra.ModeSync {
		t.Fatalf("modes %v, %v", m, err)
	}
}

func TestCallbackURLPolicy(t *testing.T) {
	o := CallbackOptions{AllowedNetworks: []string{"10.20.0.0/16", "bad", "127.0.0.0/33"}}
	if _, err := o.URLPolicy(); err == nil || !strings.Contains(err.Error(), `"bad"`) || !strings.Contains(err.Error(), "127.0.0.0/33") {
		t.Fatalf("%v", err)
	}
	if err := o.CheckResponseURL()("https://dv.example/cb"); err == nil {
		t.Fatal("an invalid policy let a URL through")
	}
	o.AllowedNetworks = []string{"10.20.0.0/16"}
	if err := o.CheckResponseURL()("https://10.20.1.1/cb"); err != nil {
		t.Fatal(err)
	}
}

// The audit key and head file default to the data directory; a checkpoint interval below a
// second and a head file that is the key file are refused.
func TestAuditOptions(t *testing.T) {
	c := Config{DataDir: "/srv/eac"}.WithDefaults()
	if c.Audit.KeyFile != "/srv/eac/audit.key" || c.Audit.HeadFile != "/srv/eac/audit.head" || c.Audit.CheckpointInterval != DefaultCheckpointInterval {
		t.Fatalf("defaults: %+v", c.Audit)
	}
	c.Audit.CheckpointInterval = time.Millisecond
	c.Audit.HeadFile = c.Audit.KeyFile
	err := c.Validate()
	for _, want := range []string{"audit.checkpoint_interval", "audit.head_file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q not reported in %v", want, err)
		}
	}
}

// two_person: quorum per task (at least 1, known tasks only) and the proposal lifetime.
func TestTwoPersonSection(t *testing.T) {
	c, err := Load(write(t, "two_person:\n  quorum: {holder.register: 3, cvca.rollover: 1}\n  proposal_ttl: 8h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.TwoPerson.QuorumOf("holder.register") != 3 || c.TwoPerson.QuorumOf("holder.revoke") != 2 || c.TwoPerson.ProposalTTL != 8*time.Hour {
		t.Fatalf("two_person = %+v", c.TwoPerson)
	}
	if got := c.TwoPerson.SinglePersonTasks(); len(got) != 1 || got[0] != "cvca.rollover" {
		t.Fatalf("single-person tasks = %v", got)
	}
	_, err = Load(write(t, "two_person:\n  quorum: {holder.register: 0, holder.dance: 2}\n"))
	if err == nil || !strings.Contains(err.Error(), "two_person.quorum.holder.register: 0, at least 1") || !strings.Contains(err.Error(), `unknown task "holder.dance"`) {
		t.Fatalf("bad quorum: %v", err)
	}
}

func TestConsoleSection(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.Console.IdleTimeout != 15*time.Minute || c.Console.AbsoluteTimeout != 8*time.Hour || c.Console.Disabled {
		t.Fatalf("console defaults = %+v", c.Console)
	}
	c.Console.IdleTimeout, c.Console.AbsoluteTimeout = 9*time.Hour, time.Hour
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "idle_timeout") {
		t.Fatalf("idle timeout longer than the absolute one accepted: %v", err)
	}
}
