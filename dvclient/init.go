package dvclient

import (
	"context"
	"errors"
	"fmt"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/hsm"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/store"
)

// InitLocal creates the DV of a gateway that is its own CVCA (issuer): a new key (label
// KeyLabel; spec's zero value follows the CVCA's algorithm and curve), the DV holder, and its
// first certificate signed by issuer. Holder, certificate and their audit events
// (key.generate, ca.issue, init.dv, naming by's participants) commit in one transaction.
func (c *Client) InitLocal(ctx context.Context, issuer *authority.Issuer, by cvca.Ceremony, chr string, spec hsm.KeySpec) (*cvc.Certificate, error) {
	if chr[:2] != c.Country || chr[2:len(chr)-5] != c.Mnemonic {
		return nil, fmt.Errorf("dvclient: DV CHR %s must be %s%s + 5-character sequence number (country and dv_mnemonic)", chr, c.Country, c.Mnemonic)
	}
	if spec.Algorithm == cvc.AlgorithmUnknown {
		spec = hsm.KeySpec{Algorithm: issuer.Certificate().PublicKey.Algorithm}
		if d := issuer.Domain(); d != nil {
			spec.Curve = d.Name()
		}
	}
	key, err := c.Keys.Generate(ctx, c.KeyLabel, spec)
	if err != nil {
		return nil, err
	}
	k := cvca.Key{Label: c.KeyLabel, Keystore: cvca.KeystoreKind(c.Keys), Spec: spec}
	cert, err := c.initLocal(ctx, issuer, by, k, key, chr)
	if err != nil {
		if aerr := by.Uncertified(ctx, c.Store, k, chr, err); aerr != nil {
			c.log().Error("audit of a DV key without its certificate", "label", k.Label, "err", aerr)
		}
		return nil, err
	}
	c.log().Info("created DV", "chr", cert.CHR)
	return cert, nil
}

func (c *Client) initLocal(ctx context.Context, issuer *authority.Issuer, by cvca.Ceremony, k cvca.Key, key hsm.Signer, chr string) (*cvc.Certificate, error) {
	pub, err := cvc.NewPublicKey(key.Algorithm(), key.Public(), true)
	if err != nil {
		return nil, err
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: issuer.Certificate().CHR, CHR: chr}, pub, key)
	if err != nil {
		return nil, err
	}
	cert, err := issuer.Issue(req.Raw, authority.Applicant{Country: c.Country, Mnemonic: c.Mnemonic, Role: cvc.RoleDVDomestic, Status: authority.StatusActive})
	if err != nil {
		return nil, err
	}
	h := &store.Holder{Country: c.Country, Mnemonic: c.Mnemonic, Role: store.RoleDVDomestic, Status: store.HolderActive}
	return cert, c.storeFirst(ctx, by, k, cert, cvca.EventIssue, "init-"+chr, func(tx *store.Store) (int64, error) {
		err := tx.CreateHolder(ctx, h)
		return h.ID, err
	})
}

// storeFirst stores the DV's first certificate with its events in one transaction: the
// key's key.generate, the certificate's (received: ca.issue from our CVCA, or
// certificate.received from another), and init.dv. holder returns the DV's holder ID (it
// may create the holder in the transaction).
func (c *Client) storeFirst(ctx context.Context, by cvca.Ceremony, k cvca.Key, cert *cvc.Certificate, received, messageID string,
	holder func(tx *store.Store) (int64, error)) error {
	name := c.Country + c.Mnemonic
	keyEv, err := by.KeyEvent(k, cert.CHR)
	if err != nil {
		return err
	}
	got := by.Details(cert, name, nil)
	got.Requester, got.MessageID = name, messageID
	gotEv, err := by.Event(received, got)
	if err != nil {
		return err
	}
	initEv, err := by.Event(cvca.EventInitDV, by.Details(cert, name, &k))
	if err != nil {
		return err
	}
	err = cvca.StoreAudited(ctx, c.Store, "store DV certificate "+cert.CHR, func(tx *store.Store) error {
		id, err := holder(tx)
		if err != nil {
			return err
		}
		return ra.NewStoreRegistry(tx).RecordCertificate(ctx, id, cert)
	}, keyEv, gotEv, initEv)
	if err != nil {
		return fmt.Errorf("dvclient: store DV certificate %s: %w", cert.CHR, err)
	}
	return nil
}

// InitRemote creates the DV of a gateway whose CVCA is elsewhere (r): the CVCA certificates
// are fetched, a key made (label KeyLabel), and the first certificate requested
// synchronously; it is stored with its audit events (key.generate, certificate.received,
// init.dv) in one transaction. The CVCA must have registered this gateway's TLS certificate
// for the DV.
func (c *Client) InitRemote(ctx context.Context, r *Remote, by cvca.Ceremony, chr string, spec hsm.KeySpec) (*cvc.Certificate, error) {
	if _, err := r.FetchCACertificates(ctx); err != nil {
		return nil, fmt.Errorf("dvclient: CVCA certificates from %s: %w", r.URL, err)
	}
	chain, err := cvcaPath(ctx, c.Store, c.Country)
	if err != nil || len(chain) == 0 {
		return nil, fmt.Errorf("dvclient: no CVCA certificate of %s from %s (%v)", c.Country, r.URL, err)
	}
	cvcaCert := chain[len(chain)-1]
	if spec.Algorithm == cvc.AlgorithmUnknown {
		spec = hsm.KeySpec{Algorithm: cvcaCert.PublicKey.Algorithm}
		if d := cvc.Domain(chain); d != nil {
			spec.Curve = d.Name()
		}
	}
	key, err := c.Keys.Generate(ctx, c.KeyLabel, spec)
	if err != nil {
		return nil, err
	}
	k := cvca.Key{Label: c.KeyLabel, Keystore: cvca.KeystoreKind(c.Keys), Spec: spec}
	cert, err := c.initRemote(ctx, r, by, k, key, chain, chr)
	if err != nil {
		if aerr := by.Uncertified(ctx, c.Store, k, chr, err); aerr != nil {
			c.log().Error("audit of a DV key without its certificate", "label", k.Label, "err", aerr)
		}
		return nil, err
	}
	return cert, nil
}

func (c *Client) initRemote(ctx context.Context, r *Remote, by cvca.Ceremony, k cvca.Key, key hsm.Signer, chain []*cvc.Certificate, chr string) (*cvc.Certificate, error) {
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
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: chain[len(chain)-1].CHR, CHR: chr}, pub, key)
	if err != nil {
		return nil, err
	}
	messageID := "init-" + chr
	a, err := r.call(ctx, msg.Message{Operation: "RequestCertificate", MessageID: messageID, CertReq: req.Raw})
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
	return cert, c.storeFirst(ctx, by, k, cert, cvca.EventReceived, messageID, func(*store.Store) (int64, error) { return h.ID, nil })
}
