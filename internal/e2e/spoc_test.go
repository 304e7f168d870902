package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"eacgate/cvc"
	"eacgate/internal/openpace"
	"eacgate/internal/testenv"
	"eacgate/server"
	"eacgate/store"
	"eacgate/trust"
)

// country is one country's gateway in the two-country test, with its TLS identity made in
// advance (the partners register each other's certificates before they start).
type country struct {
	*gateway
	code, listen, cfg string
	// partnerPin is the partner's CVCA root SHA-256 (spoc.partners[].cvca_sha256), if pinned.
	partnerPin string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newCountry(t *testing.T, code string) *country {
	t.Helper()
	c := &country{gateway: &gateway{bin: eacgateBinary(t), data: t.TempDir()}, code: code, listen: freeAddr(t)}
	certPEM, keyPEM, err := server.SelfSignedCertificate("127.0.0.1", []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(c.data, "tls.crt"), certPEM, 0o644)
	os.WriteFile(filepath.Join(c.data, "tls.key"), keyPEM, 0o600)
	c.cfg = filepath.Join(t.TempDir(), "eacgate.yaml")
	c.extra = []string{"--config", c.cfg}
	return c
}

// configure writes the country's configuration: partner is the other country.
func (c *country) configure(t *testing.T, partner *country, callbackCA, extra string) {
	t.Helper()
	os.WriteFile(c.cfg, []byte(fmt.Sprintf(`
country: %s
dv_mnemonic: DVHOME
listen: %s
callback:
  allow_private_addresses: true # the receivers listen on 127.0.0.1
  poll_interval: 100ms
  backoff_initial: 200ms
  backoff_max: 1s
  ca_file: %q
spoc:
  foreign_countries: any # every domestic DV may ask the partner (default: listed per DV)
  partners:
    - country: %s
      url: https://%s/spoc
      ca_file: %s
      timeout: 10s
      cvca_sha256: [%s]
%s`, c.code, c.listen, callbackCA, partner.code, partner.listen, filepath.Join(partner.data, "tls.crt"), c.partnerPin, extra)), 0o600)
}

// serve starts the country's gateway on its fixed address (partners know it in advance).
func (c *country) serve(t *testing.T) {
	t.Helper()
	c.start(t, append(c.extra, "--listen", c.listen)...)
}

func (c *country) client() client {
	return client{cert: filepath.Join(c.data, "tls.crt"), key: filepath.Join(c.data, "tls.key")}
}

func foreignCall(messageID, foreignCAR, responseURL string, certReq []byte) call {
	ind, url := "callback_not_possible", map[string]any{}
	if responseURL != "" {
		ind, url = "callback_possible", map[string]any{"string": responseURL}
	}
	return call{Op: "RequestForeignCertificate", Args: map[string]any{
		"callbackIndicator": ind, "messageID": map[string]any{"messageID": messageID},
		"foreignCAR": foreignCAR, "responseURL": url, "certReq": b64(certReq),
	}}
}

// Two countries on loopback: UT with CVCA, DV and SPOC; ZZ with CVCA and SPOC. A DV of UT
// obtains certificates from ZZ's CVCA through both SPOCs, synchronously and by callback, and
// openpace verifies them under ZZ's CVCA. A SPOC may act only for its own country's DVs;
// a DV suspended at home gets nothing abroad.
func TestTwoCountriesThroughSPOCs(t *testing.T) {
	zeepPython(t)
	recv := startReceiver(t, false)
	ut, zz := newCountry(t, "UT"), newCountry(t, "ZZ")
	// UT's callback workers trust the DV's receiver.
	ut.configure(t, zz, recv.certFile, "dv_client:\n  check_interval: 300ms\n  foreign: [ZZ]\n")
	zz.configure(t, ut, recv.certFile, "processing:\n  dv_foreign: sync\n")
	ut.run(t, "init", "cvca", "--chr", "UTCVCA00001")
	ut.run(t, "init", "dv", "--chr", "UTDVHOME00001")
	zz.run(t, "init", "cvca", "--chr", "ZZCVCA00001")
	// UT pins ZZ's CVCA root, as exchanged out of band.
	ut.partnerPin = trust.CertificateSHA256(certByCHR(t, openStore(t, filepath.Join(zz.data, "eacgate.db")), "ZZCVCA00001"))
	ut.configure(t, zz, recv.certFile, "dv_client:\n  check_interval: 300ms\n  foreign: [ZZ]\n")
	// Each SPOC registers the other by its TLS certificate.
	ut.run(t, "holder", "add", "--country", "ZZ", "--mnemonic", "SPOC", "--role", "spoc", "--tls-cert", zz.client().cert)
	zz.run(t, "holder", "add", "--country", "UT", "--mnemonic", "SPOC", "--role", "spoc", "--tls-cert", ut.client().cert)
	registerCVCARoot(t, zz, ut, "UTCVCA00001")
	ut.serve(t)
	zz.serve(t)

	// A national DV of UT with its domestic certificate.
	dv := ut.register(t, "UT", "DVN", "dv_domestic")
	domReq, domKey := newRequest(t, "brainpoolP256r1", "UTDVN00001", "UTCVCA00001", "", nil)
	res := ut.zeep(t, "/cvca", dv, requestCall("dom-1", domReq))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("domestic DV certificate: %v", res[0])
	}

	zzStore := openStore(t, filepath.Join(zz.data, "eacgate.db"))
	zzCVCA := certByCHR(t, zzStore, "ZZCVCA00001")

	// Synchronously: ZZ issues at once, UT relays ok_cert_available.
	req1, zzKey := newRequest(t, "brainpoolP256r1", "UTDVN00002", "ZZCVCA00001", "UTDVN00001", domKey)
	res = ut.zeep(t, "/cvca", dv, foreignCall("f-1", "ZZCVCA00001", "", req1))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("foreign request (sync): %v", res[0])
	}
	foreign, err := cvc.ParseCertificate(certificates(t, res[0])[0])
	if err != nil {
		t.Fatal(err)
	}
	if foreign.CHR != "UTDVN00002" || foreign.CAR != "ZZCVCA00001" || foreign.Role() != cvc.RoleDVForeign {
		t.Fatalf("foreign certificate %s by %s, role %s", foreign.CHR, foreign.CAR, foreign.Role())
	}
	openpace.Verifies(t, []*cvc.Certificate{zzCVCA}, foreign)

	// UT's own DV gets its ZZ certificate by itself (dv_client.foreign), through the SPOC.
	utStore := openStore(t, filepath.Join(ut.data, "eacgate.db"))
	var own *cvc.Certificate
	testenv.Eventually(t, 30*time.Second, "UT's DV to obtain a ZZ certificate", func() bool {
		rows, err := utStore.CertificatesByCAR(context.Background(), "ZZCVCA00001")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if strings.HasPrefix(r.CHR, "UTDVHOME") {
				own, _ = cvc.ParseCertificate(r.Raw)
			}
		}
		return own != nil
	})
	openpace.Verifies(t, []*cvc.Certificate{zzCVCA}, own)

	// Terminals of UT's DV are certified under the DV's ZZ certificate, for ZZ's documents,
	// when their request names it as CAR: GetCACertificates at /dv carries the ZZ chain once
	// the DV has loaded it, and openpace verifies the terminal's certificate under ZZ's CVCA.
	// A request without CAR is still issued under the domestic DV certificate.
	term := ut.register(t, "UT", "ISZZ01", "terminal")
	var caChain []*cvc.Certificate
	testenv.EventuallyReport(t, 30*time.Second, func() bool {
		res := ut.zeep(t, "/dv", term, caCall())
		if res[0]["returnCode"] != "ok_cert_available" {
			t.Fatalf("GetCACertificates at /dv: %v", res[0])
		}
		caChain = parseChain(t, certificates(t, res[0]))
		return len(caChain) == 4 && caChain[2].Equal(zzCVCA) && caChain[3].Equal(own)
	}, func() string {
		return fmt.Sprintf("/dv GetCACertificates never carried the ZZ chain (%d certificates)", len(caChain))
	})
	termReq, _ := newRequest(t, "brainpoolP256r1", "UTISZZ0100001", own.CHR, "", nil)
	domTermReq, _ := newRequest(t, "brainpoolP256r1", "UTISZZ0100002", "", "", nil)
	res = ut.zeep(t, "/dv", term, requestCall("t-zz-1", termReq), requestCall("t-dom-1", domTermReq))
	if res[0]["returnCode"] != "ok_cert_available" || res[1]["returnCode"] != "ok_cert_available" {
		t.Fatalf("terminal under the foreign DV certificate: %v; domestic: %v", res[0], res[1])
	}
	termZZ := parseChain(t, certificates(t, res[0]))[0]
	termDom := parseChain(t, certificates(t, res[1]))[0]
	if termZZ.CAR != own.CHR || termDom.CAR != "UTDVHOME00001" {
		t.Fatalf("terminal certificates under %s and %s", termZZ.CAR, termDom.CAR)
	}
	openpace.Verifies(t, []*cvc.Certificate{zzCVCA, own}, termZZ)

	// By callback: ZZ holds foreign DV requests for approval and answers UT's SPOC later;
	// UT passes the answer on to the DV's responseURL.
	zz.cmd.Process.Signal(os.Interrupt)
	<-zz.exited
	// While ZZ is down, a DV that takes callbacks gets ok_request_forwarded: the forwarding
	// is queued durably and retried by UT's workers.
	// Successive requests are authenticated by the DV's ZZ certificate (TR-03139 Table 2 step 3).
	reqQ, _ := newRequest(t, "brainpoolP256r1", "UTDVN00005", "ZZCVCA00001", "UTDVN00002", zzKey)
	res = ut.zeep(t, "/cvca", dv, foreignCall("f-q", "ZZCVCA00001", recv.url, reqQ))
	if res[0]["returnCode"] != "ok_request_forwarded" {
		t.Fatalf("foreign request while ZZ is down: %v", res[0])
	}
	zz.configure(t, ut, recv.certFile, "processing:\n  dv_foreign: approval\n")
	zz.serve(t)
	req2, _ := newRequest(t, "brainpoolP256r1", "UTDVN00003", "ZZCVCA00001", "UTDVN00002", zzKey)
	res = ut.zeep(t, "/cvca", dv, foreignCall("f-2", "ZZCVCA00001", recv.url, req2))
	if res[0]["returnCode"] != "ok_request_forwarded" {
		t.Fatalf("foreign request (callback): %v", res[0])
	}
	var list string
	testenv.EventuallyReport(t, 30*time.Second, func() bool {
		list = zz.run(t, "request", "list")
		ids := requestRow.FindAllStringSubmatch(list, -1)
		return len(ids) == 2 && strings.Contains(list, "UTDVN00003") && strings.Contains(list, "UTDVN00005")
	}, func() string { return "ZZ pending requests (the queued one should have been forwarded):\n" + list })
	// Approved in the order of their sequence numbers (a renewal must name a higher one than
	// the DV's current certificate), each answered before the next.
	for _, p := range []struct{ chr, messageID string }{{"UTDVN00003", "f-2"}, {"UTDVN00005", "f-q"}} {
		row := regexp.MustCompile(`(?m)^(\d+)\s.*` + p.chr).FindStringSubmatch(list)
		if row == nil {
			t.Fatalf("no pending request for %s:\n%s", p.chr, list)
		}
		zz.run(t, "request", "approve", row[1])
		testenv.EventuallyReport(t, 30*time.Second, func() bool { return len(recv.received(t)[p.messageID]) > 0 }, func() string {
			return fmt.Sprintf("the DV never got its callback for %s; UT outbox:\n%s\nZZ outbox:\n%s", p.chr, ut.run(t, "outbox", "list"), zz.run(t, "outbox", "list"))
		})
	}
	got := recv.received(t)["f-2"][0]
	if got.StatusInfo != "ok_cert_available" || len(got.Certificates) != 1 {
		t.Fatalf("callback to the DV: %+v", got)
	}
	second := decodeCert(t, got.Certificates[0])
	if second.CHR != "UTDVN00003" || second.CAR != "ZZCVCA00001" {
		t.Fatalf("relayed certificate %s by %s", second.CHR, second.CAR)
	}
	openpace.Verifies(t, []*cvc.Certificate{zzCVCA}, second)
	queued := recv.received(t)["f-q"][0]
	if queued.StatusInfo != "ok_cert_available" || decodeCert(t, queued.Certificates[0]).CHR != "UTDVN00005" {
		t.Fatalf("callback for the queued forwarding: %+v", queued)
	}

	// ZZ's SPOC may not request for a DV of another country (QQ) at UT's CVCA, nor with a
	// callerID that is not its own.
	qqReq, _ := newRequest(t, "brainpoolP256r1", "QQDVX00001", "UTCVCA00001", "", nil)
	zzUnsigned, _ := newRequest(t, "brainpoolP256r1", "ZZDVY00001", "UTCVCA00001", "", nil)
	res = ut.zeep(t, "/spoc", zz.client(),
		call{Op: "RequestCertificate", Args: map[string]any{"callerID": "ZZ", "messageID": "x-1", "certificateRequest": b64(qqReq)}},
		call{Op: "RequestCertificate", Args: map[string]any{"callerID": "QQ", "messageID": "x-2", "certificateRequest": b64(qqReq)}},
		call{Op: "RequestCertificate", Args: map[string]any{"callerID": "ZZ", "messageID": "x-3", "certificateRequest": b64(zzUnsigned)}},
		call{Op: "GeneralMessage", Args: map[string]any{"callerID": "ZZ", "messageID": "g-1", "subject": "maintenance", "body": "Sunday 02:00 UTC"}})
	if res[0]["result"] != "failure_request_not_accepted" || res[1]["result"] != "failure_request_not_accepted" {
		t.Fatalf("SPOC acting for another country: %v / %v", res[0], res[1])
	}
	// TR-03139 Table 2 step 9: a request without an outer signature gets nothing (CSN 36 9791
	// has no failure_outer_signature for RequestCertificate: the closest code is sent).
	if res[2]["result"] == "ok_cert_available" || res[3]["value"] != "ok" {
		t.Fatalf("ZZ's DV unauthenticated at UT: %v; general message: %v", res[2], res[3])
	}
	// ZZ's own DV asks UT's CVCA through ZZ's SPOC: ZZ's CVCA countersigns the initial request
	// (step 7) and UT verifies it with ZZ's CVCA root registered under its SHA-256 (step 9).
	zdv := zz.register(t, "ZZ", "DVY", "dv_domestic")
	zdomReq, zdomKey := newRequest(t, "brainpoolP256r1", "ZZDVY00001", "ZZCVCA00001", "", nil)
	if res := zz.zeep(t, "/cvca", zdv, requestCall("zdom-1", zdomReq)); res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("ZZ's domestic DV certificate: %v", res[0])
	}
	zzOwn, _ := newRequest(t, "brainpoolP256r1", "ZZDVY00002", "UTCVCA00001", "ZZDVY00001", zdomKey)
	res = zz.zeep(t, "/cvca", zdv, foreignCall("x-4", "UTCVCA00001", "", zzOwn))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("ZZ's DV at UT through ZZ's SPOC: %v", res[0])
	}
	if fromUT, err := cvc.ParseCertificate(certificates(t, res[0])[0]); err != nil || fromUT.CHR != "ZZDVY00002" || fromUT.CAR != "UTCVCA00001" {
		t.Fatalf("ZZ's DV got %+v (%v)", fromUT, err)
	}
	if out := ut.run(t, "spoc", "messages"); !strings.Contains(out, "maintenance") || !strings.Contains(out, "Sunday 02:00 UTC") {
		t.Fatalf("spoc messages:\n%s", out)
	}
	// UT's operator notifies ZZ (TR-03139 C.4) over the SPOCs' mutual TLS: ZZ lists the
	// message as received from UT's SPOC, UT as sent and answered.
	if out := ut.run(t, "spoc", "notify", "--to", "ZZ", "--template", "dv-not-compliant", "--chr", "UTDVN00001"); !strings.Contains(out, "ZZ  sent") {
		t.Fatalf("spoc notify:\n%s", out)
	}
	if out := zz.run(t, "spoc", "messages"); !strings.Contains(out, "from UTSPOC") || !strings.Contains(out, "subject: DV not compliant") ||
		!strings.Contains(out, "The DV UTDVN00001 is no longer compliant to Common CP requirements.") {
		t.Fatalf("ZZ's spoc messages:\n%s", out)
	}
	if out := ut.run(t, "spoc", "messages"); !strings.Contains(out, "to ZZ (answered ok)") {
		t.Fatalf("UT's spoc messages:\n%s", out)
	}
	// An unregistered client certificate is not a SPOC.
	if res := ut.zeep(t, "/spoc", dv, call{Op: "GetCACertificates", Args: map[string]any{"callerID": "UT", "messageID": "y"}}); res[0]["result"] != "failure_request_not_accepted" {
		t.Fatalf("a DV at /spoc: %v", res[0])
	}

	// A DV suspended at home cannot get a foreign certificate.
	ut.run(t, "holder", "suspend", "--country", "UT", "--mnemonic", "DVN", "--reason", "test")
	req3, _ := newRequest(t, "brainpoolP256r1", "UTDVN00004", "ZZCVCA00001", "UTDVN00001", domKey)
	res = ut.zeep(t, "/cvca", dv, foreignCall("f-3", "ZZCVCA00001", "", req3))
	if res[0]["returnCode"] != "failure_request_not_accepted" {
		t.Fatalf("suspended DV: %v", res[0])
	}
	// An unknown foreign country.
	ut.run(t, "holder", "reinstate", "--country", "UT", "--mnemonic", "DVN", "--reason", "test")
	req4, _ := newRequest(t, "brainpoolP256r1", "UTDVN00004", "QQCVCA00001", "UTDVN00001", domKey)
	res = ut.zeep(t, "/cvca", dv, foreignCall("f-4", "QQCVCA00001", "", req4))
	if res[0]["returnCode"] != "failure_foreignCAR_unknown" {
		t.Fatalf("unknown country: %v", res[0])
	}

	// ZZ rolls its CVCA over to a new key while serving: its outbox sends UT's SPOC the link
	// certificate (new_cer_available_notification), which UT stores because it chains to the
	// pinned root; openpace verifies it under that root.
	if out := zz.run(t, "cvca", "rollover", "--chr", "ZZCVCA00002"); !strings.Contains(out, "link certificate ZZCVCA00002 stored") {
		t.Fatalf("cvca rollover:\n%s", out)
	}
	testenv.EventuallyReport(t, 30*time.Second, func() bool {
		return strings.Contains(ut.run(t, "trust", "list", "--country", "ZZ"), "ZZCVCA00002")
	}, func() string {
		return "UT never stored ZZ's link certificate; ZZ outbox:\n" + zz.run(t, "outbox", "list")
	})
	link := certByCHR(t, openStore(t, filepath.Join(ut.data, "eacgate.db")), "ZZCVCA00002")
	if link.CAR != "ZZCVCA00001" {
		t.Fatalf("link certificate by %s", link.CAR)
	}
	openpace.Verifies(t, []*cvc.Certificate{zzCVCA}, link)
}

