package dvclient

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"eacgate/authority"
	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/hsm"
	"eacgate/msg"
	"eacgate/server"
	"eacgate/store"
)

// Options say when the DV renews its certificates (the gateway's dv_client settings).
type Options struct {
	// RenewBefore: a certificate expiring within this is renewed (default 30 days).
	RenewBefore time.Duration
	// CheckInterval is how often Run looks (default 1h).
	CheckInterval time.Duration
	// MinInterval: at most one renewal per this (default 24h), so that a validity shorter
	// than RenewBefore does not make the DV renew on every check.
	MinInterval time.Duration
	// Foreign lists the countries whose CVCAs certify the DV too.
	Foreign []string
	// Disabled turns Run off.
	Disabled bool
}

// WithDefaults fills in the schedule's defaults: renew 30 days before expiry, look every
// hour, at most one renewal a day.
func (o Options) WithDefaults() Options {
	if o.RenewBefore <= 0 {
		o.RenewBefore = 30 * 24 * time.Hour
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = time.Hour
	}
	if o.MinInterval <= 0 {
		o.MinInterval = 24 * time.Hour
	}
	return o
}

// Run renews the DV's certificates by Schedule until ctx ends: every CheckInterval it
// fetches new CVCA certificates, picks up a renewal another instance made, renews the
// domestic certificate and the foreign ones when due, and loads the foreign chains.
func (c *Client) Run(ctx context.Context) {
	o := c.Schedule.WithDefaults()
	if o.Disabled || c.Current() == nil {
		return
	}
	log := c.log().With("component", "dv-client")
	t := time.NewTicker(o.CheckInterval)
	defer t.Stop()
	for {
		if n, err := c.Domestic.FetchCACertificates(ctx); err != nil && ctx.Err() == nil {
			log.Warn("CVCA certificates", "err", err)
		} else if n > 0 {
			log.Info("new CVCA certificates", "count", n)
		}
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			log.Error("reload DV certificate", "err", err)
		}
		renewed, err := c.Renew(ctx, o, c.now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("DV renewal failed; will retry", "err", err)
		case renewed != nil:
			log.Info("DV certificate renewed", "chr", renewed.CHR, "expires", renewed.ExpirationDate.String())
		}
		for _, country := range o.Foreign {
			code, err := c.ObtainForeign(ctx, o, country, c.now())
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("foreign DV certificate", "country", country, "err", err)
			case code != "":
				log.Info("foreign DV certificate requested", "country", country, "code", code)
			}
		}
		// Foreign certificates obtained now, by a callback or by another instance.
		if err := c.LoadForeign(ctx, c.now()); err != nil && ctx.Err() == nil {
			log.Error("load foreign DV certificates", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// defaultLeaseTTL bounds how long an instance that died while renewing keeps the others from
// renewing; the holder extends the lease every third of it while it works (a renewal
// through a remote CVCA may wait for it up to dv_client.timeout).
const defaultLeaseTTL = time.Minute

// withLease runs fn while this instance holds the DV client's lease, which keeps gateway
// instances sharing a database from renewing at the same moment (two certificates with one
// CHR and different keys, or two requests to a foreign CVCA). ran is false when another
// instance holds the lease: it does the work, and this one picks the result up (Refresh).
func (c *Client) withLease(ctx context.Context, fn func() error) (ran bool, err error) {
	name := "dv-client:" + c.Country + c.Mnemonic
	ttl := defaultLeaseTTL
	if c.LeaseTTL > 0 {
		ttl = c.LeaseTTL
	}
	ok, err := c.Store.AcquireLease(ctx, name, c.Instance, c.now(), ttl)
	if err != nil || !ok {
		return false, err
	}
	held, stop := context.WithCancel(ctx)
	extended := make(chan struct{})
	go func() {
		defer close(extended)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-held.Done():
				return
			case <-t.C:
				if _, err := c.Store.AcquireLease(held, name, c.Instance, c.now(), ttl); err != nil && held.Err() == nil {
					c.log().Warn("extend the DV client's lease", "err", err)
				}
			}
		}
	}()
	defer func() {
		stop()
		<-extended
		if err := c.Store.ReleaseLease(context.WithoutCancel(ctx), name, c.Instance); err != nil {
			c.log().Warn("release the DV client's lease", "err", err)
		}
	}()
	return true, fn()
}

