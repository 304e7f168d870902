package dvclient

import (
	"context"
	"errors"
	"fmt"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/store"
)

// InitRemote creates the DV of a gateway whose CVCA is elsewhere (r): the CVCA certificates
// are fetched, a key made (label KeyLabel), and the first certificate requested
// synchronously. The CVCA must have registered this gateway's TLS certificate for the DV.
func (c *Client) InitRemote(ctx context.Context, r *Remote, chr string, spec hsm.KeySpec) (*cvc.Certificate, error) {
	if _, err := r.FetchCACertificates(ctx); err != nil {
		return nil, fmt.Errorf("dvclient: CVCA certificates from %s: %w", r.URL, err)
	}
	chain, err := cvcaPath(ctx, c.Store, c.Country)
	if err != nil || len(chain) == 0 {
		return nil, fmt.Errorf("dvclient: no CVCA certificate of %s from %s (%v)", c.Country, r.URL, err)
	}
	cvca := chain[len(chain)-1]
	if spec.Algorithm == cvc.AlgorithmUnknown {
		spec = hsm.KeySpec{Algorithm: cvca.PublicKey.Algorithm}
		if d := cvc.Domain(chain); d != nil {
			spec.Curve = d.Name()
		}
	}
	key, err := c.Keys.Generate(ctx, c.KeyLabel, spec)
	if err != nil {
		return nil, err
	}
	h, err := c.Store.HolderByName(ctx, c.Country, c.Mnemonic)
	if errors.Is(err, store.ErrNotFound) {
		h = &store.Holder{Country: c.Country, Mnemonic: c.Mnemonic, Role: store.RoleDVDomestic, Status: store.HolderActive}
		err = c.Store.CreateHolder(ctx, h)
	}
	if err != nil {
		return nil, err
	}
	pub, err := cvc.NewPublicKey(key.Algorithm(), key.Public(), false)
	if err != nil {
		return nil, err
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: cvca.CHR, CHR: chr}, pub, key)
	if err != nil {
		return nil, err
	}
	a, err := r.call(ctx, msg.Message{Operation: "RequestCertificate", MessageID: "init-" + chr, CertReq: req.Raw})
	if err != nil {
		return nil, err
	}
	if a.ReturnCode != authority.OKCertAvailable || len(a.Certificates) == 0 {
		return nil, fmt.Errorf("dvclient: the CVCA answered %s", a.ReturnCode)
	}
	cert, err := cvc.ParseCertificate(a.Certificates[0])
	if err != nil {
		return nil, err
	}
	if _, err := cvc.Verify(cert, cvc.VerifyOptions{Anchors: chain[:1], Intermediates: chain[1:]}); err != nil {
		return nil, fmt.Errorf("dvclient: certificate from the CVCA: %w", err)
	}
	return cert, (ra.NewStoreRegistry(c.Store)).RecordCertificate(ctx, h.ID, cert)
}