func decodeCert(t *testing.T, b64cert string) *cvc.Certificate {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64cert)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cvc.ParseCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// registerCVCARoot makes country at trust the CVCA root chr of partner, with its SHA-256 as
// exchanged out of band: it authenticates the initial requests of partner's DVs (TR-03139
// Table 2 step 9), which partner's CVCA countersigns.
func registerCVCARoot(t *testing.T, at, partner *country, chr string) {
	t.Helper()
	root := certByCHR(t, openStore(t, filepath.Join(partner.data, "eacgate.db")), chr)
	file := filepath.Join(t.TempDir(), chr+".cvcert")
	if err := os.WriteFile(file, root.Raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := at.run(t, "trust", "add", file, "--sha256", trust.CertificateSHA256(root)); !strings.Contains(out, chr+" added") {
		t.Fatalf("trust add %s: %s", chr, out)
	}
}

func certByCHR(t *testing.T, st *store.Store, chr string) *cvc.Certificate {
	t.Helper()
	rows, err := st.CertificatesByCHR(context.Background(), chr)
	if err != nil || len(rows) == 0 {
		t.Fatalf("certificate %s: %v", chr, err)
	}
	c, err := cvc.ParseCertificate(rows[0].Raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// With validities shorter than renew_before, the DV renews its own certificate without an
// operator (new key, request authenticated with the old one, issued by the local CVCA), and
// terminals keep getting certificates across the renewal: their requests may name the
// previous DV certificate or the new one.
func TestDVRenewsItself(t *testing.T) {
	zeepPython(t)
	g := &gateway{bin: eacgateBinary(t), data: t.TempDir()}
	cfg := filepath.Join(t.TempDir(), "eacgate.yaml")
	os.WriteFile(cfg, []byte(`
country: UT
dv_mnemonic: DVR
validity_days: {dv_domestic: 2, terminal: 1}
policy: {allow_outside_tr03139: true} # renewals within the test
dv_client:
  renew_before: 96h
  check_interval: 200ms
  min_interval: 2s
`), 0o600)
	g.extra = []string{"--config", cfg}
	g.run(t, "init", "cvca", "--chr", "UTCVCA00001")
	g.run(t, "init", "dv", "--chr", "UTDVR00001")
	g.start(t, g.extra...)
	term := g.register(t, "UT", "ISREN", "terminal")

	chainNow := func() []*cvc.Certificate {
		t.Helper()
		res := g.zeep(t, "/dv", term, caCall())
		return parseChain(t, certificates(t, res[0]))
	}
	// The first renewal happens soon after start (the initial certificate is already due).
	waitForDV := func(notCHR string) []*cvc.Certificate {
		t.Helper()
		var chain []*cvc.Certificate
		testenv.Eventually(t, 30*time.Second, "the DV to renew "+notCHR, func() bool {
			chain = chainNow()
			return chain[len(chain)-1].CHR != notCHR
		})
		return chain
	}
	chain := waitForDV("UTDVR00001")
	dv2 := chain[len(chain)-1]
	if dv2.CAR != "UTCVCA00001" {
		t.Fatalf("renewed DV certificate %s by %s", dv2.CHR, dv2.CAR)
	}
	// A terminal's initial request naming the previous DV certificate, then a renewal naming
	// the current one after the DV renewed again.
	req1, key1 := newRequest(t, "brainpoolP256r1", "UTISREN00001", "UTDVR00001", "", nil)
	res := g.zeep(t, "/dv", term, requestCall("r-1", req1))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("terminal, previous DV as CAR: %v", res[0])
	}
	first, _ := cvc.ParseCertificate(certificates(t, res[0])[0])
	chain = waitForDV(dv2.CHR)
	dv3 := chain[len(chain)-1]
	req2, _ := newRequest(t, "brainpoolP256r1", "UTISREN00002", dv3.CHR, first.CHR, key1)
	res = g.zeep(t, "/dv", term, requestCall("r-2", req2))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("terminal renewal across the DV renewal: %v", res[0])
	}
	second, _ := cvc.ParseCertificate(certificates(t, res[0])[0])
	if second.CAR == "UTDVR00001" {
		t.Fatalf("terminal certificate still issued by the first DV certificate")
	}
	// The terminal certificate verifies (openpace) under the DV certificate that issued it
	// (the DV may have renewed once more meanwhile: take the issuer from the store).
	issuer := certByCHR(t, openStore(t, filepath.Join(g.data, "eacgate.db")), second.CAR)
	openpace.Verifies(t, []*cvc.Certificate{chain[0], issuer}, second)
}

// A DV whose CVCA runs in another gateway: eacgate init dv gets its first certificate from
// the remote CVCA; the DV then renews itself, the CVCA answering by callback (SendCertificates
// to the DV's /dv), and terminals are certified under the renewed DV certificate.
func TestDVWithRemoteCVCA(t *testing.T) {
	zeepPython(t)
	cv, dvg := newCountry(t, "UT"), newCountry(t, "UT")
	os.WriteFile(cv.cfg, []byte(fmt.Sprintf(`
country: UT
dv_mnemonic: DVNONE
listen: %s
validity_days: {dv_domestic: 2}
policy: {allow_outside_tr03139: true} # renewals within the test
processing: {dv_domestic: async}
callback:
  allow_private_addresses: true # the receivers listen on 127.0.0.1
  poll_interval: 100ms
  backoff_initial: 200ms
  backoff_max: 1s
  ca_file: %q
`, cv.listen, filepath.Join(dvg.data, "tls.crt"))), 0o600)
	os.WriteFile(dvg.cfg, []byte(fmt.Sprintf(`
country: UT
dv_mnemonic: DVREM
listen: %s
dv_client:
  cvca_url: https://%s/cvca
  cvca_ca_file: %q
  response_url: https://%s/dv
  renew_before: 96h
  check_interval: 300ms
  min_interval: 2s
`, dvg.listen, cv.listen, filepath.Join(cv.data, "tls.crt"), dvg.listen)), 0o600)
	cv.run(t, "init", "cvca", "--chr", "UTCVCA00001")
	cv.run(t, "holder", "add", "--country", "UT", "--mnemonic", "DVREM", "--role", "dv_domestic", "--tls-cert", dvg.client().cert)
	dvg.run(t, "holder", "add", "--country", "UT", "--mnemonic", "CVCA", "--role", "cvca", "--tls-cert", cv.client().cert)
	cv.serve(t)
	dvg.run(t, "init", "dv", "--chr", "UTDVREM00001")
	dvg.serve(t)

	term := dvg.register(t, "UT", "ISREM01", "terminal")
	var chain []*cvc.Certificate
	testenv.EventuallyReport(t, 30*time.Second, func() bool {
		chain = parseChain(t, certificates(t, dvg.zeep(t, "/dv", term, caCall())[0]))
		return chain[len(chain)-1].CHR != "UTDVREM00001"
	}, func() string {
		return "the DV did not renew through the remote CVCA; CVCA outbox:\n" + cv.run(t, "outbox", "list", "--state", "")
	})
	renewed := chain[len(chain)-1]
	if renewed.CAR != "UTCVCA00001" || chain[0].CHR != "UTCVCA00001" {
		t.Fatalf("chain %s <- %s", chain[0].CHR, renewed.CHR)
	}
	// The renewal came by callback: the CVCA's outbox delivered it.
	if out := cv.run(t, "outbox", "list", "--state", "done"); !strings.Contains(out, "/dv") {
		t.Fatalf("CVCA outbox:\n%s", out)
	}
	req, termKey := newRequest(t, "brainpoolP256r1", "UTISREM0100001", renewed.CHR, "", nil)
	res := dvg.zeep(t, "/dv", term, requestCall("rem-1", req))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("terminal: %v", res[0])
	}
	leaf, _ := cvc.ParseCertificate(certificates(t, res[0])[0])
	issuer := certByCHR(t, openStore(t, filepath.Join(dvg.data, "eacgate.db")), leaf.CAR)
	openpace.Verifies(t, []*cvc.Certificate{chain[0], issuer}, leaf)

	// The CVCA rolls over to a new key while both serve: the DV fetches the link certificate,
	// its next renewal names the new CVCA certificate (which switches the CVCA's issuer at
	// once) and is certified under the new key; terminals get the link certificate with the
	// chain and a certificate openpace verifies from the old root through the link.
	if out := cv.run(t, "cvca", "rollover", "--chr", "UTCVCA00002"); !strings.Contains(out, "link certificate UTCVCA00002 stored") {
		t.Fatalf("cvca rollover:\n%s", out)
	}
	testenv.EventuallyReport(t, 30*time.Second, func() bool {
		chain = parseChain(t, certificates(t, dvg.zeep(t, "/dv", term, caCall())[0]))
		return chain[len(chain)-1].CAR == "UTCVCA00002"
	}, func() string {
		return fmt.Sprintf("the DV was not certified under the new CVCA key; chain ends %s by %s", chain[len(chain)-1].CHR, chain[len(chain)-1].CAR)
	})
	if len(chain) != 3 || chain[0].CHR != "UTCVCA00001" || chain[1].CHR != "UTCVCA00002" || chain[1].CAR != "UTCVCA00001" {
		t.Fatalf("chain after the rollover: %v", chain)
	}
	underNew := chain[2]
	req, _ = newRequest(t, "brainpoolP256r1", "UTISREM0100002", underNew.CHR, leaf.CHR, termKey)
	res = dvg.zeep(t, "/dv", term, requestCall("rem-2", req))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("terminal after the rollover: %v", res[0])
	}
	leaf, _ = cvc.ParseCertificate(certificates(t, res[0])[0])
	issuer = certByCHR(t, openStore(t, filepath.Join(dvg.data, "eacgate.db")), leaf.CAR)
	openpace.Verifies(t, []*cvc.Certificate{chain[0], chain[1], issuer}, leaf)
}