// Renew renews the DV certificate if it is due at now: a new key, a request authenticated
// with the current key, sent to the Domestic CVCA, and the certificate (when issued at once)
// put in use. Terminal requests that name the previous certificate as CAR are still accepted
// (OwnCHRs). Nothing happens (nil, nil) while another instance on the database is renewing,
// or when the CVCA acknowledged the request and answers later.
func (c *Client) Renew(ctx context.Context, o Options, now time.Time) (*cvc.Certificate, error) {
	var cert *cvc.Certificate
	_, err := c.withLease(ctx, func() (err error) {
		cert, err = c.renew(ctx, o, now)
		return err
	})
	return cert, err
}

func (c *Client) renew(ctx context.Context, o Options, now time.Time) (*cvc.Certificate, error) {
	o = o.WithDefaults()
	cur := c.Current()
	if cur == nil {
		return nil, nil
	}
	curCert := cur.Certificate()
	expires := curCert.ExpirationDate.Time().Add(24 * time.Hour) // valid through the expiration day
	if expires.Sub(now) > o.RenewBefore {
		return nil, nil
	}
	holder, err := c.holder(ctx)
	if err != nil {
		return nil, err
	}
	row, err := c.Store.LatestCertificateOfRole(ctx, holder.ID, store.RoleDVDomestic)
	if err != nil {
		return nil, err
	}
	if row.CHR != curCert.CHR || now.Sub(row.CreatedAt) < o.MinInterval {
		return nil, nil // renewed elsewhere, or recently enough
	}
	country := curCert.CAR[:2]
	if pending, err := c.Domestic.Pending(ctx, holder.ID, country, now); err != nil || pending {
		if err != nil {
			return nil, fmt.Errorf("dvclient: DV %s is due for renewal: %w", curCert.CHR, err)
		}
		return nil, nil // a renewal the CVCA acknowledged waits for its callback (a day at most)
	}
	chr, err := nextCHR(curCert.CHR)
	if err != nil {
		return nil, err
	}
	// The request goes to the newest CVCA certificate (after a rollover: the new key, whose
	// curve the DV's key must be on).
	cvcas, err := c.Domestic.Chain(ctx, country)
	if err != nil {
		return nil, err
	}
	if len(cvcas) == 0 {
		cvcas = cur.Path[:len(cur.Path)-1]
	}
	newest := cvcas[len(cvcas)-1]
	spec := hsm.KeySpec{Algorithm: newest.PublicKey.Algorithm} // a DV follows its CVCA (as eacgate init dv)
	if domain := cvc.Domain(cvcas); domain != nil && spec.Algorithm.IsECDSA() {
		spec.Curve = domain.Name()
	}
	req, err := c.newRequest(ctx, c.keyLabel(chr), spec, newest.CHR, chr, false, cur)
	if err != nil {
		return nil, err
	}
	m := msg.Message{Operation: "RequestCertificate", MessageID: "renew-" + chr + "-" + strconv.FormatInt(c.now().UnixNano(), 36), CertReq: req.Raw}
	code, cert, err := c.Domestic.Request(ctx, Request{Holder: holder, Current: curCert, Message: m})
	switch {
	case err != nil:
		return nil, err
	case cert == nil:
		c.log().Info("DV renewal acknowledged; the certificate comes by callback", "chr", chr, "code", code)
		return nil, nil
	}
	return cert, c.Load(ctx)
}

// newRequest makes a key (label, spec) and a request for it to car, authenticated with the
// DV's current key. The key is audited (key.generate) as soon as it is made: its
// certificate may come days later by callback, or never.
func (c *Client) newRequest(ctx context.Context, label string, spec hsm.KeySpec, car, chr string, domainParams bool, cur *authority.Issuer) (*cvc.Request, error) {
	k := cvca.Key{Label: label, Keystore: cvca.KeystoreKind(c.Keys), Spec: spec}
	key, err := c.Keys.Generate(ctx, label, spec)
	if errors.Is(err, hsm.ErrKeyExists) {
		k.Reused = true
		// An earlier request for this CHR made the key and was refused, or its certificate
		// was not stored (nextCHR has not moved on): that key is used, else no renewal
		// could ever be made for the CHR again.
		c.log().Warn("DV request: using the key an earlier attempt made", "label", label)
		if key, err = c.Keys.Signer(ctx, label); err == nil && !cvca.KeyFits(key, spec) {
			err = fmt.Errorf("dvclient: key %s from an earlier attempt is not a %s key", label, spec.Algorithm)
		}
	}
	if err != nil {
		return nil, err
	}
	ev, err := cvca.Ceremony{Actor: "dv-client"}.KeyEvent(k, chr)
	if err == nil {
		_, err = c.Store.AppendAudit(ctx, ev)
	}
	if err != nil {
		return nil, fmt.Errorf("dvclient: audit the key of %s: %w", chr, err)
	}
	pub, err := cvc.NewPublicKey(key.Algorithm(), key.Public(), domainParams)
	if err != nil {
		return nil, err
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: car, CHR: chr}, pub, key)
	if err != nil {
		return nil, err
	}
	curCert := cur.Certificate()
	return req.Authenticate(curCert.CHR, cur.Signer, curCert.PublicKey.Algorithm)
}

