package cvca

import (
	"context"
	"encoding/json"
	"fmt"

	"eacgate/cvc"
	"eacgate/hsm"
	"eacgate/store"
	"eacgate/trust"
)

// The audit of key operations (TR-03139 5.2.1: creation and use of keys and certificates):
// a certificate made by a CA key operation is stored in ONE transaction with its events, so
// the log never lacks a certificate that exists nor names one that does not.

// Audit event names of the CA key operations. Certificates signed by our CVCA for a holder
// (the DV's first and renewed certificates) are "ca.issue", with the detail keys the request
// path uses (chr, car, requester, role, sha256, message_id); the CVCA's own certificates are
// recorded by "init.cvca" and "cvca.rollover" with the same keys.
const (
	// EventKeyGenerate records a new CA key (label, keystore kind, algorithm, curve, the
	// CHR it is for), in the transaction of its certificate, or alone with outcome
	// "uncertified" when the certificate could not be stored.
	EventKeyGenerate = "key.generate"
	// EventInitCVCA records the first (self-signed) CVCA certificate.
	EventInitCVCA = "init.cvca"
	// EventRollover records a new CVCA key's link certificate, signed by the previous key.
	EventRollover = "cvca.rollover"
	// EventInitDV records the DV's first key and certificate (eacgate init dv).
	EventInitDV = "init.dv"
	// EventIssue records a certificate signed by our CVCA for a holder.
	EventIssue = "ca.issue"
	// EventReceived records a certificate of our DV signed by another CVCA (a remote
	// national CVCA, or a foreign one).
	EventReceived = "certificate.received"
)

// Ceremony says who took part in a CA key operation: it goes into the operation's audit
// events and is what `eacgate ceremony` shows partners. The bootstrap CLI fills only Actor;
// the two-person flow names the proposer and the approving witnesses.
type Ceremony struct {
	// Actor is who carried the operation out (the audit event's actor, e.g. "cli:alice",
	// "operator:bob"); empty: "cvca".
	Actor string
	// Source is where it was started from (the event's source, e.g. an address); empty:
	// "local".
	Source string
	// Proposer is the operator who proposed the operation, Witnesses those who approved
	// it, ProposalID the proposal; all empty outside the two-person flow.
	Proposer   string
	Witnesses  []string
	ProposalID string
}

// KeystoreKind names the kind of keystore a key lives in for the audit: "hsm" (PKCS#11) or
// "software" (the encrypted software keystore).
func KeystoreKind(ks hsm.Keystore) string {
	if _, ok := ks.(*hsm.PKCS11Keystore); ok {
		return "hsm"
	}
	return "software"
}

// Key is a CA key as the audit names it.
type Key struct {
	Label    string
	Keystore string // KeystoreKind
	Spec     hsm.KeySpec
	// Reused: the key was made by an earlier attempt that stopped before its certificate
	// was stored (a rollover run again).
	Reused bool
}

// CertificateDetails are the details of a certificate's audit event: what was signed
// (chr, car, sha256, validity), for whom (holder, requester, role), with which key and by
// whom (the Ceremony).
type CertificateDetails struct {
	CHR        string   `json:"chr"`
	CAR        string   `json:"car"`
	Holder     string   `json:"holder,omitempty"`
	Requester  string   `json:"requester,omitempty"`
	Role       string   `json:"role"`
	SHA256     string   `json:"sha256"`
	Effective  string   `json:"effective"`
	Expiration string   `json:"expiration"`
	KeyLabel   string   `json:"key_label,omitempty"`
	Keystore   string   `json:"keystore,omitempty"`
	MessageID  string   `json:"message_id,omitempty"`
	Previous   string   `json:"previous,omitempty"`
	Proposer   string   `json:"proposer,omitempty"`
	Witnesses  []string `json:"witnesses,omitempty"`
	ProposalID string   `json:"proposal_id,omitempty"`
}

// Details returns the certificate's event details with the ceremony's participants; key
// (may be nil) names the certified key. holder is the certificate's holder (country and
// mnemonic).
func (by Ceremony) Details(cert *cvc.Certificate, holder string, key *Key) CertificateDetails {
	d := CertificateDetails{CHR: cert.CHR, CAR: cert.CAR, Holder: holder, Role: string(store.RoleOf(cert.Role())),
		SHA256: trust.CertificateSHA256(cert), Effective: cert.EffectiveDate.String(), Expiration: cert.ExpirationDate.String(),
		Proposer: by.Proposer, Witnesses: by.Witnesses, ProposalID: by.ProposalID}
	if key != nil {
		d.KeyLabel, d.Keystore = key.Label, key.Keystore
	}
	return d
}

// Event returns the audit event action with details as JSON, target the CHR.
func (by Ceremony) Event(action string, d CertificateDetails) (store.AuditEvent, error) {
	return by.event(action, d.CHR, d)
}

// KeyEvent returns the key.generate event of key, made for certificate chr.
func (by Ceremony) KeyEvent(key Key, chr string) (store.AuditEvent, error) {
	d := map[string]any{"label": key.Label, "keystore": key.Keystore, "algorithm": key.Spec.Algorithm.String(), "chr": chr}
	if key.Spec.Curve != "" {
		d["curve"] = key.Spec.Curve
	}
	if key.Spec.RSABits != 0 {
		d["rsa_bits"] = key.Spec.RSABits
	}
	if key.Reused {
		d["reused"] = true
	}
	if by.Proposer != "" {
		d["proposer"], d["witnesses"], d["proposal_id"] = by.Proposer, by.Witnesses, by.ProposalID
	}
	return by.event(EventKeyGenerate, key.Label, d)
}

func (by Ceremony) event(action, target string, details any) (store.AuditEvent, error) {
	b, err := json.Marshal(details)
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("cvca: audit details of %s: %w", action, err)
	}
	ev := store.AuditEvent{Actor: by.Actor, Action: action, Target: target, Source: by.Source, Outcome: "ok", Details: string(b)}
	if ev.Actor == "" {
		ev.Actor = "cvca"
	}
	if ev.Source == "" {
		ev.Source = "local"
	}
	return ev, nil
}

// StoreAudited runs change and appends events, in this order, in ONE transaction of st: a
// certificate and the events recording it commit together or not at all (an append that
// fails rolls the certificate back).
func StoreAudited(ctx context.Context, st *store.Store, op string, change func(tx *store.Store) error, events ...store.AuditEvent) error {
	if len(events) == 0 {
		return fmt.Errorf("cvca: %s without an audit event", op)
	}
	last := events[len(events)-1]
	return st.Audited(ctx, op, last, func(tx *store.Store) error {
		if err := change(tx); err != nil {
			return err
		}
		for _, ev := range events[:len(events)-1] {
			if _, err := tx.AppendAudit(ctx, ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// Uncertified records, on its own, a key made for chr whose certificate could not be
// stored (cause): the key exists in the keystore and the log says so. It returns only the
// append's error; the caller reports cause either way.
func (by Ceremony) Uncertified(ctx context.Context, st *store.Store, key Key, chr string, cause error) error {
	ev, err := by.KeyEvent(key, chr)
	if err != nil {
		return err
	}
	ev.Outcome = "uncertified"
	var d map[string]any
	if err := json.Unmarshal([]byte(ev.Details), &d); err == nil {
		d["error"] = cause.Error()
		if b, err := json.Marshal(d); err == nil {
			ev.Details = string(b)
		}
	}
	_, err = st.AppendAudit(ctx, ev)
	return err
}
