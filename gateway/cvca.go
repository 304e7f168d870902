package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/store"
	"eacgate/trust"
)

// CurrentCVCA returns the CVCA issuer in use: the key of the newest CVCA certificate, which a
// rollover (RolloverCVCA, possibly by another process on the database) replaces while the
// gateway serves. Nil without the CVCA role.
func (g *Gateway) CurrentCVCA() *authority.Issuer {
	if cur := g.cvcaCurrent.Load(); cur != nil {
		return cur
	}
	return g.CVCA
}

// cvcaKeyLabel is the keystore label of the key of CVCA certificate chr: the configured label
// (cvca_key) for the first one (eacgate init cvca), label-CHR for the keys of rollovers.
func (g *Gateway) cvcaKeyLabel(chr string) string { return g.Options.CVCAKey + "-" + chr }

// cvcaSigner finds the key of CVCA certificate cert and checks that it is the certified one
// (a keystore copied before a rollover has only the older key).
func (g *Gateway) cvcaSigner(ctx context.Context, cert *cvc.Certificate) (hsm.Signer, string, error) {
	label := g.cvcaKeyLabel(cert.CHR)
	key, err := g.Keys.Signer(ctx, label)
	if errors.Is(err, hsm.ErrKeyNotFound) {
		label = g.Options.CVCAKey
		key, err = g.Keys.Signer(ctx, label)
	}
	if err != nil {
		return nil, "", err
	}
	if !sameKey(key, cert) {
		return nil, "", fmt.Errorf("%w: no key for CVCA certificate %s in the keystore (labels %s, %s)",
			hsm.ErrKeyNotFound, cert.CHR, g.cvcaKeyLabel(cert.CHR), g.Options.CVCAKey)
	}
	return key, label, nil
}

// loadCVCA builds the CVCA issuer from the stored CVCA certificates of our country (the
// first self-signed one and the link certificates of later keys) and the key of the newest.
// Requests may name any earlier CVCA certificate as CAR. Nil, nil: no CVCA certificate.
func (g *Gateway) loadCVCA(ctx context.Context) (*authority.Issuer, error) {
	chain, err := g.cvcaPath(ctx, g.Options.Country)
	if err != nil || len(chain) == 0 {
		return nil, err
	}
	return g.cvcaIssuer(ctx, chain)
}

// cvcaIssuer is the CVCA issuer of the stored CVCA chain (not empty), oldest first.
func (g *Gateway) cvcaIssuer(ctx context.Context, chain []*cvc.Certificate) (*authority.Issuer, error) {
	cur := chain[len(chain)-1]
	key, label, err := g.cvcaSigner(ctx, cur)
	if err != nil {
		return nil, err
	}
	var own []string
	for _, c := range chain[:len(chain)-1] {
		own = append(own, c.CHR)
	}
	return g.withStatus(&authority.Issuer{Path: chain, Signer: g.timed(label, key), Policy: g.Options.Policy(), OwnCHRs: own}), nil
}

// refreshCVCA takes up a CVCA rollover made since the issuer was loaded (by the CLI or by
// another instance): when the newest stored CVCA certificate is another one, the issuer is
// loaded again.
func (g *Gateway) refreshCVCA(ctx context.Context) error {
	cur := g.CurrentCVCA()
	if cur == nil {
		return nil
	}
	chain, err := g.cvcaPath(ctx, g.Options.Country)
	if err != nil {
		return err
	}
	if len(chain) == 0 || chain[len(chain)-1].CHR == cur.Certificate().CHR {
		return nil
	}
	iss, err := g.cvcaIssuer(ctx, chain)
	if err != nil {
		return fmt.Errorf("gateway: load the new CVCA key: %w", err)
	}
	g.cvcaCurrent.Store(iss)
	g.logger.Info("CVCA key changed: issuing under the new certificate", "chr", iss.Certificate().CHR, "previous", cur.Certificate().CHR)
	return nil
}

