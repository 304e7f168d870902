// Package cvca is the CVCA's keys and certificates: creation, rollover with link
// certificates, the issuer in use and its take-up of rollovers made by other instances (the
// CLI or another process on the same database), and notifying SPOC partners of a new CVCA
// certificate. The gateway wires it to the CVCA endpoint; the issuing itself is authority's.
package cvca

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/msg"
	"eacgate/server"
	"eacgate/store"
	"eacgate/trust"
)

// Partner is a SPOC partner told of every new CVCA certificate (spoc.Partner's country and
// URL; passed in so that this package does not depend on the SPOC role).
type Partner struct {
	Country string
	URL     string
}

// Authority is the CVCA of Country: its certificates in Store, its keys in Keys, and the
// issuer in use (Current), replaced when a rollover is made here or found in the store.
type Authority struct {
	Store *store.Store
	Keys  hsm.Keystore
	// Country is the CVCA's country (the first two letters of its CHRs).
	Country string
	// KeyLabel is the keystore label of the first key (cvca_key); the keys of rollovers
	// are KeyLabel-CHR.
	KeyLabel string
	// Policy is the issuers' policy (validity per role).
	Policy authority.Policy
	// Partners are sent a new_cer_available_notification through the outbox on rollover.
	Partners []Partner
	// Wrap readies an issuer built here for use (the gateway: timed signer, suspension
	// status); label names its key. Nil: used as built.
	Wrap   func(iss *authority.Issuer, label string) *authority.Issuer
	Logger *slog.Logger
	Now    func() time.Time // default time.Now

	current atomic.Pointer[authority.Issuer]
	lookup  atomic.Int64 // when a request last made the CVCA look for a rollover made elsewhere (Unix ns)
}

func (a *Authority) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Authority) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Authority) wrap(iss *authority.Issuer, label string) *authority.Issuer {
	if a.Wrap != nil {
		return a.Wrap(iss, label)
	}
	return iss
}

// Current returns the CVCA issuer in use: the key of the newest CVCA certificate, which a
// rollover (possibly by another process on the database) replaces while the gateway serves.
// Nil before Open or Load found a CVCA.
func (a *Authority) Current() *authority.Issuer { return a.current.Load() }

// DemoCeremony is the audit's account of the demo CVCA and DV a gateway creates itself.
var DemoCeremony = Ceremony{Actor: "gateway:demo"}

// Open loads the CVCA issuer and puts it in use (see Load). With createDemo and no CVCA
// certificate stored it first creates the demo CVCA (audited as DemoCeremony):
// Country+"CVCA00001", brainpoolP256r1, valid three years.
func (a *Authority) Open(ctx context.Context, createDemo bool) (*authority.Issuer, error) {
	iss, err := a.Load(ctx)
	if err == nil && iss == nil && createDemo {
		if _, err := a.Init(ctx, DemoCeremony, a.Country+"CVCA00001", hsm.KeySpec{Algorithm: cvc.ECDSA_SHA256, Curve: "brainpoolP256r1"}, 3); err != nil {
			return nil, err
		}
		iss, err = a.Load(ctx)
	}
	return iss, err
}

// Load builds the CVCA issuer from the stored CVCA certificates of Country (the first
// self-signed one and the link certificates of later keys) and the key of the newest, and
// puts it in use. Requests may name any earlier CVCA certificate as CAR. Nil, nil: no CVCA
// certificate. A keystore without the newest key wraps hsm.ErrKeyNotFound.
func (a *Authority) Load(ctx context.Context) (*authority.Issuer, error) {
	iss, err := a.load(ctx)
	if err != nil || iss == nil {
		return nil, err
	}
	a.current.Store(iss)
	return iss, nil
}

// load is Load without putting the issuer in use.
func (a *Authority) load(ctx context.Context) (*authority.Issuer, error) {
	chain, err := trust.New(a.Store).Chain(ctx, a.Country)
	if err != nil || len(chain) == 0 {
		return nil, err
	}
	return a.issuer(ctx, chain)
}

// keyLabel is the keystore label of the key of CVCA certificate chr: the configured label
// (cvca_key) for the first one (eacgate init cvca), label-CHR for the keys of rollovers.
func (a *Authority) keyLabel(chr string) string { return a.KeyLabel + "-" + chr }

