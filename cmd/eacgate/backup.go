package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"eacgate/config"
	"eacgate/store"
)

const backupUsage = `usage: eacgate backup --out FILE [--config FILE | --data DIR] [--db DSN]

Write a consistent copy of a gateway's SQLite database and software keystore to FILE, a
gzip-compressed tar archive, while the gateway keeps serving. The archive holds
manifest.json (time, schema version, eacgate version, what is included, the SHA-256 of
every file), eacgate.db, keys/ (the key files of the software keystore), and the audit key
and head files (audit.key_file, audit.head_file: without them the restored audit log cannot
be verified; the audit key is in clear, so keep the archive as safe as the keystore).

NOT included: the keystore passphrase (DATA/keystore.pass or EACGATE_KEYSTORE_PASSPHRASE),
the configuration file, the TLS certificate and key. Keep the passphrase apart from the
backups: the key files are useless without it, and anyone holding both can sign as the CA.
Keys in a PKCS#11 token stay there: the HSM's own backup procedure applies. A PostgreSQL
database is backed up with pg_dump (eacgate prints the recipe).

  --out FILE      archive to write (must not exist)
  --config FILE   YAML configuration naming the data directory, database and keystore
  --data DIR      data directory (default eacgate-data; overrides the configuration's)
  --db DSN        database (default DATA/eacgate.db; overrides the configuration's)
`

const restoreUsage = `usage: eacgate restore --from FILE --data DIR

Restore an archive written by eacgate backup into DIR, which must not exist or be empty:
DIR/eacgate.db, DIR/keys/, DIR/audit.key and DIR/audit.head (mode 0600 files, 0700
directories; a configuration that places the audit files elsewhere: move them there). Every file's SHA-256 is
checked against the archive's manifest first; nothing is written into DIR unless all match.

Then give the keystore its passphrase (EACGATE_KEYSTORE_PASSPHRASE, or the configuration's
keystore.soft.passphrase) and start the gateway on DIR. A configuration whose
keystore.soft.dir is elsewhere: move DIR/keys there.

  --from FILE     archive written by eacgate backup
  --data DIR      data directory to create
`

// backupFormat names the archive layout; restore refuses any other.
const backupFormat = "eacgate-backup/1"

// Names inside the archive.
const (
	backupManifestName = "manifest.json"
	backupDBName       = "eacgate.db"
	backupKeysDir      = "keys"
	// The audit key and head files (package auditlog), outside the database.
	backupAuditKeyName  = "audit.key"
	backupAuditHeadName = "audit.head"
)

// backupManifest is manifest.json, the archive's first entry.
type backupManifest struct {
	Format         string    `json:"format"`
	Created        time.Time `json:"created"`
	EacgateVersion string    `json:"eacgate_version"`
	SchemaVersion  int       `json:"schema_version"`
	// Database says how the database was copied.
	Database string         `json:"database"`
	Keystore backupKeystore `json:"keystore"`
	// PassphraseIncluded is always false: the passphrase must be kept apart from the keys.
	PassphraseIncluded bool         `json:"passphrase_included"`
	Files              []backupFile `json:"files"`
}

type backupKeystore struct {
	Backend  string `json:"backend"` // soft or pkcs11
	Included bool   `json:"included"`
	Note     string `json:"note,omitempty"`
}

type backupFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// pgDumpRecipe is what backup says for a PostgreSQL database. The DSN is not repeated: it may
// hold a password.
const pgDumpRecipe = `eacgate backup: the database is PostgreSQL: back it up with pg_dump, not with eacgate:

  pg_dump --format=custom --file eacgate-$(date +%%Y%%m%%d).pgdump "$DSN"
  # restore into an empty database (then start eacgate, which finds the schema in place):
  pg_restore --no-owner --exit-on-error --dbname "$NEW_DSN" eacgate-YYYYMMDD.pgdump

pg_dump takes a consistent snapshot while the gateway serves. Back up the software keystore
directory (%s) alongside it, keeping its modes (tar -C DIR -czpf keys.tar.gz .),
and the keystore passphrase separately; keys in a PKCS#11 token follow the HSM's own backup.
`

