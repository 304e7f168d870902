package cvc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/internal/testenv"
)

func TestCheckHolderName(t *testing.T) {
	for _, tc := range []struct {
		country, mnemonic string
		want              string // part of the error; "" for none
	}{
		{"UT", "ISGATE01", ""},
		{"DE", "DV-1_x", ""},
		{"ZZ", "A", ""},
		{"QQ", "SPOC", ""},
		{"XA", "DVTEST", ""},
		{"FR", "123456789", ""},
		{"ut", "ISGATE09", "upper case (UT"},
		{"Ut", "ISGATE09", "upper case"},
		{"UTO", "DV", "two letters"},
		{"U", "DV", "two letters"},
		{"", "DV", "two letters"},
		{"YY", "DV", "not an ISO 3166-1 alpha-2 code"},
		{"U1", "DV", "not an ISO 3166-1 alpha-2 code"},
		{"UT", "", "1 to 9 characters"},
		{"UT", "MNEMONIC10", "1 to 9 characters"},
		{"UT", "ISGATE0900001XY", "1 to 9 characters"},
		{"UT", "IS GATE", "no spaces"},
		{"UT", "IS\tGATE", "no spaces"},
		{"UT", "ISGÄTE", "no spaces"}, // UTF-8: not the single ISO 8859-1 bytes a certificate holds
	} {
		err := CheckHolderName(tc.country, tc.mnemonic)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckHolderName(%q, %q): %v", tc.country, tc.mnemonic, err)
		case tc.want != "" && (!errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckHolderName(%q, %q) = %v; want an ErrSyntax error saying %q", tc.country, tc.mnemonic, err, tc.want)
		}
	}
}

func TestIsCountryCode(t *testing.T) {
	for cc, ok := range map[string]bool{"DE": true, "GB": true, "ZW": true, "AD": true, "UT": true, "AA": true, "QM": true, "QZ": true,
		"XK": true, "ZZ": true, "QL": false, "UK": false, "EU": false, "YY": false, "OO": false, "de": false, "D": false, "DEU": false} {
		if IsCountryCode(cc) != ok {
			t.Errorf("IsCountryCode(%q) = %v", cc, !ok)
		}
	}
}

// The shape of every reference read or written: an upper-case country code, a printable
// mnemonic of 1 to 9 characters and a sequence number of digits and upper-case letters.
func TestReferenceShape(t *testing.T) {
	for s, ok := range map[string]bool{
		"UTISGATE0900001": true, "DECVCAeID00102": true, "CZCVCADCZ000": true, "UTD-V_&00001": true, "GO_CV_RSA2008": true,
		"utISGATE0900001": false, "uTDV00001": false, "U1DV00001": false, "UTDV0000a": false, "UTDV00-01": false,
		"UTDV0000 ": false, "UT DV00001": false, "UTDV00001\xE4": false, "UT00001": false, "UTISGATE123400001": false,
	} {
		_, err := ParseReference(s)
		if (err == nil) != ok || err != nil && !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseReference(%q): %v", s, err)
		}
	}
}

// signedWithCHR is a certificate signed by p's CVCA for chr, made without Issue's checks
// (as another implementation might make it).
func signedWithCHR(t *testing.T, p *testPKI, chr string) []byte {
	t.Helper()
	c := &Certificate{ProfileIdentifier: ProfileIdentifier, CAR: p.cvca.CHR, CHR: chr, PublicKey: p.dv.PublicKey,
		CHAT: p.dv.CHAT, EffectiveDate: p.dv.EffectiveDate, ExpirationDate: p.dv.ExpirationDate}
	body, err := c.EncodeBody()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := Sign(p.cvcaKey, p.spec.alg, body)
	if err != nil {
		t.Fatal(err)
	}
	return EncodeConstructed(TagCVCertificate, body, EncodeTLV(TagSignature, sig))
}

// This package and openpace agree on which references a certificate may carry: what
// ParseCertificate accepts, cvc-print verifies, and what it refuses (a lower-case country
// code, a sequence number with lower-case letters or punctuation), cvc-print refuses too.
func TestOpenpaceAgreesOnReferences(t *testing.T) {
	cvcPrint := testenv.Tool(t, "cvc-print")
	p := buildPKI(t, keySpec{alg: ECDSA_SHA256, curve: "brainpoolP256r1"}, "UT")
	dir := t.TempDir()
	trust := filepath.Join(dir, "trust")
	if err := os.Mkdir(trust, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(trust, p.cvca.CHR), p.cvca.Raw)
	for chr, ok := range map[string]bool{"UTDVA00001": true, "UTD-V_&00001": true, "UTDVeID00001": true, "UTDVA0CZ001": true,
		"UTABCDEFGHI00001": true, "utDVA00001": false, "uTDVA00001": false, "U1DVA00001": false, "UTDVA0000a": false, "UTDVA00-01": false} {
		raw := signedWithCHR(t, p, chr)
		_, err := ParseCertificate(raw)
		if (err == nil) != ok {
			t.Errorf("ParseCertificate with CHR %q: %v", chr, err)
		}
		file := filepath.Join(dir, "leaf.cvcert")
		writeFile(t, file, raw)
		out, _ := exec.Command(cvcPrint, "--cvc="+file, "--cvc-dir="+trust).CombinedOutput()
		verified := strings.Contains(string(out), "certificate verified") && !strings.Contains(string(out), "not verified")
		if verified != ok {
			t.Errorf("CHR %q: cvc-print verified=%v, want %v:\n%s", chr, verified, ok, out)
		}
	}
}