// cvcaByCAR serves as the CVCA endpoint's ByCAR: a request naming a CVCA certificate of our
// country that the issuer in use does not know (a rollover another instance or the CLI made
// within the last minute, whose link certificate the DV already has) makes the gateway take
// the rollover up at once, at most once a second; the new issuer answers if it is the one
// named. Nil otherwise: the request goes to the issuer in use.
func (g *Gateway) cvcaByCAR(car string) *authority.Issuer {
	cur := g.CurrentCVCA()
	if cur == nil || len(car) < 2 || car[:2] != g.Options.Country || slices.Contains(ra.IssuerCHRs(cur), car) {
		return nil
	}
	return g.takeUpNamed(&g.cvcaLookup, car, cur, g.refreshCVCA, g.CurrentCVCA)
}

// takeUpNamed handles a request naming car, a certificate of ours the issuer in use (cur)
// does not know: at most once a second (last) it looks for the change another instance made
// (refresh) and returns the new issuer (current) if it is the one named, else nil.
func (g *Gateway) takeUpNamed(last *atomic.Int64, car string, cur *authority.Issuer,
	refresh func(context.Context) error, current func() *authority.Issuer) *authority.Issuer {
	if !rateLimited(last) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := refresh(ctx); err != nil {
		g.logger.Error("a request names a certificate unknown here: looking for a change made elsewhere", "car", car, "err", err)
		return nil
	}
	if next := current(); next != cur && next.Certificate().CHR == car {
		return next
	}
	return nil
}

// rateLimited reports whether at least a second passed since the last time it said yes for
// last (Unix ns), and takes the turn if so.
func rateLimited(last *atomic.Int64) bool {
	now := time.Now().UnixNano()
	prev := last.Load()
	return now-prev >= int64(time.Second) && last.CompareAndSwap(prev, now)
}

// everyInterval calls fn every interval until ctx ends.
func everyInterval(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// cvcaCheckInterval is how often a serving gateway looks for a CVCA rollover.
const cvcaCheckInterval = time.Minute

// RunCVCAWatch takes up CVCA rollovers while the gateway serves, until ctx ends.
func (g *Gateway) RunCVCAWatch(ctx context.Context) {
	if g.CurrentCVCA() == nil {
		return
	}
	everyInterval(ctx, cvcaCheckInterval, func() {
		if err := g.refreshCVCA(ctx); err != nil && ctx.Err() == nil {
			g.logger.Error("CVCA rollover check", "err", err)
		}
	})
}

// cvcaChain answers GetCACertificates for the CVCA: its certificates as stored, oldest
// first, so that a link certificate reaches DVs as soon as the rollover is made (their
// requests naming it then switch this instance to the new key, see cvcaByCAR).
func (g *Gateway) cvcaChain(ctx context.Context) ([][]byte, error) {
	path, err := g.cvcaPath(ctx, g.Options.Country)
	if err != nil {
		return nil, err
	}
	if len(path) == 0 {
		path = g.CurrentCVCA().Path
	}
	return rawChain(path), nil
}

// rawChain returns the encodings of path's certificates.
func rawChain(path []*cvc.Certificate) [][]byte {
	out := make([][]byte, len(path))
	for i, c := range path {
		out[i] = c.Raw
	}
	return out
}

// RolloverCVCA moves the CVCA to a new key: the key is generated in the keystore (label
// cvca_key-CHR; spec's zero value keeps the current algorithm and curve), certified by the
// current key in a link certificate valid for the given number of years from today, and
// stored, so that DV certificates are issued under it from now on (serving instances take
// it up within a minute) while certificates under the earlier keys stay verifiable. DVs get
// the link certificate with GetCACertificates; every SPOC partner is sent it in a
// new_cer_available_notification through the outbox.
func (g *Gateway) RolloverCVCA(ctx context.Context, chr string, spec hsm.KeySpec, years int) (*cvc.Certificate, error) {
	cur, err := g.loadCVCA(ctx)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, errors.New("gateway: no CVCA to roll over: run 'eacgate init cvca' first")
	}
	old := cur.Certificate()
	if len(chr) < 8 || chr[:2] != old.CHR[:2] {
		return nil, fmt.Errorf("gateway: the new CVCA CHR %q must be of country %s", chr, old.CHR[:2])
	}
	for _, c := range cur.Path {
		if c.CHR == chr {
			return nil, fmt.Errorf("gateway: CVCA certificate %s exists; choose the next sequence number", chr)
		}
	}
	if years < 1 {
		return nil, fmt.Errorf("gateway: validity of %d years", years)
	}
	if spec.Algorithm == cvc.AlgorithmUnknown {
		spec = hsm.KeySpec{Algorithm: old.PublicKey.Algorithm}
	}
	if d := cur.Domain(); d != nil && spec.Algorithm.IsECDSA() && spec.Curve == "" {
		spec.Curve = d.Name()
	}
	label := g.cvcaKeyLabel(chr)
	key, err := g.Keys.Generate(ctx, label, spec)
	if errors.Is(err, hsm.ErrKeyExists) {
		// An earlier attempt made the key and stopped before its link certificate was
		// stored (no certificate has this CHR): that key is used.
		g.logger.Warn("CVCA rollover: using the key an earlier attempt made", "label", label)
		if key, err = g.Keys.Signer(ctx, label); err == nil && !keyFits(key, spec) {
			err = fmt.Errorf("gateway: key %s from an earlier attempt is not a %s key%s", label, spec.Algorithm, curveSuffix(spec.Curve))
		}
	}
	if err != nil {
		return nil, err
	}
	today := cvc.DateOf(time.Now())
	link, err := authority.NewLink(authority.CVCASpec{CHR: chr, Algorithm: key.Algorithm(), CHAT: old.CHAT,
		Effective: today, Expiration: today.AddDays(years*365 - 1)}, key, old, cur.Signer)
	if err != nil {
		return nil, err
	}
	if _, err := cvc.Verify(link, cvc.VerifyOptions{Anchors: cur.Path[:1], Intermediates: cur.Path[1:]}); err != nil {
		return nil, fmt.Errorf("gateway: the new link certificate does not verify: %w", err)
	}
	if err := g.Store.AddCertificate(ctx, &store.Certificate{CHR: link.CHR, CAR: link.CAR, Role: store.RoleCVCA,
		NotBefore: link.EffectiveDate.Time(), NotAfter: link.ExpirationDate.Time(), Status: store.CertValid, Raw: link.Raw}); err != nil {
		return nil, err
	}
	g.logger.Info("CVCA rolled over", "chr", link.CHR, "car", link.CAR, "algorithm", key.Algorithm().String(),
		"sha256", trust.CertificateSHA256(link))
	if err := g.notifyPartners(ctx, link); err != nil {
		return link, err
	}
	if g.CVCA != nil {
		return link, g.refreshCVCA(ctx)
	}
	return link, nil
}