// runBackup implements "eacgate backup".
func runBackup(ctx context.Context, c cli) int {
	fs := flag.NewFlagSet("eacgate backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "", "archive to write")
	configFile := fs.String("config", "", "YAML configuration")
	data := fs.String("data", config.Config{}.WithDefaults().DataDir, "data directory")
	dsn := fs.String("db", "", "database DSN or SQLite file")
	if err := fs.Parse(c.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.stdout, backupUsage)
			return 0
		}
		fmt.Fprintf(c.stderr, "eacgate backup: %v\n\n%s", err, backupUsage)
		return 2
	}
	if fs.NArg() > 0 || *out == "" {
		fmt.Fprintf(c.stderr, "eacgate backup: --out FILE is required (and no other arguments)\n\n%s", backupUsage)
		return 2
	}
	opts := config.Config{}
	if *configFile != "" {
		var err error
		if opts, err = config.Load(*configFile); err != nil {
			fmt.Fprintf(c.stderr, "eacgate backup: %v\n", err)
			return 1
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["data"] || opts.DataDir == "" {
		opts.DataDir = *data
	}
	if set["db"] {
		opts.DSN = *dsn
	}
	opts = opts.WithDefaults()
	ks := backupKeystore{Backend: "soft", Included: true}
	keysDir := filepath.Join(opts.DataDir, "keys")
	if k := opts.Keystore; k != nil {
		switch k.Backend {
		case "", "soft":
			if keysDir = k.Soft.Dir; keysDir == "" {
				fmt.Fprintln(c.stderr, "eacgate backup: the configuration's keystore has no soft.dir")
				return 1
			}
		default:
			ks = backupKeystore{Backend: k.Backend, Note: "the keys stay in the HSM: its own backup procedure applies"}
			keysDir = ""
		}
	}
	if store.IsPostgresDSN(opts.DSN) {
		where := keysDir
		if where == "" {
			where = "none: PKCS#11"
		}
		fmt.Fprintf(c.stderr, pgDumpRecipe, where)
		return 1
	}
	m, err := writeBackup(ctx, *out, opts.DSN, keysDir, ks, opts.Audit)
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(c.stdout, "backup written to %s: database (schema version %d), %d keystore file(s)\n", *out, m.SchemaVersion, keystoreFiles(m.Files))
	if !ks.Included {
		fmt.Fprintf(c.stdout, "keystore: %s (%s)\n", ks.Backend, ks.Note)
	}
	fmt.Fprintln(c.stdout, "the keystore passphrase is NOT in the archive: keep it separately")
	return 0
}

// writeBackup snapshots the database into a private temporary directory beside out, then
// writes the archive to out through a temporary file, so that out is either complete or
// absent. The database is copied before the key files: keys are only ever added, so every
// certificate in the copy has its key among the files copied after it.
func writeBackup(ctx context.Context, out, dbPath, keysDir string, ks backupKeystore, audit config.AuditOptions) (*backupManifest, error) {
	if _, err := os.Lstat(out); err == nil {
		return nil, fmt.Errorf("%s already exists; choose a new name", out)
	}
	tmpDir, err := os.MkdirTemp(filepath.Dir(out), ".eacgate-backup-*")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	// The audit head file is copied before the database: its checkpoint is then never
	// ahead of the copied log (which would look like a cut tail).
	headCopy := filepath.Join(tmpDir, backupAuditHeadName)
	haveHead, err := copyIfExists(audit.HeadFile, headCopy)
	if err != nil {
		return nil, err
	}
	dbCopy := filepath.Join(tmpDir, backupDBName)
	schema, err := store.SnapshotSQLite(ctx, dbPath, dbCopy)
	if err != nil {
		return nil, err
	}
	m := &backupManifest{Format: backupFormat, Created: time.Now().UTC().Truncate(time.Second),
		EacgateVersion: eacgateBuildVersion(), SchemaVersion: schema,
		Database: "SQLite, copied with VACUUM INTO", Keystore: ks}
	type source struct{ name, path string }
	sources := []source{{backupDBName, dbCopy}}
	if haveHead {
		sources = append(sources, source{backupAuditHeadName, headCopy})
	}
	if _, err := os.Stat(audit.KeyFile); err == nil {
		sources = append(sources, source{backupAuditKeyName, audit.KeyFile})
	}
	if keysDir != "" {
		entries, err := os.ReadDir(keysDir)
		if err != nil {
			return nil, fmt.Errorf("software keystore: %w", err)
		}
		for _, e := range entries {
			// The key and wrapping-key files; not the keystore's half-written temporary files.
			n := e.Name()
			if e.Type().IsRegular() && (strings.HasSuffix(n, ".key") || strings.HasSuffix(n, ".wrapkey")) {
				sources = append(sources, source{backupKeysDir + "/" + n, filepath.Join(keysDir, n)})
			}
		}
	}
	for _, s := range sources {
		f, err := hashFile(s.path)
		if err != nil {
			return nil, err
		}
		f.Name = s.name
		m.Files = append(m.Files, f)
	}

	tmp, err := os.CreateTemp(tmpDir, "archive-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	defer tmp.Close()
	gz := gzip.NewWriter(tmp)
	tw := tar.NewWriter(gz)
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := tarEntry(tw, backupManifestName, int64(len(manifest)), strings.NewReader(string(manifest))); err != nil {
		return nil, err
	}
	for i, s := range sources {
		if err := tarFile(tw, s.name, s.path, m.Files[i]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	// Link, not rename: it fails instead of replacing an out created meanwhile. File systems
	// without hard links (some network shares) get a rename after a last check.
	if err := os.Link(tmp.Name(), out); err != nil {
		if _, serr := os.Lstat(out); serr == nil {
			return nil, fmt.Errorf("%s already exists; choose a new name", out)
		}
		if err := os.Rename(tmp.Name(), out); err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
	}
	return m, nil
}

// hashFile returns the size and SHA-256 of the file at p.
func hashFile(p string) (backupFile, error) {
	f, err := os.Open(p)
	if err != nil {
		return backupFile{}, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return backupFile{}, fmt.Errorf("backup: read %s: %w", p, err)
	}
	return backupFile{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// tarFile adds the file at p, which must still be what was hashed (a key file replaced in
// between would otherwise be archived under another file's hash).
func tarFile(tw *tar.Writer, name, p string, want backupFile) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if err := tarEntry(tw, name, want.Size, io.TeeReader(f, h)); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != want.SHA256 {
		return fmt.Errorf("backup: %s changed while it was archived; run the backup again", p)
	}
	return nil
}

func tarEntry(tw *tar.Writer, name string, size int64, r io.Reader) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: time.Now().UTC().Truncate(time.Second)}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	// CopyN: a file grown since it was hashed fails here rather than overflowing the entry.
	if _, err := io.CopyN(tw, r, size); err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	return nil
}

// eacgateBuildVersion is the module version and VCS revision the binary was built from.
func eacgateBuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return v
}

// runRestore implements "eacgate restore".
func runRestore(_ context.Context, c cli) int {
	fs := flag.NewFlagSet("eacgate restore", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "archive written by eacgate backup")
	data := fs.String("data", "", "data directory to create")
	if err := fs.Parse(c.args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.stdout, restoreUsage)
			return 0
		}
		fmt.Fprintf(c.stderr, "eacgate restore: %v\n\n%s", err, restoreUsage)
		return 2
	}
	if fs.NArg() > 0 || *from == "" || *data == "" {
		fmt.Fprintf(c.stderr, "eacgate restore: --from FILE and --data DIR are required (and no other arguments)\n\n%s", restoreUsage)
		return 2
	}
	m, err := restoreBackup(*from, *data)
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate restore: %v\n", err)
		return 1
	}
	fmt.Fprintf(c.stdout, "restored the backup of %s (eacgate %s, schema version %d) into %s: database, %d keystore file(s), all SHA-256 verified\n",
		m.Created.Format(time.RFC3339), m.EacgateVersion, m.SchemaVersion, *data, keystoreFiles(m.Files))
	if !m.Keystore.Included {
		fmt.Fprintf(c.stdout, "keystore: %s (%s)\n", m.Keystore.Backend, m.Keystore.Note)
	} else {
		fmt.Fprintf(c.stdout, "give the keystore its passphrase (EACGATE_KEYSTORE_PASSPHRASE) and start: eacgate serve --data %s\n", *data)
	}
	return 0
}

