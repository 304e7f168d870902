package hsm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"eacgate/cvc"
	"eacgate/ecc"
)

// ErrWrongPassphrase is ErrWrongPIN, under the name the soft keystore uses.
var ErrWrongPassphrase = ErrWrongPIN

// KDFParams are the Argon2id parameters used to derive a key file's encryption key from the
// passphrase. They are stored in each file; these only apply to new files.
type KDFParams struct {
	Time      uint32 `yaml:"time" json:"time"`
	MemoryKiB uint32 `yaml:"memory_kib" json:"memory_kib"`
	Threads   uint8  `yaml:"threads" json:"threads"`
}

// DefaultKDF returns the Argon2id parameters of new key files when none are configured: the
// second recommended option of RFC 9106 (t=3, 64 MiB, p=4).
func DefaultKDF() KDFParams { return KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 4} }

// Bounds on KDF parameters read from a file, so that a crafted file cannot make loading
// it take unbounded time or memory.
const (
	maxKDFTime      = 64
	maxKDFMemoryKiB = 4 * 1024 * 1024
	maxKeyFileSize  = 1 << 20
)

func (p KDFParams) check() error {
	if p.Time < 1 || p.Time > maxKDFTime || p.Threads < 1 || p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxKDFMemoryKiB {
		return fmt.Errorf("argon2id parameters t=%d m=%dKiB p=%d out of range", p.Time, p.MemoryKiB, p.Threads)
	}
	return nil
}

// SoftConfig configures a [SoftKeystore].
type SoftConfig struct {
	// Dir holds the key files. It is created with mode 0700 if missing.
	Dir string `yaml:"dir" json:"dir"`
	// Passphrase protects the keys. Without it the keystore can only List.
	Passphrase Secret `yaml:"passphrase" json:"passphrase"`
	// KDF sets the Argon2id cost for new key files; zero means DefaultKDF().
	KDF KDFParams `yaml:"kdf,omitempty" json:"kdf,omitempty"`
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// SoftKeystore keeps keys in files, one per key, encrypted at rest.
//
// A key file is DIR/LABEL.key, mode 0600 (files readable by group or others are refused),
// holding the JSON object [softFile] (format "eacgate-softkey/v1"): label, algorithm, curve or
// RSA size, creation time and public key in clear (so List needs no passphrase), the Argon2id
// parameters and salt, a key-check value telling a wrong passphrase from a damaged file, and
// the AES-256-GCM nonce and ciphertext of the PKCS#8 private key. Every field but the
// ciphertext is the GCM additional data, so none can be changed or swapped between files
// without decryption failing. Decrypted keys are cached in the keystore instance.
type SoftKeystore struct {
	dir  string
	pass []byte
	kdf  KDFParams
	log  *slog.Logger

	wrapMu sync.Mutex // serialises OpenKeyWrapper, so that two calls cannot both create one key
	mu     sync.Mutex
	cache  map[string]*softSigner
	closed bool
}

var _ Keystore = (*SoftKeystore)(nil)

// OpenSoft opens (creating if needed) a key directory.
func OpenSoft(cfg SoftConfig) (*SoftKeystore, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Dir == "" {
		return nil, errors.New("hsm: soft keystore: no directory configured")
	}
	kdf := cfg.KDF
	if kdf == (KDFParams{}) {
		kdf = DefaultKDF()
	}
	if err := kdf.check(); err != nil {
		return nil, fmt.Errorf("hsm: soft keystore: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("hsm: soft keystore: %w", err)
	}
	fi, err := os.Stat(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("hsm: soft keystore: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("hsm: soft keystore: %s is not a directory", cfg.Dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("soft keystore directory is accessible by group or others", "dir", cfg.Dir, "mode", fi.Mode().Perm().String())
	}
	k := &SoftKeystore{dir: cfg.Dir, kdf: kdf, log: log, cache: map[string]*softSigner{}}
	if !cfg.Passphrase.IsZero() {
		if k.pass, err = cfg.Passphrase.read("passphrase", log); err != nil {
			return nil, fmt.Errorf("hsm: soft keystore: %w", err)
		}
	}
	return k, nil
}

// Close forgets the cached keys and the passphrase.
func (k *SoftKeystore) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	clear(k.pass)
	k.pass = nil
	k.cache = nil
	return nil
}

// softFile is the content of a key file.
type softFile struct {
	Format    string  `json:"format"`
	Label     string  `json:"label"`
	Algorithm string  `json:"algorithm"`
	Curve     string  `json:"curve,omitempty"`
	RSABits   int     `json:"rsa_bits,omitempty"`
	Created   string  `json:"created"`
	PublicKey []byte  `json:"public_key"` // EC: 04||X||Y; RSA: PKCS#1 RSAPublicKey
	KDF       softKDF `json:"kdf"`
	Cipher    string  `json:"cipher"`
	Nonce     []byte  `json:"nonce"`
	KeyCheck  []byte  `json:"key_check"`
	// Ciphertext is the AES-256-GCM encryption of the PKCS#8 private key with the JSON
	// encoding of all other fields (Ciphertext omitted) as additional data.
	Ciphertext []byte `json:"ciphertext,omitempty"`
}

type softKDF struct {
	Name string `json:"name"`
	KDFParams
	Salt []byte `json:"salt"`
}

const (
	softFormat = "eacgate-softkey/v1"
	softCipher = "AES-256-GCM"
	softKDFAlg = "argon2id"
)

func (f *softFile) aad() ([]byte, error) {
	g := *f
	g.Ciphertext = nil
	return json.Marshal(&g)
}

// keys derives the AES key and the key-check value.
func (f *softFile) keys(pass []byte) (aesKey, check []byte) {
	out := argon2.IDKey(pass, f.KDF.Salt, f.KDF.Time, f.KDF.MemoryKiB, f.KDF.Threads, 64)
	h := sha256.New()
	h.Write([]byte("eacgate-softkey key check\x00"))
	h.Write(out[32:])
	return out[:32], h.Sum(nil)
}

func (k *SoftKeystore) path(label string) string { return filepath.Join(k.dir, label+".key") }

func (k *SoftKeystore) passphrase() ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, ErrClosed
	}
	if k.pass == nil {
		return nil, fmt.Errorf("%w: soft keystore %s: no passphrase configured", ErrLogin, k.dir)
	}
	return k.pass, nil
}

