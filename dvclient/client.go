package dvclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/hsm"
	"eacgate/ra"
	"eacgate/store"
)

// Client is the DV of this gateway as a client of CVCAs: the issuers it certifies
// terminals under (its current domestic certificate and its foreign chains), kept current
// with the store, and their renewal (Run).
type Client struct {
	Store *store.Store
	Keys  hsm.Keystore
	// Country and Mnemonic name the DV's holder; KeyLabel is the label of its first key
	// (dv_key), the keys of renewals are KeyLabel-CHR, those of foreign certificates
	// KeyLabel-<foreign CVCA CHR>-CHR.
	Country, Mnemonic, KeyLabel string
	// Policy is the issuers' policy (validity per role).
	Policy authority.Policy
	// Domestic issues the DV's own certificates; Foreign its certificates from other
	// countries' CVCAs. Unavailable when the gateway has no way there.
	Domestic, Foreign CVCA
	// Schedule is what Run renews and when.
	Schedule Options
	// Instance names this process to the other instances on the database (leases);
	// LeaseTTL overrides the lease time (default one minute).
	Instance string
	LeaseTTL time.Duration
	// Wrap readies an issuer built here for use (the gateway: timed signer, status check);
	// label names its key. Nil: used as built.
	Wrap   func(iss *authority.Issuer, label string) *authority.Issuer
	Logger *slog.Logger
	Now    func() time.Time // default time.Now
	// LookupTimeout bounds the store reads of a request that names a DV certificate unknown
	// here (see ByCAR); default DefaultLookupTimeout.
	LookupTimeout time.Duration

	current atomic.Pointer[authority.Issuer]
	foreign atomic.Pointer[foreignDV]
	lookup  atomic.Int64 // when a request last made the DV look for a renewal made elsewhere (Unix ns)
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) log() *slog.Logger { return logger(c.Logger) }

func (c *Client) wrap(iss *authority.Issuer, label string) *authority.Issuer {
	if c.Wrap != nil {
		return c.Wrap(iss, label)
	}
	return iss
}

// Current returns the DV issuer in use (the newest certificate after renewals), nil before
// Load.
func (c *Client) Current() *authority.Issuer { return c.current.Load() }

// keyLabel is the keystore label of the key of DV certificate chr made by a renewal.
func (c *Client) keyLabel(chr string) string { return c.KeyLabel + "-" + chr }

// signer finds the key of DV certificate chr: the renewal's, else the first one.
func (c *Client) signer(ctx context.Context, chr string) (hsm.Signer, error) {
	key, err := c.Keys.Signer(ctx, c.keyLabel(chr))
	if errors.Is(err, hsm.ErrKeyNotFound) {
		return c.Keys.Signer(ctx, c.KeyLabel)
	}
	return key, err
}

func (c *Client) holder(ctx context.Context) (*store.Holder, error) {
	h, err := c.Store.HolderByName(ctx, c.Country, c.Mnemonic)
	if err != nil {
		return nil, fmt.Errorf("dvclient: DV %s%s: %w", c.Country, c.Mnemonic, err)
	}
	return h, nil
}

// Load sets up the DV issuer from its current certificate and the chain of its CVCA, and
// then the foreign chains (LoadForeign).
func (c *Client) Load(ctx context.Context) error {
	holder, err := c.holder(ctx)
	if err != nil {
		return err
	}
	dvCert, err := (ra.NewStoreRegistry(c.Store)).CurrentCertificate(ctx, holder.ID)
	if err != nil {
		return fmt.Errorf("dvclient: DV %s%s has no current certificate (expired? renew it): %w", c.Country, c.Mnemonic, err)
	}
	cvcas, err := cvcaPath(ctx, c.Store, dvCert.CAR[:2])
	if err != nil {
		return err
	}
	if len(cvcas) == 0 {
		return fmt.Errorf("dvclient: no CVCA certificates of %s stored for DV certificate %s", dvCert.CAR[:2], dvCert.CHR)
	}
	path, err := cvc.Verify(dvCert, cvc.VerifyOptions{Anchors: cvcas[:1], Intermediates: cvcas[1:]})
	if err != nil {
		return fmt.Errorf("dvclient: DV certificate %s: %w", dvCert.CHR, err)
	}
	key, err := c.signer(ctx, dvCert.CHR)
	if err != nil {
		return fmt.Errorf("dvclient: key of DV certificate %s: %w", dvCert.CHR, err)
	}
	// Terminal requests may still name an earlier DV certificate as CAR.
	var own []string
	issuedBy := map[string]string{}
	rows, err := c.Store.ListCertificatesOfHolder(ctx, holder.ID)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.Role == store.RoleDVDomestic && r.CHR != dvCert.CHR {
			own = append(own, r.CHR)
			issuedBy[r.CHR] = r.CAR
		}
	}
	c.current.Store(c.wrap(&authority.Issuer{Path: path, Signer: key, Policy: c.Policy, OwnCHRs: own,
		OwnDomains: ownDomains(cvcas, issuedBy, cvc.Domain(path))}, c.KeyLabel))
	return c.LoadForeign(ctx, c.now())
}