// signer finds the key of CVCA certificate cert and checks that it is the certified one
// (a keystore copied before a rollover has only the older key).
func (a *Authority) signer(ctx context.Context, cert *cvc.Certificate) (hsm.Signer, string, error) {
	label := a.keyLabel(cert.CHR)
	key, err := a.Keys.Signer(ctx, label)
	if errors.Is(err, hsm.ErrKeyNotFound) {
		label = a.KeyLabel
		key, err = a.Keys.Signer(ctx, label)
	}
	if err != nil {
		return nil, "", err
	}
	if !sameKey(key, cert) {
		return nil, "", fmt.Errorf("%w: no key for CVCA certificate %s in the keystore (labels %s, %s)",
			hsm.ErrKeyNotFound, cert.CHR, a.keyLabel(cert.CHR), a.KeyLabel)
	}
	return key, label, nil
}

// issuer is the CVCA issuer of the stored CVCA chain (not empty), oldest first.
func (a *Authority) issuer(ctx context.Context, chain []*cvc.Certificate) (*authority.Issuer, error) {
	cur := chain[len(chain)-1]
	key, label, err := a.signer(ctx, cur)
	if err != nil {
		return nil, err
	}
	var own []string
	for _, c := range chain[:len(chain)-1] {
		own = append(own, c.CHR)
	}
	return a.wrap(&authority.Issuer{Path: chain, Signer: key, Policy: a.Policy, OwnCHRs: own}, label), nil
}

// Refresh takes up a CVCA rollover made since the issuer was loaded (by the CLI or by
// another instance): when the newest stored CVCA certificate is another one, the issuer is
// loaded again. Nothing to do before a CVCA is in use.
func (a *Authority) Refresh(ctx context.Context) error {
	cur := a.Current()
	if cur == nil {
		return nil
	}
	chain, err := trust.New(a.Store).Chain(ctx, a.Country)
	if err != nil {
		return err
	}
	if len(chain) == 0 || chain[len(chain)-1].CHR == cur.Certificate().CHR {
		return nil
	}
	iss, err := a.issuer(ctx, chain)
	if err != nil {
		return fmt.Errorf("cvca: load the new CVCA key: %w", err)
	}
	a.current.Store(iss)
	a.log().Info("CVCA key changed: issuing under the new certificate", "chr", iss.Certificate().CHR, "previous", cur.Certificate().CHR)
	return nil
}

// ByCAR serves as the CVCA endpoint's ByCAR: a request naming a CVCA certificate of our
// country that the issuer in use does not know (a rollover another instance or the CLI made
// within the last minute, whose link certificate the DV already has) makes the CVCA take
// the rollover up at once, at most once a second; the new issuer answers if it is the one
// named. Nil otherwise: the request goes to the issuer in use.
func (a *Authority) ByCAR(car string) *authority.Issuer {
	cur := a.Current()
	if cur == nil || len(car) < 2 || car[:2] != a.Country || car == cur.Certificate().CHR || slices.Contains(cur.OwnCHRs, car) {
		return nil
	}
	if !a.takeTurn() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Refresh(ctx); err != nil {
		a.log().Error("a request names a certificate unknown here: looking for a change made elsewhere", "car", car, "err", err)
		return nil
	}
	if next := a.Current(); next != cur && next.Certificate().CHR == car {
		return next
	}
	return nil
}

// takeTurn reports whether at least a second passed since the last lookup ByCAR made, and
// takes the turn if so.
func (a *Authority) takeTurn() bool {
	now := a.now().UnixNano()
	prev := a.lookup.Load()
	return now-prev >= int64(time.Second) && a.lookup.CompareAndSwap(prev, now)
}

// CheckInterval is how often Watch looks for a CVCA rollover.
const CheckInterval = time.Minute

// Watch takes up CVCA rollovers made elsewhere (Refresh every CheckInterval) until ctx
// ends. It returns at once when no CVCA is in use.
func (a *Authority) Watch(ctx context.Context) {
	if a.Current() == nil {
		return
	}
	t := time.NewTicker(CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.Refresh(ctx); err != nil && ctx.Err() == nil {
				a.log().Error("CVCA rollover check", "err", err)
			}
		}
	}
}

// Chain answers GetCACertificates for the CVCA: its certificates as stored, oldest first,
// so that a link certificate reaches DVs as soon as the rollover is made (their requests
// naming it then switch this instance to the new key, see ByCAR). Only with a CVCA in use.
func (a *Authority) Chain(ctx context.Context) ([][]byte, error) {
	path, err := trust.New(a.Store).Chain(ctx, a.Country)
	if err != nil {
		return nil, err
	}
	if len(path) == 0 {
		path = a.Current().Path
	}
	out := make([][]byte, len(path))
	for i, c := range path {
		out[i] = c.Raw
	}
	return out, nil
}

