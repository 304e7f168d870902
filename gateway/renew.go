package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"eacgate/authority"
	"eacgate/config"
	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/hsm"
	"eacgate/msg"
	"eacgate/ra"
	"eacgate/server"
	"eacgate/spoc"
	"eacgate/store"
)

// CurrentDV returns the DV issuer in use (the newest certificate after automatic renewals),
// nil when the gateway has no DV.
func (g *Gateway) CurrentDV() *authority.Issuer {
	if cur := g.dvCurrent.Load(); cur != nil {
		return cur
	}
	return g.DV
}

// dvByCAR serves as the DV endpoint's ByCAR: the DV's foreign-chain issuer a request names,
// or, for a request naming a DV certificate of ours that the issuer in use does not know (a
// renewal another instance made since this one's last check, which the terminal learned
// there), the renewed DV taken up at once, at most once a second. Nil otherwise.
func (g *Gateway) dvByCAR(car string) *authority.Issuer {
	if is := g.foreignDVByCAR(car); is != nil {
		return is
	}
	cur := g.CurrentDV()
	prefix := g.Options.Country + g.Options.DVMnemonic
	if cur == nil || len(car) != len(prefix)+5 || !strings.HasPrefix(car, prefix) || slices.Contains(ra.IssuerCHRs(cur), car) {
		return nil
	}
	return g.takeUpNamed(&g.dvLookup, car, cur, g.refreshDV, g.CurrentDV)
}

// dvKeyLabel is the keystore label of the key of DV certificate chr: the configured label
// for the first one (eacgate init dv), label-CHR for the ones automatic renewal made.
func (g *Gateway) dvKeyLabel(chr string) string { return g.Options.DVKey + "-" + chr }

// dvSigner finds the key of DV certificate chr.
func (g *Gateway) dvSigner(ctx context.Context, chr string) (hsm.Signer, error) {
	key, err := g.Keys.Signer(ctx, g.dvKeyLabel(chr))
	if errors.Is(err, hsm.ErrKeyNotFound) {
		return g.Keys.Signer(ctx, g.Options.DVKey)
	}
	return key, err
}

