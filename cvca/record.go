package cvca

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"eacgate/cvc"
	"eacgate/store"
	"eacgate/trust"
)

// Record is the key ceremony record of a CVCA certificate: what partners need to register
// our CVCA (TR-03139 Appendix D: part I the country, part II our SPOC's root and URL, part
// III the CVCA certificates with their SHA-256), and who made the key and certificate
// (from the certificate's audit event).
type Record struct {
	Country     string            `json:"country"`
	Certificate RecordCertificate `json:"certificate"`
	Ceremony    RecordCeremony    `json:"ceremony"`
	Form        RegistrationForm  `json:"registration_form"`
	// Raw is the certificate's encoding (what the partner registers).
	Raw []byte `json:"-"`
}

// RecordCertificate describes the CVCA certificate of a Record.
type RecordCertificate struct {
	CHR        string `json:"chr"`
	CAR        string `json:"car"`
	SHA256     string `json:"sha256"`
	Effective  string `json:"effective"`
	Expiration string `json:"expiration"`
	Algorithm  string `json:"algorithm"`
	Curve      string `json:"curve,omitempty"`
	// Link: a link certificate (signed by the previous CVCA key, CAR), not self-signed.
	Link     bool   `json:"link"`
	KeyLabel string `json:"key_label,omitempty"`
	Keystore string `json:"keystore,omitempty"`
}

// RecordCeremony is who made a certificate, from its audit event; Recorded is false for a
// certificate without one (made before ceremonies were recorded, or added as a trust anchor).
type RecordCeremony struct {
	Recorded   bool      `json:"recorded"`
	Event      string    `json:"event,omitempty"`
	Seq        int64     `json:"seq,omitempty"`
	At         time.Time `json:"at,omitzero"`
	Actor      string    `json:"actor,omitempty"`
	Proposer   string    `json:"proposer,omitempty"`
	Witnesses  []string  `json:"witnesses,omitempty"`
	ProposalID string    `json:"proposal_id,omitempty"`
}

// RegistrationForm is what our registration form carries for a partner (Appendix D): part
// I our country, part II our SPOC (when its root was given), part III our CVCA certificates
// up to the recorded one, oldest first.
type RegistrationForm struct {
	PartI   FormPartI       `json:"part_i"`
	PartII  *FormPartII     `json:"part_ii,omitempty"`
	PartIII []FormCVCAEntry `json:"part_iii"`
}

// FormPartI is the member state.
type FormPartI struct {
	Country string `json:"country"`
}

// FormPartII is our SPOC: its URL and its TLS root CA certificate's SHA-256 (of the DER) and
// subject.
type FormPartII struct {
	URL         string `json:"url,omitempty"`
	RootSHA256  string `json:"spoc_root_sha256"`
	RootSubject string `json:"spoc_root_subject"`
}

// FormCVCAEntry is one CVCA certificate of part III.
type FormCVCAEntry struct {
	CHR    string `json:"chr"`
	SHA256 string `json:"sha256"`
}

// RecordOf returns the ceremony record of CVCA certificate chr of country (empty chr: the
// newest). It reads only the store: an auditor without the keystore can print it.
func RecordOf(ctx context.Context, st *store.Store, country, chr string) (*Record, error) {
	if chr != "" {
		if _, err := cvc.ParseReference(chr); err != nil {
			return nil, fmt.Errorf("cvca: CHR %q: %w", chr, err)
		}
		country = chr[:2]
	}
	chain, err := trust.New(st).Chain(ctx, country)
	if err != nil {
		return nil, fmt.Errorf("cvca: CVCA certificates of %s: %w", country, err)
	}
	i := len(chain) - 1
	if chr != "" {
		for i >= 0 && chain[i].CHR != chr {
			i--
		}
	}
	if i < 0 {
		if chr == "" {
			return nil, fmt.Errorf("cvca: no CVCA certificate of %s: %w", country, store.ErrNotFound)
		}
		return nil, fmt.Errorf("cvca: no CVCA certificate %s: %w", chr, store.ErrNotFound)
	}
	cert := chain[i]
	r := &Record{Country: country, Raw: cert.Raw, Certificate: RecordCertificate{CHR: cert.CHR, CAR: cert.CAR,
		SHA256: trust.CertificateSHA256(cert), Effective: cert.EffectiveDate.String(), Expiration: cert.ExpirationDate.String(),
		Algorithm: cert.PublicKey.Algorithm.String(), Link: cert.IsLink()}}
	if d := cvc.Domain(chain[:i+1]); d != nil && cert.PublicKey.Algorithm.IsECDSA() {
		r.Certificate.Curve = d.Name()
	}
	r.Form.PartI.Country = country
	for _, c := range chain[:i+1] {
		r.Form.PartIII = append(r.Form.PartIII, FormCVCAEntry{CHR: c.CHR, SHA256: trust.CertificateSHA256(c)})
	}
	ev, err := st.LatestAuditEvent(ctx, cert.CHR, EventInitCVCA, EventRollover)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("cvca: audit event of %s: %w", cert.CHR, err)
	}
	r.Ceremony = RecordCeremony{Recorded: true, Event: ev.Action, Seq: ev.Seq, At: ev.At, Actor: ev.Actor}
	var d CertificateDetails
	if ev.Details != "" {
		if err := json.Unmarshal([]byte(ev.Details), &d); err != nil {
			return nil, fmt.Errorf("cvca: audit event %d of %s: %w", ev.Seq, cert.CHR, err)
		}
	}
	r.Ceremony.Proposer, r.Ceremony.Witnesses, r.Ceremony.ProposalID = d.Proposer, d.Witnesses, d.ProposalID
	r.Certificate.KeyLabel, r.Certificate.Keystore = d.KeyLabel, d.Keystore
	return r, nil
}

// AddSPOCRoot fills part II: our SPOC's URL (may be empty) and its TLS root CA certificate
// (PEM), which must be one X.509 CA certificate (as partners check it on registration).
func (r *Record) AddSPOCRoot(pemBytes []byte, url string) error {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		return errors.New("cvca: the SPOC root is not a PEM certificate")
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("cvca: the SPOC root: %w", err)
	}
	if !root.IsCA {
		return errors.New("cvca: the SPOC root is not a CA certificate")
	}
	sum := sha256.Sum256(block.Bytes)
	r.Form.PartII = &FormPartII{URL: url, RootSHA256: hex.EncodeToString(sum[:]), RootSubject: root.Subject.String()}
	return nil
}
