package dvclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/store"
)

// The DV's foreign chains. The certificates the DV obtains from foreign CVCAs (through the
// SPOC, dv_client.foreign) are what it certifies terminals under for those countries'
// documents: a terminal reading a ZZ passport needs a certificate that chains to ZZ's CVCA.
// A terminal asks for one by naming the DV's ZZ certificate as the inner CAR of its request
// (with a key on ZZ's curve); requests without a CAR, or naming a domestic DV certificate,
// are issued under the domestic certificate as before. GetCACertificates at /dv returns the
// foreign chains after the domestic one.

// foreignDV holds the issuers of the DV's foreign chains by the CHRs of the DV's certificates
// in them (a country's newest certificate signs; the earlier ones are still accepted as CAR).
type foreignDV struct {
	byCHR     map[string]*authority.Issuer
	countries []string // sorted, for a stable GetCACertificates answer
	byCountry map[string]*authority.Issuer
}

// ForeignIssuer returns the issuer of the foreign chain that car names (one of the DV's
// certificates from a foreign CVCA), or nil.
func (c *Client) ForeignIssuer(car string) *authority.Issuer {
	if f := c.foreign.Load(); f != nil {
		return f.byCHR[car]
	}
	return nil
}

// foreignOf returns the issuer of the DV's foreign chain of country (its newest certificate
// from that country's CVCA and its key), or nil.
func (c *Client) foreignOf(country string) *authority.Issuer {
	if f := c.foreign.Load(); f != nil {
		return f.byCountry[country]
	}
	return nil
}

// ForeignIssuers returns the issuers of the foreign chains, one per country, by country.
func (c *Client) ForeignIssuers() []*authority.Issuer {
	f := c.foreign.Load()
	if f == nil {
		return nil
	}
	out := make([]*authority.Issuer, len(f.countries))
	for i, country := range f.countries {
		out[i] = f.byCountry[country]
	}
	return out
}

// foreignChains returns the certificates of the foreign chains, country by country: each
// CVCA's certificates, then the DV's certificate from it.
func (c *Client) foreignChains(ctx context.Context) [][]byte {
	var out [][]byte
	for _, is := range c.ForeignIssuers() {
		out = append(out, c.withAllCVCACertificates(ctx, is.Path)...)
	}
	return out
}

// LoadForeign sets up an issuer for every foreign country whose CVCA certified the DV: the
// DV's newest certificate from it unexpired at now, verified up to that country's stored
// CVCA certificates, with the key made for it. Countries whose certificate cannot be used
// are left out and logged.
func (c *Client) LoadForeign(ctx context.Context, now time.Time) error {
	holder, err := c.holder(ctx)
	if err != nil {
		return err
	}
	rows, err := c.Store.ListCertificatesOfHolder(ctx, holder.ID)
	if err != nil {
		return err
	}
	byCountry := map[string][]store.Certificate{}
	for _, r := range rows {
		if r.Role == store.RoleDVForeign && r.Status == store.CertValid && len(r.CAR) > 2 {
			byCountry[r.CAR[:2]] = append(byCountry[r.CAR[:2]], r)
		}
	}
	f := &foreignDV{byCHR: map[string]*authority.Issuer{}, byCountry: map[string]*authority.Issuer{}}
	for country, certs := range byCountry {
		is, err := c.foreignIssuer(ctx, country, certs, now)
		if err != nil {
			c.log().Warn("foreign DV certificate not usable for terminals", "country", country, "err", err)
			continue
		}
		f.byCountry[country] = is
		f.countries = append(f.countries, country)
		for _, cert := range certs {
			f.byCHR[cert.CHR] = is
		}
	}
	slices.Sort(f.countries)
	c.foreign.Store(f)
	return nil
}

// foreignIssuer builds the issuer of one foreign chain from the DV's certificates of that
// country (all with status valid).
func (c *Client) foreignIssuer(ctx context.Context, country string, certs []store.Certificate, now time.Time) (*authority.Issuer, error) {
	newest := slices.MaxFunc(certs, func(a, b store.Certificate) int {
		if c := a.NotAfter.Compare(b.NotAfter); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	cert, err := cvc.ParseCertificate(newest.Raw)
	if err != nil {
		return nil, fmt.Errorf("stored certificate %s: %w", newest.CHR, err)
	}
	if cert.ExpirationDate.Before(cvc.DateOf(now)) {
		return nil, fmt.Errorf("certificate %s expired on %s", cert.CHR, cert.ExpirationDate)
	}
	cvcas, err := cvcaPath(ctx, c.Store, country)
	if err != nil {
		return nil, err
	}
	if len(cvcas) == 0 {
		return nil, fmt.Errorf("no CVCA certificate of %s stored", country)
	}
	path, err := cvc.Verify(cert, cvc.VerifyOptions{Anchors: cvcas[:1], Intermediates: cvcas[1:], IgnoreDates: true})
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", cert.CHR, err)
	}
	// The key was made for the request, under the CHR of the CVCA certificate it named
	// (normally the certificate's CAR; another one when the CVCA changed keys meanwhile).
	var key hsm.Signer
	var label string
	for _, car := range append([]string{cert.CAR}, chrsOf(cvcas)...) {
		label = c.KeyLabel + "-" + car + "-" + cert.CHR
		if key, err = c.Keys.Signer(ctx, label); !errors.Is(err, hsm.ErrKeyNotFound) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("key of certificate %s: %w", cert.CHR, err)
	}
	if !sameKey(key, cert) {
		return nil, fmt.Errorf("key %s is not the key of certificate %s", label, cert.CHR)
	}
	var own []string
	issuedBy := map[string]string{}
	for _, r := range certs {
		if r.CHR != cert.CHR {
			own = append(own, r.CHR)
			issuedBy[r.CHR] = r.CAR
		}
	}
	return c.wrap(&authority.Issuer{Path: path, Signer: key, Policy: c.Policy, OwnCHRs: own,
		OwnDomains: ownDomains(cvcas, issuedBy, cvc.Domain(path))}, c.KeyLabel+"-"+country), nil
}

func chrsOf(certs []*cvc.Certificate) []string {
	out := make([]string, len(certs))
	for i, c := range certs {
		out[i] = c.CHR
	}
	return out
}

// sameKey reports whether signer's public key is the one cert certifies.
func sameKey(signer hsm.Signer, cert *cvc.Certificate) bool {
	pub, err := cvc.NewPublicKey(cert.PublicKey.Algorithm, signer.Public(), false)
	return err == nil && pub.Equal(&cert.PublicKey)
}