// Generate creates a key in memory and writes it encrypted to DIR/label.key.
func (k *SoftKeystore) Generate(ctx context.Context, label string, spec KeySpec) (Signer, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	spec, curve, err := spec.normalize()
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(k.path(label)); err == nil {
		return nil, fmt.Errorf("%w: %q in %s", ErrKeyExists, label, k.dir)
	}
	var priv crypto.Signer
	if curve != nil {
		priv, err = ecc.GenerateKey(curve, rand.Reader)
	} else {
		priv, err = rsa.GenerateKey(rand.Reader, spec.RSABits)
	}
	if err != nil {
		return nil, fmt.Errorf("hsm: generate %s key %q: %w", spec.Algorithm, label, err)
	}
	s, err := k.store(label, priv, spec.Algorithm)
	if err != nil {
		return nil, err
	}
	k.log.Info("soft key generated", "dir", k.dir, "label", label, "algorithm", spec.Algorithm.String(),
		"curve", spec.Curve, "rsa_bits", spec.RSABits)
	return s, nil
}

// Import stores an existing unencrypted PKCS#8 private key (RSA, or EC on any ecc curve)
// under label for algorithm alg.
func (k *SoftKeystore) Import(label string, pkcs8 []byte, alg cvc.Algorithm) (Signer, error) {
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	var priv crypto.Signer
	if key, err := x509.ParsePKCS8PrivateKey(pkcs8); err == nil {
		if rk, ok := key.(*rsa.PrivateKey); ok {
			priv = rk
		}
	}
	if priv == nil {
		ek, err := ecc.ParsePKCS8PrivateKey(pkcs8)
		if err != nil {
			return nil, fmt.Errorf("%w: import %q: not an RSA or supported EC PKCS#8 key: %w", ErrInvalidSpec, label, err)
		}
		priv = ek
	}
	return k.store(label, priv, alg)
}

// store encrypts priv and writes it to a new file (never overwriting one).
func (k *SoftKeystore) store(label string, priv crypto.Signer, alg cvc.Algorithm) (*softSigner, error) {
	pass, err := k.passphrase()
	if err != nil {
		return nil, err
	}
	f := softFile{Format: softFormat, Label: label, Algorithm: alg.String(), Cipher: softCipher,
		Created: time.Now().UTC().Format(time.RFC3339)}
	var der []byte
	switch p := priv.(type) {
	case *ecc.PrivateKey:
		if !alg.IsECDSA() {
			return nil, fmt.Errorf("%w: EC key for %s", ErrInvalidSpec, alg)
		}
		pub := p.Public().(*ecc.PublicKey)
		f.Curve, f.PublicKey = pub.Curve().Name(), pub.Bytes()
		der, err = ecc.MarshalPKCS8PrivateKey(p)
	case *rsa.PrivateKey:
		if !alg.IsRSA() {
			return nil, fmt.Errorf("%w: RSA key for %s", ErrInvalidSpec, alg)
		}
		f.RSABits, f.PublicKey = p.N.BitLen(), x509.MarshalPKCS1PublicKey(&p.PublicKey)
		der, err = x509.MarshalPKCS8PrivateKey(p)
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrInvalidSpec, priv)
	}
	if err != nil {
		return nil, fmt.Errorf("hsm: encode key %q: %w", label, err)
	}
	defer clear(der)
	if err := k.sealFile(&f, pass, der, k.path(label)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: %q in %s", ErrKeyExists, label, k.dir)
		}
		return nil, fmt.Errorf("hsm: write key %q: %w", label, err)
	}
	s := &softSigner{label: label, alg: alg, priv: priv, pub: priv.Public()}
	k.mu.Lock()
	if k.cache != nil {
		k.cache[label] = s
	}
	k.mu.Unlock()
	return s, nil
}