// Init creates the CVCA of chr's country: a new key in the keystore (label KeyLabel) and
// its self-signed certificate, valid for the given number of years. The certificate is
// stored in one transaction with its audit events (key.generate, init.cvca) naming by's
// participants. A country that has a CVCA certificate already moves to a new key with
// Rollover instead.
func (a *Authority) Init(ctx context.Context, by Ceremony, chr string, spec hsm.KeySpec, years int) (*cvc.Certificate, error) {
	if ref, err := cvc.ParseReference(chr); err != nil || ref.Country() != a.Country {
		return nil, fmt.Errorf("cvca: the CVCA CHR %q must be a holder reference of country %s (%v)", chr, a.Country, err)
	}
	if existing, err := a.Store.CVCAChain(ctx, chr[:2]); err != nil {
		return nil, err
	} else if len(existing) > 0 {
		return nil, fmt.Errorf("cvca: %s already has a CVCA (%s); a new key needs a link certificate: eacgate cvca rollover", chr[:2], existing[len(existing)-1].CHR)
	}
	key, err := a.Keys.Generate(ctx, a.KeyLabel, spec)
	if err != nil {
		return nil, err
	}
	k := Key{Label: a.KeyLabel, Keystore: KeystoreKind(a.Keys), Spec: spec}
	k.Spec.Algorithm = key.Algorithm()
	cert, err := a.certifyNew(ctx, by, k, chr, func() (*cvc.Certificate, error) {
		today := cvc.DateOf(a.now())
		return authority.NewCVCA(authority.CVCASpec{
			CHR: chr, Algorithm: key.Algorithm(),
			CHAT: cvc.NewISCHAT(cvc.RoleCVCA, cvc.ISReadDG3|cvc.ISReadDG4), Effective: today, Expiration: today.AddDays(years*365 - 1),
		}, key)
	}, EventInitCVCA, nil)
	if err != nil {
		return nil, err
	}
	a.log().Info("created CVCA", "chr", cert.CHR, "algorithm", key.Algorithm().String(), "sha256", trust.CertificateSHA256(cert))
	return cert, nil
}

// certifyNew makes the certificate of the new key k (sign) and stores it with its audit
// events (k's key.generate, then action) in one transaction. When the certificate is not
// stored, the key, which exists, is still recorded (Uncertified).
func (a *Authority) certifyNew(ctx context.Context, by Ceremony, k Key, chr string, sign func() (*cvc.Certificate, error), action string,
	also func(ctx context.Context, tx *store.Store, cert *cvc.Certificate) error) (*cvc.Certificate, error) {
	cert, err := sign()
	if err == nil {
		err = a.storeAudited(ctx, by, k, cert, action, also)
	}
	if err != nil {
		if aerr := by.Uncertified(ctx, a.Store, k, chr, err); aerr != nil {
			a.log().Error("audit of a CVCA key without its certificate", "label", k.Label, "err", aerr)
		}
		return nil, err
	}
	return cert, nil
}

// storeAudited stores CVCA certificate cert of key k with its events, and what also (may be
// nil) writes in the same transaction.
func (a *Authority) storeAudited(ctx context.Context, by Ceremony, k Key, cert *cvc.Certificate, action string,
	also func(ctx context.Context, tx *store.Store, cert *cvc.Certificate) error) error {
	keyEv, err := by.KeyEvent(k, cert.CHR)
	if err != nil {
		return err
	}
	certEv, err := by.Event(action, by.Details(cert, cert.CHR[:len(cert.CHR)-5], &k))
	if err != nil {
		return err
	}
	row := &store.Certificate{CHR: cert.CHR, CAR: cert.CAR, Role: store.RoleCVCA,
		NotBefore: cert.EffectiveDate.Time(), NotAfter: cert.ExpirationDate.Time(), Status: store.CertValid, Raw: cert.Raw}
	err = StoreAudited(ctx, a.Store, "store CVCA certificate "+cert.CHR, func(tx *store.Store) error {
		if err := tx.AddCertificate(ctx, row); err != nil || also == nil {
			return err
		}
		return also(ctx, tx, cert)
	}, keyEv, certEv)
	if err != nil {
		return fmt.Errorf("cvca: store CVCA certificate %s: %w", cert.CHR, err)
	}
	return nil
}