// nextCHR is the CHR of the holder's next key (see cvc.Reference.Next).
func nextCHR(chr string) (string, error) {
	ref, err := cvc.ParseReference(chr)
	if err == nil {
		ref, err = ref.Next()
	}
	if err != nil {
		return "", fmt.Errorf("dvclient: CHR %q: %w", chr, err)
	}
	return ref.String(), nil
}

// ObtainForeign gets (or renews) the DV's certificate from a foreign country's CVCA through
// the Foreign CVCA when there is none or it expires within RenewBefore: a request with a new
// key, authenticated with the current domestic certificate. The answer (at once or by the
// partner's later SendCertificates) is stored with the DV. A renewal (the DV holds a still
// valid certificate from that country) is authenticated with that certificate instead. The
// returned code is the answer
// ("" when nothing was due, or while another instance on the database holds the DV client's
// lease).
func (c *Client) ObtainForeign(ctx context.Context, o Options, country string, now time.Time) (authority.ReturnCode, error) {
	var code authority.ReturnCode
	_, err := c.withLease(ctx, func() (err error) {
		code, err = c.obtainForeign(ctx, o, country, now)
		return err
	})
	return code, err
}

func (c *Client) obtainForeign(ctx context.Context, o Options, country string, now time.Time) (authority.ReturnCode, error) {
	o = o.WithDefaults()
	cur := c.Current()
	if cur == nil {
		return "", fmt.Errorf("dvclient: foreign certificates for the DV need the DV")
	}
	holder, err := c.holder(ctx)
	if err != nil {
		return "", err
	}
	rows, err := c.Store.ListCertificatesOfHolder(ctx, holder.ID)
	if err != nil {
		return "", err
	}
	var latest *store.Certificate
	maxCHR := cur.Certificate().CHR
	for i, r := range rows {
		if r.CHR > maxCHR && len(r.CHR) == len(maxCHR) {
			maxCHR = r.CHR
		}
		if r.Role == store.RoleDVForeign && strings.HasPrefix(r.CAR, country) && r.Status == store.CertValid &&
			(latest == nil || r.NotAfter.After(latest.NotAfter)) {
			latest = &rows[i]
		}
	}
	if latest != nil && (latest.NotAfter.Add(24*time.Hour).Sub(now) > o.RenewBefore || now.Sub(latest.CreatedAt) < o.MinInterval) {
		return "", nil
	}
	if pending, err := c.Foreign.Pending(ctx, holder.ID, country, now); err != nil || pending {
		return "", err // an earlier request is still waiting for its answer
	}
	chain, err := c.Foreign.Chain(ctx, country)
	if err != nil {
		return "", err
	}
	if len(chain) == 0 {
		return "", fmt.Errorf("dvclient: no CVCA certificate of %s", country)
	}
	foreignCVCA := chain[len(chain)-1]
	chr, err := nextCHR(maxCHR)
	if err != nil {
		return "", err
	}
	spec := hsm.KeySpec{Algorithm: foreignCVCA.PublicKey.Algorithm}
	if d := cvc.Domain(chain); d != nil {
		spec.Curve = d.Name()
	}
	// TR-03139 Table 2 step 3: a successive request is authenticated by the DV's still
	// valid certificate from that country; an initial one by the domestic certificate (the
	// national CVCA replaces that outer signature by its own before it goes abroad).
	auth := cur
	if fi := c.foreignOf(country); fi != nil && fi.Certificate().ValidAt(now) {
		auth = fi
	}
	req, err := c.newRequest(ctx, c.KeyLabel+"-"+foreignCVCA.CHR+"-"+chr, spec, foreignCVCA.CHR, chr, true, auth)
	if err != nil {
		return "", err
	}
	m := msg.Message{Operation: "RequestForeignCertificate", Namespace: server.CVCAProtocols[0].Namespace,
		MessageID: "dv-client-" + chr + "-" + strconv.FormatInt(now.UnixNano(), 36), ForeignCAR: foreignCVCA.CHR, CertReq: req.Raw}
	code, _, err := c.Foreign.Request(ctx, Request{Holder: holder, Current: cur.Certificate(), Message: m})
	if err != nil {
		return code, fmt.Errorf("dvclient: foreign request %s to %s: %w", chr, foreignCVCA.CHR, err)
	}
	return code, nil
}