// RunDVClient renews the DV's certificate automatically until ctx ends: every
// CheckInterval it picks up a renewal another instance made, and renews when the
// certificate expires within RenewBefore.
func (g *Gateway) RunDVClient(ctx context.Context) {
	o := g.Options.DVClient.WithDefaults()
	if o.Disabled || g.CurrentDV() == nil {
		return
	}
	log := g.logger.With("component", "dv-client")
	t := time.NewTicker(o.CheckInterval)
	defer t.Stop()
	for {
		if g.remoteCVCA() {
			if n, err := g.FetchCVCACertificates(ctx); err != nil {
				log.Warn("CVCA certificates", "err", err)
			} else if n > 0 {
				log.Info("new CVCA certificates", "count", n)
			}
		}
		if err := g.refreshDV(ctx); err != nil {
			log.Error("reload DV certificate", "err", err)
		}
		renewed, err := g.RenewDV(ctx, o, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("DV renewal failed; will retry", "err", err)
		case renewed != nil:
			log.Info("DV certificate renewed", "chr", renewed.CHR, "expires", renewed.ExpirationDate.String())
		}
		for _, country := range o.Foreign {
			code, err := g.ObtainForeign(ctx, o, country, time.Now())
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("foreign DV certificate", "country", country, "err", err)
			case code != "":
				log.Info("foreign DV certificate requested", "country", country, "code", code)
			}
		}
		// Foreign certificates obtained now, by a callback or by another instance.
		if err := g.loadForeignDV(ctx, time.Now()); err != nil && ctx.Err() == nil {
			log.Error("load foreign DV certificates", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshDV switches to the DV's newest certificate in the store when it is not the one in
// use (another instance renewed it).
func (g *Gateway) refreshDV(ctx context.Context) error {
	cur := g.CurrentDV()
	holder, err := g.Store.HolderByName(ctx, g.Options.Country, g.Options.DVMnemonic)
	if err != nil {
		return err
	}
	row, err := g.Store.LatestCertificateOfRole(ctx, holder.ID, store.RoleDVDomestic)
	if err != nil {
		return err
	}
	chain, err := g.cvcaPath(ctx, row.CAR[:2])
	if err != nil {
		return err
	}
	if row.CHR == cur.Certificate().CHR && len(chain) == len(cur.Path)-1 {
		return nil
	}
	return g.loadDV(ctx) // renewed elsewhere, or the CVCA has a new (link) certificate
}

// dvLeaseTTL bounds how long an instance that died while renewing keeps the others from
// renewing; the holder extends the lease every third of it while it works (a renewal
// through a remote CVCA may wait for it up to dv_client.timeout).
const dvLeaseTTL = time.Minute

// withDVLease runs fn while this instance holds the DV client's lease, which keeps gateway
// instances sharing a database from renewing at the same moment (two certificates with one
// CHR and different keys, or two requests to a foreign CVCA). ran is false when another
// instance holds the lease: it does the work, and this one picks the result up (refreshDV).
func (g *Gateway) withDVLease(ctx context.Context, fn func() error) (ran bool, err error) {
	name := "dv-client:" + g.Options.Country + g.Options.DVMnemonic
	ttl := dvLeaseTTL
	if g.dvLeaseTTL > 0 {
		ttl = g.dvLeaseTTL
	}
	ok, err := g.Store.AcquireLease(ctx, name, g.instance, time.Now(), ttl)
	if err != nil || !ok {
		return false, err
	}
	held, stop := context.WithCancel(ctx)
	extended := make(chan struct{})
	go func() {
		defer close(extended)
		everyInterval(held, ttl/3, func() {
			if _, err := g.Store.AcquireLease(held, name, g.instance, time.Now(), ttl); err != nil && held.Err() == nil {
				g.logger.Warn("extend the DV client's lease", "err", err)
			}
		})
	}()
	defer func() {
		stop()
		<-extended
		if err := g.Store.ReleaseLease(context.WithoutCancel(ctx), name, g.instance); err != nil {
			g.logger.Warn("release the DV client's lease", "err", err)
		}
	}()
	return true, fn()
}

// RenewDV renews the DV certificate if it is due at now: a new key, a request authenticated
// with the current key, issued by the local CVCA, stored, and put in use at once. Terminal
// requests that name the previous certificate as CAR are still accepted (OwnCHRs). Nothing
// happens (nil, nil) while another instance on the database is renewing.
func (g *Gateway) RenewDV(ctx context.Context, o config.DVClientOptions, now time.Time) (*cvc.Certificate, error) {
	var cert *cvc.Certificate
	_, err := g.withDVLease(ctx, func() (err error) {
		cert, err = g.renewDV(ctx, o, now)
		return err
	})
	return cert, err
}

func (g *Gateway) renewDV(ctx context.Context, o config.DVClientOptions, now time.Time) (*cvc.Certificate, error) {
	o = o.WithDefaults()
	cur := g.CurrentDV()
	if cur == nil {
		return nil, nil
	}
	curCert := cur.Certificate()
	expires := curCert.ExpirationDate.Time().Add(24 * time.Hour) // valid through the expiration day
	if expires.Sub(now) > o.RenewBefore {
		return nil, nil
	}
	holder, err := g.Store.HolderByName(ctx, g.Options.Country, g.Options.DVMnemonic)
	if err != nil {
		return nil, err
	}
	row, err := g.Store.LatestCertificateOfRole(ctx, holder.ID, store.RoleDVDomestic)
	if err != nil {
		return nil, err
	}
	if row.CHR != curCert.CHR || now.Sub(row.CreatedAt) < o.MinInterval {
		return nil, nil // renewed elsewhere, or recently enough
	}
	if g.CVCA == nil && !g.remoteCVCA() {
		return nil, fmt.Errorf("gateway: DV %s is due for renewal but has no CVCA (set dv_client.cvca_url)", curCert.CHR)
	}
	if g.CVCA == nil {
		// A renewal the CVCA acknowledged is waiting for its callback (for a day at most).
		pending, err := g.Store.PendingOutgoingRequests(ctx, holder.ID, server.CVCAProtocols[0].Namespace, "RequestCertificate", now.Add(-24*time.Hour))
		if err != nil || len(pending) > 0 {
			return nil, err
		}
	}
	chr, err := nextCHR(curCert.CHR)
	if err != nil {
		return nil, err
	}
	// The request goes to the newest CVCA certificate (after a rollover: the new key, whose
	// curve the DV's key must be on): the local CVCA's, or the newest stored for a remote one.
	cvca := g.CurrentCVCA()
	cvcas := cur.Path[:len(cur.Path)-1]
	if cvca != nil {
		if cvca.Active != nil {
			// A suspended CVCA would refuse: no key is made for nothing (its label would
			// block the renewal after the reinstatement).
			if err := cvca.Active(); err != nil {
				return nil, err
			}
		}
		cvcas = cvca.Path
	} else if all, err := g.cvcaPath(ctx, curCert.CAR[:2]); err == nil && len(all) > 0 {
		cvcas = all
	}
	newest := cvcas[len(cvcas)-1]
	car := newest.CHR
	spec := hsm.KeySpec{Algorithm: newest.PublicKey.Algorithm} // a DV follows its CVCA (as eacgate init dv)
	if domain := cvc.Domain(cvcas); domain != nil && spec.Algorithm.IsECDSA() {
		spec.Curve = domain.Name()
	}
	key, err := g.Keys.Generate(ctx, g.dvKeyLabel(chr), spec)
	if err != nil {
		return nil, err
	}
	pub, err := cvc.NewPublicKey(key.Algorithm(), key.Public(), false)
	if err != nil {
		return nil, err
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: car, CHR: chr}, pub, key)
	if err != nil {
		return nil, err
	}
	if req, err = req.Authenticate(curCert.CHR, cur.Signer, curCert.PublicKey.Algorithm); err != nil {
		return nil, err
	}
	if cvca == nil {
		return g.renewRemote(ctx, holder, chr, req.Raw)
	}
	cert, err := cvca.Issue(req.Raw, authority.Applicant{Country: holder.Country, Mnemonic: holder.Mnemonic,
		Role: cvc.RoleDVDomestic, Status: authority.HolderStatus(holder.Status), Current: curCert})
	if err != nil {
		return nil, err
	}
	reg := ra.NewStoreRegistry(g.Store)
	if err := reg.RecordCertificate(ctx, holder.ID, cert); err != nil {
		return nil, err
	}
	if _, err := g.Store.AppendAudit(ctx, store.AuditEvent{Actor: "dv-client", Action: "dv.renew", Target: cert.CHR,
		Source: "local", Outcome: "ok", Details: fmt.Sprintf(`{"previous":%q}`, curCert.CHR)}); err != nil {
		g.logger.Error("audit", "err", err)
	}
	path := append(append([]*cvc.Certificate{}, cvca.Path...), cert)
	next := g.withStatus(&authority.Issuer{Path: path, Signer: g.timed(g.Options.DVKey, key), Policy: cur.Policy,
		OwnCHRs: append(append([]string{}, cur.OwnCHRs...), curCert.CHR), OwnDomains: maps.Clone(cur.OwnDomains)})
	if d, was := next.Domain(), cur.Domain(); was != nil && (d == nil || d.Name() != was.Name()) {
		if next.OwnDomains == nil {
			next.OwnDomains = map[string]*ecc.Curve{}
		}
		next.OwnDomains[curCert.CHR] = was
	}
	g.dvCurrent.Store(next)
	return cert, nil
}

// pendingForeignRemote reports whether a RequestForeignCertificate for country that we sent
// to the national SPOC within the last day still waits for its answer.
func (g *Gateway) pendingForeignRemote(ctx context.Context, holderID int64, country string, now time.Time) (bool, error) {
	pending, err := g.Store.PendingOutgoingRequests(ctx, holderID, server.CVCAProtocols[0].Namespace, "RequestForeignCertificate", now.Add(-24*time.Hour))
	if err != nil {
		return false, err
	}
	for _, m := range pending {
		if req, err := cvc.ParseRequest(m.Request); err == nil && strings.HasPrefix(req.CAR, country) {
			return true, nil
		}
	}
	return false, nil
}

// nextCHR increments a CHR's numeric sequence number (the last five characters).
func nextCHR(chr string) (string, error) {
	if len(chr) < 6 {
		return "", fmt.Errorf("gateway: CHR %q too short", chr)
	}
	seq, err := strconv.Atoi(chr[len(chr)-5:])
	if err != nil || seq >= 99999 {
		return "", fmt.Errorf("gateway: CHR %s: sequence number is not a number below 99999", chr)
	}
	return fmt.Sprintf("%s%05d", chr[:len(chr)-5], seq+1), nil
}

// ObtainForeign gets (or renews) the DV's certificate from a foreign country's CVCA through
// this gateway's SPOC when there is none or it expires within RenewBefore: the foreign CVCA
// certificates are fetched first, then a request with a new key, authenticated with the
// current domestic certificate, goes through the national rules and out to the partner. The
// answer (at once or by the partner's later SendCertificates) is stored with the DV. The
// returned code is the SPOC's answer ("" when nothing was due, or while another instance on
// the database holds the DV client's lease).
func (g *Gateway) ObtainForeign(ctx context.Context, o config.DVClientOptions, country string, now time.Time) (authority.ReturnCode, error) {
	var code authority.ReturnCode
	_, err := g.withDVLease(ctx, func() (err error) {
		code, err = g.obtainForeign(ctx, o, country, now)
		return err
	})
	return code, err
}

func (g *Gateway) obtainForeign(ctx context.Context, o config.DVClientOptions, country string, now time.Time) (authority.ReturnCode, error) {
	o = o.WithDefaults()
	cur := g.CurrentDV()
	// Through our own SPOC, or through the national SPOC at dv_client.cvca_url.
	remote := g.forwarder == nil
	if cur == nil || (remote && !g.remoteCVCA()) {
		return "", fmt.Errorf("gateway: foreign certificates for the DV need the DV, and the SPOC role in this gateway or the national CVCA/SPOC at dv_client.cvca_url")
	}
	holder, err := g.Store.HolderByName(ctx, g.Options.Country, g.Options.DVMnemonic)
	if err != nil {
		return "", err
	}
	rows, err := g.Store.ListCertificatesOfHolder(ctx, holder.ID)
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
	if remote {
		if pending, err := g.pendingForeignRemote(ctx, holder.ID, country, now); err != nil || pending {
			return "", err // an earlier request is still waiting for its answer (a day at most)
		}
	} else {
		if n, err := g.Store.PendingOutgoing(ctx, holder.ID, spoc.Outgoing(country)); err != nil || n > 0 {
			return "", err // an earlier request is still waiting for the partner's answer
		}
		if _, err := g.forwarder.FetchCACertificates(ctx, country); err != nil {
			return "", fmt.Errorf("gateway: CA certificates of %s: %w", country, err)
		}
	}
	chain, err := g.cvcaPath(ctx, country)
	if err != nil {
		return "", err
	}
	if len(chain) == 0 && remote {
		return "", fmt.Errorf("gateway: no CVCA certificate of %s stored: add it with 'eacgate trust add --sha256 ...'", country)
	}
	if len(chain) == 0 {
		return "", fmt.Errorf("gateway: no CVCA certificate of %s", country)
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
	key, err := g.Keys.Generate(ctx, g.Options.DVKey+"-"+foreignCVCA.CHR+"-"+chr, spec)
	if err != nil {
		return "", err
	}
	pub, err := cvc.NewPublicKey(key.Algorithm(), key.Public(), true)
	if err != nil {
		return "", err
	}
	req, err := cvc.NewRequest(cvc.RequestTemplate{CAR: foreignCVCA.CHR, CHR: chr}, pub, key)
	if err != nil {
		return "", err
	}
	curCert := cur.Certificate()
	if req, err = req.Authenticate(curCert.CHR, cur.Signer, curCert.PublicKey.Algorithm); err != nil {
		return "", err
	}
	m := msg.Message{Operation: "RequestForeignCertificate", Namespace: server.CVCAProtocols[0].Namespace,
		MessageID: "dv-client-" + chr + "-" + strconv.FormatInt(now.UnixNano(), 36), ForeignCAR: foreignCVCA.CHR, CertReq: req.Raw}
	if remote {
		code, _, err := g.requestRemote(ctx, holder, m)
		return code, err
	}
	h := &ra.Holder{ID: holder.ID, Country: holder.Country, Mnemonic: holder.Mnemonic, Role: cvc.RoleDVDomestic,
		Status: authority.HolderStatus(holder.Status)}
	a := g.forwarder.Forward(ctx, h, m)
	if !a.ReturnCode.OK() {
		return a.ReturnCode, fmt.Errorf("gateway: foreign request %s to %s: %s", chr, foreignCVCA.CHR, a.ReturnCode)
	}
	return a.ReturnCode, nil
}