// Refresh switches to the DV's newest certificate in the store when it is not the one in
// use (another instance renewed it, or the CVCA has a new link certificate).
func (c *Client) Refresh(ctx context.Context) error {
	cur := c.Current()
	if cur == nil {
		return c.Load(ctx)
	}
	holder, err := c.holder(ctx)
	if err != nil {
		return err
	}
	row, err := c.Store.LatestCertificateOfRole(ctx, holder.ID, store.RoleDVDomestic)
	if err != nil {
		return err
	}
	chain, err := cvcaPath(ctx, c.Store, row.CAR[:2])
	if err != nil {
		return err
	}
	if row.CHR == cur.Certificate().CHR && len(chain) == len(cur.Path)-1 {
		return nil
	}
	return c.Load(ctx)
}

// ByCAR serves as the DV endpoint's ByCAR: the DV's foreign-chain issuer a request names,
// or, for a request naming a DV certificate of ours that the issuer in use does not know (a
// renewal another instance made since this one's last check, which the terminal learned
// there), the renewed DV taken up at once, at most once a second. Nil otherwise.
func (c *Client) ByCAR(car string) *authority.Issuer {
	if is := c.ForeignIssuer(car); is != nil {
		return is
	}
	cur := c.Current()
	prefix := c.Country + c.Mnemonic
	if cur == nil || len(car) != len(prefix)+5 || !strings.HasPrefix(car, prefix) || slices.Contains(ra.IssuerCHRs(cur), car) {
		return nil
	}
	if !c.takeTurn() {
		return nil
	}
	timeout := c.LookupTimeout
	if timeout <= 0 {
		timeout = DefaultLookupTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.Refresh(ctx); err != nil {
		c.log().Error("a request names a certificate unknown here: looking for a change made elsewhere", "car", car, "err", err)
		return nil
	}
	if next := c.Current(); next != cur && next.Certificate().CHR == car {
		return next
	}
	return nil
}

// DefaultLookupTimeout bounds ByCAR's look for a renewal made elsewhere: the request waits
// for it.
const DefaultLookupTimeout = 5 * time.Second

// takeTurn reports whether at least a second passed since the last time it said yes, and
// takes the turn if so.
func (c *Client) takeTurn() bool {
	now := c.now().UnixNano()
	prev := c.lookup.Load()
	return now-prev >= int64(time.Second) && c.lookup.CompareAndSwap(prev, now)
}

// Chains is the answer of GetCACertificates at /dv: the domestic chain of the DV in use,
// then the foreign ones.
func (c *Client) Chains(ctx context.Context) ([][]byte, error) {
	return append(c.withAllCVCACertificates(ctx, c.Current().Path), c.foreignChains(ctx)...), nil
}

// withAllCVCACertificates returns the encodings of a DV certificate's path with every stored
// CVCA certificate of its country in place of the path's CVCA part, oldest first: link
// certificates of a rollover reach the terminals (which take the chips' trust points
// forward with them) before the DV holds a certificate under the new key.
func (c *Client) withAllCVCACertificates(ctx context.Context, path []*cvc.Certificate) [][]byte {
	rest := path
	for len(rest) > 0 && rest[0].Role() == cvc.RoleCVCA {
		rest = rest[1:]
	}
	all, err := cvcaPath(ctx, c.Store, path[0].CHR[:2])
	if err != nil || len(all) == 0 {
		if err != nil {
			c.log().Warn("CVCA certificates for GetCACertificates: answering the DV's path", "err", err)
		}
		return rawChain(path)
	}
	return rawChain(append(all, rest...))
}

// rawChain returns the encodings of path's certificates.
func rawChain(path []*cvc.Certificate) [][]byte {
	out := make([][]byte, len(path))
	for i, c := range path {
		out[i] = c.Raw
	}
	return out
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
