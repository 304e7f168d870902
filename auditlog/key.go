// Package auditlog makes the store's hash-chained audit log tamper-evident with a key kept
// outside the database: it loads (or creates) the audit key file, from which it derives the
// HMAC key that the store puts on every event and the Ed25519 key that signs checkpoints of
// the chain's head; it writes the newest checkpoint to a head file outside the database (so
// that a cut tail is detected), verifies the log online, and exports it as JSON lines that
// an auditor verifies offline with the checkpoint key's public part alone.
package auditlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"eacgate/store"
)

// secretSize is the length of the audit key file's secret.
const secretSize = 32

// ErrNoKey: the audit key file does not exist and the log has no keyed event, so the
// store may go on appending unkeyed events (LoadKey with create false).
var ErrNoKey = errors.New("auditlog: no audit key file")

// Key is the audit key: the HMAC key of the events and the checkpoint signing key, both
// derived from one secret (HKDF-SHA256) that never enters the database.
type Key struct {
	mac    *store.AuditKey
	signer ed25519.PrivateKey
	public PublicKey
}

// NewKey derives the audit key from a secret of 32 bytes.
func NewKey(secret []byte) (*Key, error) {
	if len(secret) != secretSize {
		return nil, fmt.Errorf("auditlog: audit key: %d bytes, want %d", len(secret), secretSize)
	}
	macKey, err := hkdf.Key(sha256.New, secret, nil, "eacgate audit event mac v1", 32)
	if err != nil {
		return nil, fmt.Errorf("auditlog: derive mac key: %w", err)
	}
	seed, err := hkdf.Key(sha256.New, secret, nil, "eacgate audit checkpoint ed25519 v1", ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("auditlog: derive checkpoint key: %w", err)
	}
	mac, err := store.NewAuditKey(macKey)
	if err != nil {
		return nil, err
	}
	signer := ed25519.NewKeyFromSeed(seed)
	pub, err := newPublicKey(signer.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &Key{mac: mac, signer: signer, public: pub}, nil
}

// MAC is the key the store MACs events with (pass it to store.UseAuditKey).
func (k *Key) MAC() *store.AuditKey { return k.mac }

// Public is the checkpoint key's public part: what an auditor records at the ceremony.
func (k *Key) Public() PublicKey { return k.public }

// Sign returns the signed checkpoint of the chain at (seq, hash), made at at.
func (k *Key) Sign(seq int64, hash string, at time.Time) store.AuditCheckpoint {
	c := store.AuditCheckpoint{Seq: seq, Hash: strings.ToLower(hash), At: at.UTC().Truncate(time.Microsecond),
		KeyFingerprint: k.public.fingerprint}
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(k.signer, CheckpointMessage(c)))
	return c
}

// CheckpointMessage is what a checkpoint's signature covers: a domain label, the seq, the
// hash and the time, one per line.
func CheckpointMessage(c store.AuditCheckpoint) []byte {
	return []byte("eacgate audit checkpoint v1\n" + strconv.FormatInt(c.Seq, 10) + "\n" + strings.ToLower(c.Hash) + "\n" +
		c.At.UTC().Format(time.RFC3339Nano) + "\n")
}

// PublicKey is a checkpoint verification key with its fingerprint.
type PublicKey struct {
	key         ed25519.PublicKey
	der         []byte
	fingerprint string
}

func newPublicKey(k ed25519.PublicKey) (PublicKey, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return PublicKey{}, fmt.Errorf("auditlog: public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return PublicKey{key: k, der: der, fingerprint: hex.EncodeToString(sum[:])}, nil
}

// ParsePublicKey reads a checkpoint public key: PEM ("PUBLIC KEY") or the base64 of its
// PKIX DER.
func ParsePublicKey(b []byte) (PublicKey, error) {
	der := bytes.TrimSpace(b)
	if blk, _ := pem.Decode(der); blk != nil {
		der = blk.Bytes
	} else if d, err := base64.StdEncoding.DecodeString(string(der)); err == nil {
		der = d
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return PublicKey{}, fmt.Errorf("auditlog: public key: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return PublicKey{}, fmt.Errorf("auditlog: public key: %T, want Ed25519", k)
	}
	return newPublicKey(ek)
}

// Fingerprint is the hex SHA-256 of the public key's PKIX DER
// (openssl pkey -pubin -outform DER | sha256sum).
func (p PublicKey) Fingerprint() string { return p.fingerprint }

// PEM is the public key as a PEM "PUBLIC KEY" block.
func (p PublicKey) PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p.der}))
}

// Verify checks a checkpoint's signature and that it names this key.
func (p PublicKey) Verify(c store.AuditCheckpoint) error {
	if !strings.EqualFold(c.KeyFingerprint, p.fingerprint) {
		return fmt.Errorf("checkpoint at seq %d is signed by key %s, not %s", c.Seq, c.KeyFingerprint, p.fingerprint)
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(p.key, CheckpointMessage(c), sig) {
		return fmt.Errorf("checkpoint at seq %d: bad signature", c.Seq)
	}
	return nil
}

// LoadKey reads the audit key file (hex of a 32-byte secret) and checks it against the
// newest keyed event of st. When the file does not exist: if the log has keyed events it
// is an error (the key was lost or moved: restore it); otherwise, with create, a new
// secret is written there (0600) and used, and without, ErrNoKey is returned.
func LoadKey(ctx context.Context, st *store.Store, path string, create bool, log *slog.Logger) (*Key, error) {
	if log == nil {
		log = slog.Default()
	}
	last, keyed, err := st.LastKeyedAuditEvent(ctx)
	if err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && keyed:
		return nil, fmt.Errorf("auditlog: audit key file %s is missing but the audit log has keyed events (up to seq %d): restore the key file from its backup", path, last.Seq)
	case errors.Is(err, fs.ErrNotExist) && !create:
		return nil, ErrNoKey
	case errors.Is(err, fs.ErrNotExist):
		k, err := createKey(path)
		if err != nil {
			return nil, err
		}
		log.Warn("auditlog: created the audit key file: back it up, the audit log cannot be verified without it", "file", path,
			"checkpoint_key_fingerprint", k.Public().Fingerprint())
		return k, nil
	case err != nil:
		return nil, fmt.Errorf("auditlog: audit key file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("auditlog: the audit key file is readable by others than its owner", "file", path, "mode", fi.Mode().Perm())
	}
	secret, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("auditlog: audit key file %s: not hex: %w", path, err)
	}
	k, err := NewKey(secret)
	if err != nil {
		return nil, fmt.Errorf("auditlog: audit key file %s: %w", path, err)
	}
	if keyed && !k.mac.Valid(last) {
		return nil, fmt.Errorf("auditlog: audit key file %s does not match the audit log (the MAC of seq %d): wrong key file", path, last.Seq)
	}
	return k, nil
}

// createKey writes a new secret to path, owner-only; a file another process created first
// is read instead.
func createKey(path string) (*Key, error) {
	secret := make([]byte, secretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("auditlog: new audit key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("auditlog: new audit key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("auditlog: audit key file: %w", err)
		}
		if secret, err = hex.DecodeString(string(bytes.TrimSpace(b))); err != nil {
			return nil, fmt.Errorf("auditlog: audit key file %s: not hex: %w", path, err)
		}
		return NewKey(secret)
	}
	if err != nil {
		return nil, fmt.Errorf("auditlog: new audit key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(secret) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("auditlog: new audit key: %w", err)
	}
	return NewKey(secret)
}