// restoreBackup extracts the archive into a private directory beside dir, checks every file
// against the manifest, and only then moves it to dir.
func restoreBackup(from, dir string) (*backupManifest, error) {
	switch entries, err := os.ReadDir(dir); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("target: %w", err)
	case len(entries) > 0:
		return nil, fmt.Errorf("%s is not empty (it holds %s, ...): restore only into a new or empty data directory, never over a gateway's data", dir, entries[0].Name())
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	staging, err := os.MkdirTemp(parent, ".eacgate-restore-*") // mode 0700
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(staging)
		}
	}()
	m, err := extractBackup(from, staging)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("target: %w", err) // not empty any more
	}
	if err := os.Rename(staging, dir); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	done = true
	return m, nil
}

// extractBackup writes the archive's files into dir and verifies them against its manifest.
func extractBackup(from, dir string) (*backupManifest, error) {
	f, err := os.Open(from)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s is not an eacgate backup: %w", from, err)
	}
	tr := tar.NewReader(gz)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != backupManifestName || hdr.Size > 1<<20 {
		return nil, fmt.Errorf("%s is not an eacgate backup: no %s first", from, backupManifestName)
	}
	var m backupManifest
	if err := json.NewDecoder(io.LimitReader(tr, hdr.Size)).Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", backupManifestName, err)
	}
	if m.Format != backupFormat {
		return nil, fmt.Errorf("%s: format %q, this eacgate reads %q", backupManifestName, m.Format, backupFormat)
	}
	want := map[string]backupFile{}
	for _, bf := range m.Files {
		if !backupName(bf.Name) {
			return nil, fmt.Errorf("%s: unexpected file name %q", backupManifestName, bf.Name)
		}
		want[bf.Name] = bf
	}
	if _, ok := want[backupDBName]; !ok {
		return nil, fmt.Errorf("%s: no database listed", backupManifestName)
	}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("archive damaged: %w", err)
		}
		bf, ok := want[hdr.Name]
		if !ok || hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("archive modified: %q is not listed in the manifest (or listed twice)", hdr.Name)
		}
		delete(want, hdr.Name)
		if err := extractFile(tr, dir, bf); err != nil {
			return nil, err
		}
	}
	if len(want) > 0 {
		missing := make([]string, 0, len(want))
		for name := range want {
			missing = append(missing, name)
		}
		sort.Strings(missing)
		return nil, fmt.Errorf("archive incomplete: %s missing", strings.Join(missing, ", "))
	}
	return &m, nil
}

