package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
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

// foreignDVByCAR returns the issuer of the foreign chain that car names (one of the DV's
// certificates from a foreign CVCA), or nil.
func (g *Gateway) foreignDVByCAR(car string) *authority.Issuer {
	if f := g.dvForeign.Load(); f != nil {
		return f.byCHR[car]
	}
	return nil
}

// foreignDVChains returns the certificates of the foreign chains, country by country: each
// CVCA's certificates, then the DV's certificate from it.
func (g *Gateway) foreignDVChains(ctx context.Context) [][]byte {
	f := g.dvForeign.Load()
	if f == nil {
		return nil
	}
	var out [][]byte
	for _, country := range f.countries {
		out = append(out, g.withAllCVCACertificates(ctx, f.byCountry[country].Path)...)
	}
	return out
}

// loadForeignDV sets up an issuer for every foreign country whose CVCA certified the DV: the
// DV's newest unexpired certificate from it, verified up to that country's stored CVCA
// certificates, with the key made for it (label <dv key>-<foreign CVCA CHR>-<CHR>). Countries
// whose certificate cannot be used are left out and logged.
func (g *Gateway) loadForeignDV(ctx context.Context, now time.Time) error {
	o := g.Options
	holder, err := g.Store.HolderByName(ctx, o.Country, o.DVMnemonic)
	if err != nil {
		return err
	}
	rows, err := g.Store.ListCertificatesOfHolder(ctx, holder.ID)
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
		is, err := g.foreignIssuer(ctx, country, certs, now)
		if err != nil {
			g.logger.Warn("foreign DV certificate not usable for terminals", "country", country, "err", err)
			continue
		}
		f.byCountry[country] = is
		f.countries = append(f.countries, country)
		for _, c := range certs {
			f.byCHR[c.CHR] = is
		}
	}
	slices.Sort(f.countries)
	g.dvForeign.Store(f)
	return nil
}

// foreignIssuer builds the issuer of one foreign chain from the DV's certificates of that
// country (all with status valid).
func (g *Gateway) foreignIssuer(ctx context.Context, country string, certs []store.Certificate, now time.Time) (*authority.Issuer, error) {
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
	cvcas, err := g.cvcaPath(ctx, country)
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
		label = g.Options.DVKey + "-" + car + "-" + cert.CHR
		if key, err = g.Keys.Signer(ctx, label); !errors.Is(err, hsm.ErrKeyNotFound) {
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
	for _, c := range certs {
		if c.CHR != cert.CHR {
			own = append(own, c.CHR)
			issuedBy[c.CHR] = c.CAR
		}
	}
	return g.withStatus(&authority.Issuer{Path: path, Signer: g.timed(g.Options.DVKey+"-"+country, key), Policy: g.Options.Policy(), OwnCHRs: own,
		OwnDomains: ownDomains(cvcas, issuedBy, cvc.Domain(path))}), nil
}

// ownDomains gives the curves of a DV's earlier certificates (CHR -> the CVCA certificate
// that issued it) where they differ from current: after the CVCA rolled over to another
// curve, the keys of terminals certified under them, which sign their renewals, are on the
// old one.
func ownDomains(cvcas []*cvc.Certificate, issuedBy map[string]string, current *ecc.Curve) map[string]*ecc.Curve {
	var out map[string]*ecc.Curve
	for chr, car := range issuedBy {
		i := slices.IndexFunc(cvcas, func(c *cvc.Certificate) bool { return c.CHR == car })
		if i < 0 {
			continue
		}
		if d := cvc.Domain(cvcas[:i+1]); d != nil && (current == nil || d.Name() != current.Name()) {
			if out == nil {
				out = map[string]*ecc.Curve{}
			}
			out[chr] = d
		}
	}
	return out
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

// dvChains is the answer of GetCACertificates at /dv: the domestic chain of the DV in use,
// then the foreign ones.
func (g *Gateway) dvChains(ctx context.Context) ([][]byte, error) {
	return append(g.withAllCVCACertificates(ctx, g.CurrentDV().Path), g.foreignDVChains(ctx)...), nil
}

// withAllCVCACertificates returns the encodings of a DV certificate's path with every stored
// CVCA certificate of its country in place of the path's CVCA part, oldest first: link
// certificates of a rollover reach the terminals (which take the chips' trust points
// forward with them) before the DV holds a certificate under the new key.
func (g *Gateway) withAllCVCACertificates(ctx context.Context, path []*cvc.Certificate) [][]byte {
	rest := path
	for len(rest) > 0 && rest[0].Role() == cvc.RoleCVCA {
		rest = rest[1:]
	}
	all, err := g.cvcaPath(ctx, path[0].CHR[:2])
	if err != nil || len(all) == 0 {
		if err != nil {
			g.logger.Warn("CVCA certificates for GetCACertificates: answering the DV's path", "err", err)
		}
		return rawChain(path)
	}
	return rawChain(append(all, rest...))
}
