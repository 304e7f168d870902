package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/internal/catest"
	"eacgate/store"
)

func TestCertificatesFiltersAndPages(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	dv := f.holder("UT", "DVA", store.RoleDVDomestic)
	f.cert(dv, "UTDVA00001", "UTCVCA00001", store.RoleDVDomestic, now.AddDate(1, 0, 0), nil)
	f.cert(nil, "ZZDVX00001", "ZZCVCA00001", store.RoleDVForeign, now.AddDate(0, 0, 5), nil)
	for i := range 120 {
		h := f.holder("UT", fmt.Sprintf("T%03d", i), store.RoleTerminal)
		c := f.cert(h, fmt.Sprintf("UTT%03d00001", i), "UTDVA00001", store.RoleTerminal, now.AddDate(0, 0, 3+i), nil)
		if i%3 == 0 {
			if err := f.st.SetCertificateStatus(context.Background(), c.ID, store.CertSuspended); err != nil {
				t.Fatal(err)
			}
		}
	}
	b := f.person("ann", store.RoleAuditor)
	count := func(q string) int {
		t.Helper()
		if code := b.get("/console/certificates?" + q); code != http.StatusOK {
			t.Fatalf("%s: %d %s", q, code, b.last)
		}
		return rows(b.last, "/console/certificates/")
	}
	if n := count("role=terminal"); n != 50 || !strings.Contains(b.last, `rel="next"`) || !strings.Contains(b.last, "UTT11900001") ||
		!strings.Contains(b.last, "<title>Certificates · ") {
		t.Fatalf("terminals page 1: %d", n)
	}
	if n := count("role=terminal&page=3"); n != 20 || strings.Contains(b.last, `rel="next"`) {
		t.Fatalf("terminals page 3: %d", n)
	}
	if n := count("status=suspended"); n != 40 {
		t.Fatalf("suspended: %d", n)
	}
	// Expiring within 7 days: terminals 0..4 (3 to 7 days) and the foreign DV (5 days).
	if n := count("expiring=7"); n != 6 || strings.Index(b.last, "UTT00000001") > strings.Index(b.last, "UTT00100001") {
		t.Fatalf("expiring in 7 days: %d (soonest first)", n)
	}
	if n := count("chr=UTT01"); n != 10 {
		t.Fatalf("CHR prefix: %d", n)
	}
	if n := count("car=ZZ"); n != 1 {
		t.Fatalf("CAR prefix: %d", n)
	}
	if n := count("country=zz"); n != 1 {
		t.Fatalf("country: %d", n)
	}
	if n := count("role=dv_domestic&chr=UTDVA&car=UTCVCA"); n != 1 {
		t.Fatalf("combined: %d", n)
	}
	for _, bad := range []string{"expiring=soon", "role=x", "status=lost", "chr=%C3%A9", "country=Z"} {
		if code := b.get("/console/certificates?" + bad); code != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, code)
		}
	}
	b.get("/console/certificates")
	for _, id := range []string{"f-role", "f-country", "f-status", "f-expiring", "f-chr", "f-car"} {
		if !strings.Contains(b.last, `<label for="`+id+`"`) {
			t.Errorf("no label for %s", id)
		}
	}
}

// issued makes a CVCA certificate (brainpoolP256r1) and a DV certificate under it with the
// cvc package, and stores both.
func issued(t *testing.T, f *fixture, dv *store.Holder) (cvca, dvCert *cvc.Certificate, row *store.Certificate) {
	t.Helper()
	ca := catest.CVCA(t, "UTCVCA00001", "brainpoolP256r1")
	cvca = ca.Path[0]
	key, err := ecc.GenerateKey(ecc.CurveByName("brainpoolP256r1"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), false)
	if err != nil {
		t.Fatal(err)
	}
	dvCert, err = cvc.Issue(cvc.CertificateTemplate{CAR: cvca.CHR, CHR: "UTDVA00001", PublicKey: pub,
		CHAT: cvc.NewISCHAT(cvc.RoleDVDomestic, cvc.ISReadDG3|cvc.ISReadDG4), EffectiveDate: cvca.EffectiveDate,
		ExpirationDate: cvca.EffectiveDate.AddDays(90)}, ca.Signer, cvc.ECDSA_SHA256)
	if err != nil {
		t.Fatal(err)
	}
	f.cert(nil, cvca.CHR, cvca.CAR, store.RoleCVCA, cvca.ExpirationDate.Time(), cvca.Raw)
	row = f.cert(dv, dvCert.CHR, dvCert.CAR, store.RoleDVDomestic, dvCert.ExpirationDate.Time(), dvCert.Raw)
	return cvca, dvCert, row
}