// A DV in a gateway of its own (no SPOC role) gets its foreign certificates through the
// national SPOC at dv_client.cvca_url: RequestForeignCertificate to UT's /cvca, forwarded to
// ZZ, relayed back at once. ZZ's CVCA root is imported by the operator under its SHA-256
// (eacgate trust add); the DV then certifies a terminal under its ZZ certificate.
func TestDVThroughNationalSPOC(t *testing.T) {
	zeepPython(t)
	ut, zz, dvg := newCountry(t, "UT"), newCountry(t, "ZZ"), newCountry(t, "UT")
	zz.configure(t, ut, filepath.Join(ut.data, "tls.crt"), "processing:\n  dv_foreign: sync\n")
	zz.run(t, "init", "cvca", "--chr", "ZZCVCA00001")
	zzRoot := certByCHR(t, openStore(t, filepath.Join(zz.data, "eacgate.db")), "ZZCVCA00001")
	ut.partnerPin = trust.CertificateSHA256(zzRoot)
	ut.configure(t, zz, filepath.Join(dvg.data, "tls.crt"), "")
	ut.run(t, "init", "cvca", "--chr", "UTCVCA00001")
	ut.run(t, "holder", "add", "--country", "ZZ", "--mnemonic", "SPOC", "--role", "spoc", "--tls-cert", zz.client().cert)
	zz.run(t, "holder", "add", "--country", "UT", "--mnemonic", "SPOC", "--role", "spoc", "--tls-cert", ut.client().cert)
	ut.run(t, "holder", "add", "--country", "UT", "--mnemonic", "DVBORDER", "--role", "dv_domestic", "--tls-cert", dvg.client().cert)
	registerCVCARoot(t, zz, ut, "UTCVCA00001")
	os.WriteFile(dvg.cfg, []byte(fmt.Sprintf(`
country: UT
dv_mnemonic: DVBORDER
listen: %s
dv_client:
  cvca_url: https://%s/cvca
  cvca_ca_file: %q
  response_url: https://%s/dv
  check_interval: 300ms
  foreign: [ZZ]
`, dvg.listen, ut.listen, filepath.Join(ut.data, "tls.crt"), dvg.listen)), 0o600)
	dvg.run(t, "holder", "add", "--country", "UT", "--mnemonic", "CVCA", "--role", "cvca", "--tls-cert", ut.client().cert)
	ut.serve(t)
	zz.serve(t)
	dvg.run(t, "init", "dv", "--chr", "UTDVBORDER00001")

	// ZZ's root: refused without its SHA-256, and with a wrong one; taken with the right one.
	rootFile := filepath.Join(t.TempDir(), "zz.cvcert")
	os.WriteFile(rootFile, zzRoot.Raw, 0o600)
	for _, args := range [][]string{{}, {"--sha256", strings.Repeat("0", 64)}} {
		cmd := exec.Command(dvg.bin, append(append([]string{"trust", "add", rootFile}, args...), append([]string{"--data", dvg.data}, dvg.extra...)...)...)
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), trust.CertificateSHA256(zzRoot)) {
			t.Fatalf("trust add %v: %v\n%s", args, err, out)
		}
	}
	if out := dvg.run(t, "trust", "add", rootFile, "--sha256", trust.CertificateSHA256(zzRoot)); !strings.Contains(out, "ZZCVCA00001 added") {
		t.Fatalf("trust add: %s", out)
	}
	if out := dvg.run(t, "trust", "list", "--country", "zz"); !strings.Contains(out, "ZZCVCA00001") || strings.Contains(out, "UTCVCA") {
		t.Fatalf("trust list: %s", out)
	}
	dvg.serve(t)

	term := dvg.register(t, "UT", "ISB01", "terminal")
	var own *cvc.Certificate
	testenv.EventuallyReport(t, 30*time.Second, func() bool {
		chain := parseChain(t, certificates(t, dvg.zeep(t, "/dv", term, caCall())[0]))
		own = chain[len(chain)-1]
		return own.CAR == "ZZCVCA00001"
	}, func() string {
		return "the DV got no ZZ certificate through the national SPOC; UT messages:\n" + ut.run(t, "request", "list")
	})
	if !strings.HasPrefix(own.CHR, "UTDVBORDER") || own.Role() != cvc.RoleDVForeign {
		t.Fatalf("foreign DV certificate %s (%s)", own.CHR, own.Role())
	}
	openpace.Verifies(t, []*cvc.Certificate{zzRoot}, own)
	req, _ := newRequest(t, "brainpoolP256r1", "UTISB0100001", own.CHR, "", nil)
	res := dvg.zeep(t, "/dv", term, requestCall("b-1", req))
	if res[0]["returnCode"] != "ok_cert_available" {
		t.Fatalf("terminal under the ZZ certificate: %v", res[0])
	}
	leaf := parseChain(t, certificates(t, res[0]))[0]
	if leaf.CAR != own.CHR {
		t.Fatalf("terminal certificate under %s", leaf.CAR)
	}
	openpace.Verifies(t, []*cvc.Certificate{zzRoot, own}, leaf)
}