// writeNewFile writes data to path atomically with mode 0600, failing with fs.ErrExist if
// path exists.
func writeNewFile(dir, path string, data []byte) error {
	tmp, err := os.CreateTemp(dir, ".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// readFile reads and checks (permissions, format, label) a key file without decrypting it.
func (k *SoftKeystore) readFile(label string) (*softFile, error) {
	return readKeyFile(k.path(label), label, softFormat)
}

// readKeyFile reads and checks a key file of the given format.
func readKeyFile(path, label, format string) (*softFile, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q in %s", ErrKeyNotFound, label, filepath.Dir(path))
	}
	if err != nil {
		return nil, fmt.Errorf("hsm: key %q: %w", label, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKeyFile, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, readable or writable by group or others; run chmod 600 %s",
			ErrKeyFile, path, perm, path)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hsm: key %q: %w", label, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("hsm: key %q: %w", label, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%w: %s is too large", ErrKeyFile, path)
	}
	var f softFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeyFile, path, err)
	}
	switch {
	case f.Format != format:
		return nil, fmt.Errorf("%w: %s: unknown format %q", ErrKeyFile, path, f.Format)
	case f.Label != label:
		return nil, fmt.Errorf("%w: %s holds key %q", ErrKeyFile, path, f.Label)
	case f.Cipher != softCipher || f.KDF.Name != softKDFAlg:
		return nil, fmt.Errorf("%w: %s: unsupported cipher %q or KDF %q", ErrKeyFile, path, f.Cipher, f.KDF.Name)
	case len(f.Nonce) != 12 || len(f.KDF.Salt) < 16:
		return nil, fmt.Errorf("%w: %s: bad nonce or salt", ErrKeyFile, path)
	}
	if err := f.KDF.KDFParams.check(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeyFile, path, err)
	}
	return &f, nil
}

// info describes the key of f without decrypting it.
func (f *softFile) info() (KeyInfo, error) {
	alg, err := cvc.ParseAlgorithm(f.Algorithm)
	if err != nil {
		return KeyInfo{}, err
	}
	info := KeyInfo{Label: f.Label, Algorithm: alg, Curve: f.Curve, RSABits: f.RSABits}
	info.Created, _ = time.Parse(time.RFC3339, f.Created)
	switch {
	case alg.IsECDSA():
		c := ecc.CurveByName(f.Curve)
		if c == nil {
			return info, fmt.Errorf("unknown curve %q", f.Curve)
		}
		if info.Public, err = c.NewPublicKey(f.PublicKey); err != nil {
			return info, err
		}
	default:
		pub, err := x509.ParsePKCS1PublicKey(f.PublicKey)
		if err != nil {
			return info, err
		}
		info.Public = pub
	}
	return info, nil
}

// Signer decrypts (once per keystore) and returns the key labelled label.
func (k *SoftKeystore) Signer(ctx context.Context, label string) (Signer, error) {
	if checkLabel(label) != nil {
		return nil, fmt.Errorf("%w: %q is not a valid label", ErrKeyNotFound, label)
	}
	k.mu.Lock()
	s, ok := k.cache[label]
	k.mu.Unlock()
	if ok {
		return s, nil
	}
	pass, err := k.passphrase()
	if err != nil {
		return nil, err
	}
	f, err := k.readFile(label)
	if err != nil {
		return nil, err
	}
	info, err := f.info()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeyFile, k.path(label), err)
	}
	der, err := k.openFile(f, pass, k.path(label), "key "+strconv.Quote(label))
	if err != nil {
		return nil, err
	}
	defer clear(der)
	var priv crypto.Signer
	if info.Algorithm.IsRSA() {
		key, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrKeyFile, k.path(label), err)
		}
		rk, ok := key.(*rsa.PrivateKey)
		if !ok || !rk.PublicKey.Equal(info.Public) {
			return nil, fmt.Errorf("%w: %s: private key does not match public key", ErrKeyFile, k.path(label))
		}
		priv = rk
	} else {
		ek, err := ecc.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrKeyFile, k.path(label), err)
		}
		if !bytes.Equal(ek.Public().(*ecc.PublicKey).Bytes(), f.PublicKey) {
			return nil, fmt.Errorf("%w: %s: private key does not match public key", ErrKeyFile, k.path(label))
		}
		priv = ek
	}
	s = &softSigner{label: label, alg: info.Algorithm, priv: priv, pub: info.Public}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cache == nil {
		return nil, ErrClosed
	}
	if c, ok := k.cache[label]; ok {
		return c, nil
	}
	k.cache[label] = s
	return s, nil
}