func TestCertificatePageDecodesAndDownloads(t *testing.T) {
	f := newFixture(t)
	dv := f.holder("UT", "DVA", store.RoleDVDomestic)
	_, dvCert, row := issued(t, f, dv)
	b := f.person("ann", store.RoleAuditor)
	if code := b.get(fmt.Sprintf("/console/certificates/%d", row.ID)); code != http.StatusOK {
		t.Fatalf("certificate page: %d", code)
	}
	sum := sha256.Sum256(dvCert.Raw)
	for _, want := range []string{
		"<title>Certificate UTDVA00001 · ", "<dt>CAR</dt><dd class=\"mono\">UTCVCA00001</dd>", "<dt>CHR</dt><dd class=\"mono\">UTDVA00001</dd>",
		"DV (domestic)", "Inspection system", "Read DG 4 (iris), Read DG 3 (fingerprint)",
		"<dd>" + dvCert.EffectiveDate.String() + "</dd>", "<dd>" + dvCert.ExpirationDate.String() + "</dd>",
		"id-TA-ECDSA-SHA-256", "brainpoolP256r1 (from issuer)", hex.EncodeToString(sum[:]), `<span class="status valid">valid</span>`,
		fmt.Sprintf(`href="/console/certificates/%d/der"`, row.ID), ">Download DER</a>", fmt.Sprintf(`href="/console/holders/%d"`, dv.ID),
	} {
		if !strings.Contains(b.last, want) {
			t.Errorf("certificate page lacks %q", want)
		}
	}
	// The CVCA's own key carries its curve.
	cs, _ := f.st.CertificatesByCHR(context.Background(), "UTCVCA00001")
	if b.get(fmt.Sprintf("/console/certificates/%d", cs[0].ID)); !strings.Contains(b.last, "<dd>brainpoolP256r1</dd>") {
		t.Error("the CVCA's curve is not shown")
	}

	res, err := b.c.Get(f.srv.URL + fmt.Sprintf("/console/certificates/%d/der", row.ID))
	if err != nil {
		t.Fatal(err)
	}
	der, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(der) != string(dvCert.Raw) || res.Header.Get("Content-Type") != "application/octet-stream" ||
		res.Header.Get("Content-Disposition") != `attachment; filename="UTDVA00001.cvcert"` {
		t.Fatalf("download: %d %q %q, %d bytes", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"), len(der))
	}
	if got := derFileName(`UT"DV/../x 1`); got != "UT_DV____x_1.cvcert" {
		t.Fatalf("file name %q", got)
	}
	// A row that does not decode says so.
	bad := f.cert(nil, "UTBAD00001", "UTCVCA00001", store.RoleDVDomestic, f.clock.Now(), []byte{1, 2, 3})
	if b.get(fmt.Sprintf("/console/certificates/%d", bad.ID)); !strings.Contains(b.last, "does not decode") {
		t.Fatal("undecodable certificate not reported")
	}
}

func TestCertificateStatusChanges(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	term := f.holder("UT", "TERM1", store.RoleTerminal)
	tc := f.cert(term, "UTTERM100001", "UTDVA00001", store.RoleTerminal, now.AddDate(0, 1, 0), nil)
	dv := f.holder("UT", "DVA", store.RoleDVDomestic)
	dc := f.cert(dv, "UTDVA00001", "UTCVCA00001", store.RoleDVDomestic, now.AddDate(1, 0, 0), nil)
	foreign := f.cert(nil, "ZZDVX00001", "ZZCVCA00001", store.RoleDVForeign, now.AddDate(1, 0, 0), nil)
	a := f.person("olga", store.RoleRAOperator)
	status := func(id int64) store.CertStatus {
		c, err := f.st.CertificateByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return c.Status
	}
	// A terminal's certificate: suspended and reinstated at once.
	page := fmt.Sprintf("/console/certificates/%d", tc.ID)
	a.get(page)
	if a.post(page+"/suspend", url.Values{"reason": {"lost"}}); !strings.Contains(a.last, "Certificate UTTERM100001 suspended.") || status(tc.ID) != store.CertSuspended {
		t.Fatalf("suspend: %s", a.last)
	}
	if a.post(page+"/reinstate", url.Values{"reason": {"found"}}); !strings.Contains(a.last, "reinstated") || status(tc.ID) != store.CertValid {
		t.Fatalf("reinstate: %s", a.last)
	}
	// Reinstating a DV's certificate and every revocation are proposals.
	page = fmt.Sprintf("/console/certificates/%d", dc.ID)
	a.get(page)
	a.post(page+"/suspend", url.Values{"reason": {"check"}})
	a.post(page+"/reinstate", url.Values{"reason": {"checked"}})
	id := proposalID(t, a.last)
	if status(dc.ID) != store.CertSuspended {
		t.Fatal("a DV certificate reinstated by one person")
	}
	b := f.person("paul", store.RoleRAOperator)
	if b.approve(id); !strings.Contains(b.last, "approved and executed") || status(dc.ID) != store.CertValid {
		t.Fatalf("approve: %s", b.last)
	}
	a.get(page)
	a.post(page+"/revoke", url.Values{"reason": {"compromised"}})
	id = proposalID(t, a.last)
	if status(dc.ID) != store.CertValid {
		t.Fatal("revoked by one person")
	}
	if b.approve(id); status(dc.ID) != store.CertRevoked {
		t.Fatalf("revoke approved: %s", b.last)
	}
	if ev := f.events("console.certificate.revoke"); len(ev) != 1 || ev[0] != "operator:olga ok UTDVA00001" {
		t.Fatalf("revocation audited as %v", ev)
	}
	// A certificate whose status this gateway does not keep: no buttons, and a forged form
	// is refused by ops.
	page = fmt.Sprintf("/console/certificates/%d", foreign.ID)
	if a.get(page); strings.Contains(a.last, ">Suspend</button>") || !strings.Contains(a.last, "not issued here") {
		t.Fatal("a foreign certificate offers Suspend")
	}
	if a.post(page+"/suspend", url.Values{"reason": {"x"}}); !strings.Contains(a.last, "no status is kept for ZZDVX00001") || status(foreign.ID) != store.CertValid {
		t.Fatalf("foreign suspend: %s", a.last)
	}
}