// backupName reports whether name is one restore writes: the database or a file directly in
// keys/ (never a path leaving the target directory).
func backupName(name string) bool {
	if name == backupDBName || name == backupAuditKeyName || name == backupAuditHeadName {
		return true
	}
	d, base := path.Split(name)
	return d == backupKeysDir+"/" && base != "" && base != "." && base != ".." && !strings.ContainsAny(base, `/\`)
}

func extractFile(r io.Reader, dir string, bf backupFile) error {
	p := filepath.Join(dir, filepath.FromSlash(bf.Name))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	// One byte more than the manifest's size, to notice a longer file.
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(r, bf.Size+1))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", bf.Name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != bf.Size || got != bf.SHA256 {
		return fmt.Errorf("archive damaged or modified: %s has SHA-256 %s (%d bytes), the manifest says %s (%d bytes)", bf.Name, got, n, bf.SHA256, bf.Size)
	}
	return nil
}

// keystoreFiles counts the keystore's files among an archive's.
func keystoreFiles(files []backupFile) int {
	n := 0
	for _, f := range files {
		if strings.HasPrefix(f.Name, backupKeysDir+"/") {
			n++
		}
	}
	return n
}

// copyIfExists copies the file at src to dst (0600); false: src does not exist.
func copyIfExists(src, dst string) (bool, error) {
	b, err := os.ReadFile(src)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	return true, nil
}
