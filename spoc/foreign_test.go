package spoc

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/catest"
	"eacgate/internal/testenv"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/store"
	"eacgate/trust"
)

// requestMaker makes certificate requests with libeac (cvcverify mkreq).
type requestMaker struct {
	t        *testing.T
	tool     string
	dir      string
	n        int
	inCAR    string
	newCurve *ecc.Curve
}

func (r *requestMaker) write(name string, b []byte) string {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		r.t.Fatal(err)
	}
	return p
}

func (r *requestMaker) pkcs8(k *ecc.PrivateKey) string {
	r.t.Helper()
	der, err := ecc.MarshalPKCS8PrivateKey(k)
	if err != nil {
		r.t.Fatal(err)
	}
	r.n++
	return r.write(filepath.Base(r.t.Name())+"-"+string(rune('a'+r.n))+".pkcs8", der)
}

// make returns a request for chr with a new key, outer-signed by outerKey as outerCert (no
// outer signature when outerCert is nil), and the new key.
func (r *requestMaker) make(chr string, outerKey *ecc.PrivateKey, outerCert *cvc.Certificate) ([]byte, *ecc.PrivateKey) {
	r.t.Helper()
	key, err := ecc.GenerateKey(r.newCurve, rand.Reader)
	if err != nil {
		r.t.Fatal(err)
	}
	out := filepath.Join(r.dir, chr+".cvreq")
	args := []string{"mkreq", "--key", r.pkcs8(key), "--scheme", "ECDSA_SHA_256", "--chr", chr, "--car", r.inCAR, "--out", out}
	if outerCert != nil {
		args = append(args, "--outer-key", r.pkcs8(outerKey), "--outer-cert", r.write(outerCert.CHR+".cvcert", outerCert.Raw))
	}
	if b, err := exec.Command(r.tool, args...).CombinedOutput(); err != nil {
		r.t.Fatalf("cvcverify %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		r.t.Fatal(err)
	}
	return raw, key
}

// A foreign DV's request relayed by its SPOC is issued only when its outer signature (made
// by libeac) verifies as TR-03139 Table 2 step 9 asks: an initial request with a still valid
// registered CVCA certificate of the DV's country, a successive one with the DV's still
// valid certificate from us. Everything else is refused with its code, the refused message
// stored and audited, nothing issued and no DV registered.
func TestForeignRequestOuterSignature(t *testing.T) {
	tool := testenv.CVCVerify(t)
	ctx := context.Background()
	st := openStore(t)
	tr := trust.New(st)
	ut := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1")
	if _, err := tr.AddCVCACertificate(ctx, ut.Certificate(), true); err != nil {
		t.Fatal(err)
	}
	zz := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1")
	if _, err := tr.AddCVCACertificate(ctx, zz.Certificate(), true); err != nil {
		t.Fatal(err)
	}
	unregistered := catest.CVCA(t, "ZZCVCA00002", "brainpoolP256r1")
	// An expired link certificate of the partner, stored (it was valid when it came).
	oldKey, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	today := cvc.DateOf(time.Now())
	expired, err := authority.NewLink(authority.CVCASpec{CHR: "ZZCVCA00003", Algorithm: cvc.ECDSA_SHA256, CHAT: zz.Certificate().CHAT,
		Effective: today.AddDays(-400), Expiration: today.AddDays(-2)}, oldKey, zz.Certificate(), zz.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddCertificate(ctx, &store.Certificate{CHR: expired.CHR, CAR: expired.CAR, Role: store.RoleCVCA,
		NotBefore: expired.EffectiveDate.Time(), NotAfter: expired.ExpirationDate.Time(), Status: store.CertValid, Raw: expired.Raw}); err != nil {
		t.Fatal(err)
	}
	// The DV's domestic certificate from its own CVCA.
	domKey, _ := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	domPub, _ := cvc.NewPublicKey(cvc.ECDSA_SHA256, domKey.Public(), true)
	domReq, _ := cvc.NewRequest(cvc.RequestTemplate{CAR: "ZZCVCA00001", CHR: "ZZDVF00001"}, domPub, domKey)
	domestic, err := zz.Issue(domReq.Raw, authority.Applicant{Country: "ZZ", Mnemonic: "DVF", Role: cvc.RoleDVDomestic, Status: authority.StatusActive})
	if err != nil {
		t.Fatal(err)
	}

	cert, fp := certWith(t, OIDTLSClient)
	if err := st.CreateHolder(ctx, &store.Holder{Country: "ZZ", Mnemonic: "SPOC", Role: store.RoleSPOC, Status: store.HolderActive, TLSFingerprint: fp}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateHolder(ctx, &store.Holder{Country: "ZZ", Mnemonic: "DVS", Role: store.RoleDVForeign, Status: store.HolderSuspended}); err != nil {
		t.Fatal(err)
	}
	reg := ra.NewStoreRegistry(st)
	svc := &Service{Config: Config{Partners: []Partner{{Country: "ZZ", URL: "https://zz.example/spoc"}}}, Store: st, Registry: reg,
		CVCA: &ra.IssuingService{Issuer: ut, Registry: reg, Logger: slog.New(slog.DiscardHandler)}, Logger: slog.New(slog.DiscardHandler)}
	caller := msg.Caller{Certificate: cert, Fingerprint: fp, RemoteAddr: "192.0.2.9:4433"}
	mk := &requestMaker{t: t, tool: tool, dir: t.TempDir(), inCAR: "UTCVCA00001", newCurve: ecc.CurveByName("brainpoolP256r1")}
	n := 0
	send := func(raw []byte) (msg.Answer, string) {
		n++
		id := "req-" + string(rune('a'+n))
		return svc.Handle(ctx, caller, msg.Message{Operation: "RequestCertificate", CallerID: "ZZ", MessageID: id, CertReq: raw}), id
	}
	issuedCount := func() int {
		t.Helper()
		cs, err := st.CertificatesByCAR(ctx, "UTCVCA00001")
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for _, c := range cs {
			if c.Role != store.RoleCVCA {
				k++
			}
		}
		return k
	}
	refused := func(name string, raw []byte, wire, stored authority.ReturnCode) {
		t.Helper()
		before := issuedCount()
		a, id := send(raw)
		if a.ReturnCode != wire || len(a.Certificates) != 0 {
			t.Errorf("%s: answered %s with %d certificates, want %s", name, a.ReturnCode, len(a.Certificates), wire)
		}
		if issuedCount() != before {
			t.Errorf("%s: a certificate was issued", name)
		}
		events, err := st.ListAudit(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].Action != "foreign_request.refused" || events[0].Outcome != string(stored) || !strings.Contains(events[0].Details, id) {
			t.Errorf("%s: last audit event %+v, want the refusal %s of %s", name, events, stored, id)
		}
		found := false
		for _, h := range []string{"DVF", "DVS", "SPOC"} {
			hd, err := st.HolderByName(ctx, "ZZ", h)
			if err != nil {
				continue
			}
			if m, err := st.MessageByOriginator(ctx, ra.Originator(hd.ID), id); err == nil {
				found = true
				if m.ReturnCode != string(stored) {
					t.Errorf("%s: stored answer %s, want %s", name, m.ReturnCode, stored)
				}
			}
		}
		if !found {
			t.Errorf("%s: the refused message is not stored", name)
		}
	}

	// Initial requests of DV ZZDVF, not registered yet (foreign_dvs: open).
	unauth, _ := mk.make("ZZDVF00002", nil, nil)
	refused("unauthenticated", unauth, authority.FailureOuterSignature, authority.FailureOuterSignature)
	raw, _ := mk.make("ZZDVF00002", unregistered.Signer.(*ecc.PrivateKey), unregistered.Certificate())
	refused("unregistered CVCA key", raw, authority.FailureOuterSignature, authority.FailureOuterSignature)
	impostor := catest.CVCA(t, "ZZCVCA00001", "brainpoolP256r1") // the registered CHR, another key
	raw, _ = mk.make("ZZDVF00002", impostor.Signer.(*ecc.PrivateKey), impostor.Certificate())
	refused("another key under the registered CHR", raw, authority.FailureOuterSignature, authority.FailureOuterSignature)
	raw, _ = mk.make("ZZDVF00002", oldKey, expired)
	refused("expired CVCA certificate", raw, csnCode(authority.FailureExpired), authority.FailureExpired)
	raw, _ = mk.make("ZZDVF00002", domKey, domestic)
	refused("the DV's domestic key", raw, authority.FailureOuterSignature, authority.FailureOuterSignature)
	if _, err := st.HolderByName(ctx, "ZZ", "DVF"); err == nil {
		t.Fatal("a refused request registered the DV")
	}
	raw, _ = mk.make("ZZDVS00001", zz.Signer.(*ecc.PrivateKey), zz.Certificate())
	refused("suspended DV", raw, authority.FailureRequestNotAccepted, authority.FailureRequestNotAccepted)

	raw, fKey := mk.make("ZZDVF00002", zz.Signer.(*ecc.PrivateKey), zz.Certificate())
	a, idF2 := send(raw)
	if a.ReturnCode != authority.OKCertAvailable || len(a.Certificates) != 1 {
		t.Fatalf("initial request signed by the registered CVCA: %s", a.ReturnCode)
	}
	first, err := cvc.ParseCertificate(a.Certificates[0])
	if err != nil || first.CAR != "UTCVCA00001" || first.CHR != "ZZDVF00002" {
		t.Fatalf("certificate %v: %v", first, err)
	}
	// Another DV's certificate from us.
	raw, oKey := mk.make("ZZDVO00001", zz.Signer.(*ecc.PrivateKey), zz.Certificate())
	a, idO1 := send(raw)
	if a.ReturnCode != authority.OKCertAvailable {
		t.Fatalf("initial request of DV ZZDVO: %s", a.ReturnCode)
	}
	other, _ := cvc.ParseCertificate(func() []byte { c, _ := st.CertificatesByCHR(ctx, "ZZDVO00001"); return c[0].Raw }())

	// Successive requests: now that the DV holds a valid certificate from us, the CVCA
	// signature no longer does.
	raw, _ = mk.make("ZZDVF00003", zz.Signer.(*ecc.PrivateKey), zz.Certificate())
	refused("CVCA-signed while the DV holds a valid certificate", raw, authority.FailureOuterSignature, authority.FailureOuterSignature)
	raw, _ = mk.make("ZZDVF00003", oKey, other)
	refused("signed by another DV's certificate", raw, authority.FailureOuterSignature, authority.FailureOuterSignature)
	raw, _ = mk.make("ZZDVF00003", fKey, first)
	a, idF3 := send(raw)
	if a.ReturnCode != authority.OKCertAvailable || len(a.Certificates) != 1 {
		t.Fatalf("successive request signed by our certificate: %s", a.ReturnCode)
	}
	// Each certificate issued, and only those, audited as requested by its DV through the SPOC.
	checkForeignIssuance(t, st, "192.0.2.9:4433", map[string]string{"ZZDVF00002": idF2, "ZZDVO00001": idO1, "ZZDVF00003": idF3})
}