// notifyPartners queues a new_cer_available_notification with cert for every SPOC partner.
func (g *Gateway) notifyPartners(ctx context.Context, cert *cvc.Certificate) error {
	for _, p := range g.Options.SPOC.Partners {
		payload, err := server.EncodeRequest(server.SPOCProtocols[0], msg.Message{Operation: "SendCertificates",
			CallerID: g.Options.Country, StatusInfo: string(authority.NewCertificateAvailableNotification), Certificates: [][]byte{cert.Raw}})
		if err != nil {
			return err
		}
		if err := g.Store.EnqueueOutbox(ctx, &store.OutboxItem{Kind: store.OutboxDeliver, TargetURL: p.URL, Payload: payload}); err != nil {
			return fmt.Errorf("gateway: notify SPOC %s of CVCA certificate %s: %w", p.Country, cert.CHR, err)
		}
		g.logger.Info("SPOC partner to be notified of the new CVCA certificate", "country", p.Country, "url", p.URL)
	}
	return nil
}

// keyFits reports whether key is of spec's algorithm and, for EC keys, on its curve.
func keyFits(key hsm.Signer, spec hsm.KeySpec) bool {
	if key.Algorithm() != spec.Algorithm {
		return false
	}
	if !spec.Algorithm.IsECDSA() || spec.Curve == "" {
		return true
	}
	pub, err := cvc.NewPublicKey(spec.Algorithm, key.Public(), true)
	if err != nil {
		return false
	}
	c, err := pub.Curve()
	return err == nil && c.Name() == spec.Curve
}

func curveSuffix(curve string) string {
	if curve == "" {
		return ""
	}
	return " on " + curve
}

// sameKey reports whether signer's public key is the one cert certifies.
func sameKey(signer hsm.Signer, cert *cvc.Certificate) bool {
	pub, err := cvc.NewPublicKey(cert.PublicKey.Algorithm, signer.Public(), false)
	return err == nil && pub.Equal(&cert.PublicKey)
}