// List describes the keys of the directory; it needs no passphrase. Unreadable files are
// logged and skipped.
func (k *SoftKeystore) List(ctx context.Context) ([]KeyInfo, error) {
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, fmt.Errorf("hsm: soft keystore: %w", err)
	}
	var out []KeyInfo
	for _, e := range entries {
		name := e.Name()
		label, ok := strings.CutSuffix(name, ".key")
		if !ok || checkLabel(label) != nil {
			continue
		}
		f, err := k.readFile(label)
		var info KeyInfo
		if err == nil {
			info, err = f.info()
		}
		if err != nil {
			k.log.Warn("soft keystore: skipping key file", "file", filepath.Join(k.dir, name), "err", err)
			continue
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out, nil
}

// softSigner is a decrypted key in memory.
type softSigner struct {
	label string
	alg   cvc.Algorithm
	priv  crypto.Signer
	pub   crypto.PublicKey
}

var _ Signer = (*softSigner)(nil)

func (s *softSigner) Public() crypto.PublicKey { return s.pub }
func (s *softSigner) Algorithm() cvc.Algorithm { return s.alg }
func (s *softSigner) Label() string            { return s.label }

// SignRS signs digest with an EC key and returns r and s (cvc.Sign uses it to skip the DER
// round trip). It fails for RSA keys. A nil rand means crypto/rand.
func (s *softSigner) SignRS(r io.Reader, digest []byte) (*big.Int, *big.Int, error) {
	k, ok := s.priv.(*ecc.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("hsm: key %q is not an EC key", s.label)
	}
	if r == nil {
		r = rand.Reader
	}
	return k.SignRS(r, digest)
}

// Sign signs digest; see [Signer]. A nil rand means crypto/rand.
func (s *softSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		opts = s.alg.SignerOpts()
	}
	if r == nil {
		r = rand.Reader
	}
	if h := opts.HashFunc(); h != 0 && len(digest) != h.Size() {
		return nil, fmt.Errorf("hsm: key %q: digest of %d bytes for %v", s.label, len(digest), h)
	}
	sig, err := s.priv.Sign(r, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("hsm: sign with key %q: %w", s.label, err)
	}
	return sig, nil
}

// sealFile encrypts secret into f under a key from the passphrase (fresh salt and nonce,
// every other field of f bound as additional data) and writes f as a new file at path (an
// existing one is fs.ErrExist).
func (k *SoftKeystore) sealFile(f *softFile, pass, secret []byte, path string) error {
	f.KDF = softKDF{Name: softKDFAlg, KDFParams: k.kdf, Salt: make([]byte, 16)}
	f.Nonce = make([]byte, 12)
	for _, b := range [][]byte{f.KDF.Salt, f.Nonce} {
		if _, err := rand.Read(b); err != nil {
			return err
		}
	}
	aesKey, check := f.keys(pass)
	defer clear(aesKey)
	f.KeyCheck = check
	aad, err := f.aad()
	if err != nil {
		return err
	}
	gcm, err := newGCM(aesKey)
	if err != nil {
		return err
	}
	f.Ciphertext = gcm.Seal(nil, f.Nonce, secret, aad)
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeNewFile(k.dir, path, append(data, '\n'))
}

// openFile decrypts what sealFile put in f (read from path; what names it in errors): a
// passphrase that does not open it is ErrWrongPassphrase, a file modified or damaged
// ErrKeyFile. The caller clears the secret after use.
func (k *SoftKeystore) openFile(f *softFile, pass []byte, path, what string) ([]byte, error) {
	aesKey, check := f.keys(pass)
	defer clear(aesKey)
	if subtle.ConstantTimeCompare(check, f.KeyCheck) != 1 {
		return nil, fmt.Errorf("%w: the passphrase does not open %s in %s", ErrWrongPassphrase, what, k.dir)
	}
	aad, err := f.aad()
	if err != nil {
		return nil, err
	}
	gcm, err := newGCM(aesKey)
	if err != nil {
		return nil, err
	}
	secret, err := gcm.Open(nil, f.Nonce, f.Ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: authentication failed (file modified or damaged)", ErrKeyFile, path)
	}
	return secret, nil
}