// Rollover moves the CVCA to a new key: the key is generated in the keystore (label
// KeyLabel-CHR; spec's zero value keeps the current algorithm and curve), certified by the
// current key in a link certificate valid for the given number of years from today, and
// stored, so that DV certificates are issued under it from now on (serving instances take
// it up within a minute, see Watch and ByCAR) while certificates under the earlier keys
// stay verifiable. DVs get the link certificate with GetCACertificates; every partner is
// sent it in a new_cer_available_notification through the outbox. The link certificate,
// the notifications and the audit events (key.generate, cvca.rollover naming by's
// participants) commit in one transaction. A CVCA in use here switches to the new key at
// once (an error doing so is returned with the link certificate, which is stored).
func (a *Authority) Rollover(ctx context.Context, by Ceremony, chr string, spec hsm.KeySpec, years int) (*cvc.Certificate, error) {
	cur, err := a.load(ctx)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, errors.New("cvca: no CVCA to roll over: run 'eacgate init cvca' first")
	}
	old := cur.Certificate()
	if len(chr) < 8 || chr[:2] != old.CHR[:2] {
		return nil, fmt.Errorf("cvca: the new CVCA CHR %q must be of country %s", chr, old.CHR[:2])
	}
	for _, c := range cur.Path {
		if c.CHR == chr {
			return nil, fmt.Errorf("cvca: CVCA certificate %s exists; choose the next sequence number", chr)
		}
	}
	if years < 1 {
		return nil, fmt.Errorf("cvca: validity of %d years", years)
	}
	if spec.Algorithm == cvc.AlgorithmUnknown {
		spec = hsm.KeySpec{Algorithm: old.PublicKey.Algorithm}
	}
	if d := cur.Domain(); d != nil && spec.Algorithm.IsECDSA() && spec.Curve == "" {
		spec.Curve = d.Name()
	}
	label := a.keyLabel(chr)
	k := Key{Label: label, Keystore: KeystoreKind(a.Keys), Spec: spec}
	key, err := a.Keys.Generate(ctx, label, spec)
	if errors.Is(err, hsm.ErrKeyExists) {
		// An earlier attempt made the key and stopped before its link certificate was
		// stored (no certificate has this CHR): that key is used.
		a.log().Warn("CVCA rollover: using the key an earlier attempt made", "label", label)
		k.Reused = true
		if key, err = a.Keys.Signer(ctx, label); err == nil && !KeyFits(key, spec) {
			err = fmt.Errorf("cvca: key %s from an earlier attempt is not a %s key%s", label, spec.Algorithm, curveSuffix(spec.Curve))
		}
	}
	if err != nil {
		return nil, err
	}
	link, err := a.certifyNew(ctx, by, k, chr, func() (*cvc.Certificate, error) {
		today := cvc.DateOf(a.now())
		link, err := authority.NewLink(authority.CVCASpec{CHR: chr, Algorithm: key.Algorithm(), CHAT: old.CHAT,
			Effective: today, Expiration: today.AddDays(years*365 - 1)}, key, old, cur.Signer)
		if err != nil {
			return nil, err
		}
		if _, err := cvc.Verify(link, cvc.VerifyOptions{Anchors: cur.Path[:1], Intermediates: cur.Path[1:]}); err != nil {
			return nil, fmt.Errorf("cvca: the new link certificate does not verify: %w", err)
		}
		return link, nil
	}, EventRollover, a.notifyPartners)
	if err != nil {
		return nil, err
	}
	a.log().Info("CVCA rolled over", "chr", link.CHR, "car", link.CAR, "algorithm", key.Algorithm().String(),
		"sha256", trust.CertificateSHA256(link))
	return link, a.Refresh(ctx)
}

// notifyPartners queues in tx a new_cer_available_notification with cert for every partner.
func (a *Authority) notifyPartners(ctx context.Context, tx *store.Store, cert *cvc.Certificate) error {
	for _, p := range a.Partners {
		payload, err := server.EncodeRequest(server.SPOCProtocols[0], msg.Message{Operation: "SendCertificates",
			CallerID: a.Country, StatusInfo: string(authority.NewCertificateAvailableNotification), Certificates: [][]byte{cert.Raw}})
		if err != nil {
			return err
		}
		if err := tx.EnqueueOutbox(ctx, &store.OutboxItem{Kind: store.OutboxDeliver, TargetURL: p.URL, Payload: payload}); err != nil {
			return fmt.Errorf("cvca: notify SPOC %s of CVCA certificate %s: %w", p.Country, cert.CHR, err)
		}
		a.log().Info("SPOC partner to be notified of the new CVCA certificate", "country", p.Country, "url", p.URL)
	}
	return nil
}

// KeyFits reports whether key is of spec's algorithm and, for EC keys, on its curve: a key
// an earlier attempt made under the same label may be used again only then.
func KeyFits(key hsm.Signer, spec hsm.KeySpec) bool {
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
