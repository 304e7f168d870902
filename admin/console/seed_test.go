package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"eacgate/store"

	"gorm.io/gorm"
)

// Seeded names: the holders' mnemonics start with "SD" so that a test's own holders never
// collide with them. The CVCA of the seed is the console fixture's country (UT).
const (
	seedCountry   = "UT"
	seedDVs       = 20
	seedTerminals = 2000
	seedCVCA1     = "UTCVCA00001"
	seedCVCA2     = "UTCVCA00002"
	// seedOwnDV is the mnemonic of the seed's first DV, usable as Handler.DVMnemonic.
	seedOwnDV = "SDDV01"
)

// seedPartners are the partner countries of the seed, each with one CVCA certificate and
// a few foreign DVs.
var seedPartners = []string{"FR", "IT", "DE", "NL"}

// seedRaw stands in for a certificate's DER: real ones are 200-450 bytes, and the table's
// size (SQLite scans read it) should be realistic.
var seedRaw = make([]byte, 300)

// seedCertificates inserts n certificates (at least the fixed CA structure below) and
// their holders into st at once, with raw batch INSERTs in one transaction: 20 domestic
// DVs with 3 certificates each, 2,000 terminals, foreign DVs of 4 partners, the CVCA chain
// of UT (a self-signed root, a link certificate and its self-signed twin) and one CVCA
// certificate per partner; the rest are mostly terminals' (94%), then foreign DVs' (4%:
// most certified by us, some our DV's from the partners) and domestic DVs' (2%). Statuses
// 90% valid, 7% suspended, 3% revoked; expiry spread over -60..+400 days from now. The
// spread is deterministic.
func seedCertificates(tb testing.TB, st *store.Store, n int, now time.Time) {
	tb.Helper()
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(20, uint64(n)))
	now = now.UTC().Truncate(time.Second)
	err := st.DB().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Holders.
		var holders [][]any
		addHolder := func(country, mnemonic string, role store.Role, status store.HolderStatus) {
			holders = append(holders, []any{country, mnemonic, string(role), string(status), now, now})
		}
		for i := range seedDVs {
			addHolder(seedCountry, fmt.Sprintf("SDDV%02d", i+1), store.RoleDVDomestic, store.HolderActive)
		}
		for i := range seedTerminals {
			status := store.HolderActive
			if rnd.IntN(20) == 0 {
				status = store.HolderSuspended
			}
			addHolder(seedCountry, fmt.Sprintf("SDIS%04d", i+1), store.RoleTerminal, status)
		}
		for _, c := range seedPartners {
			for j := range 5 {
				addHolder(c, fmt.Sprintf("SDDVF%d", j+1), store.RoleDVForeign, store.HolderActive)
			}
			addHolder(c, "SDSPOC", store.RoleSPOC, store.HolderActive)
		}
		if err := batchInsert(tx, "holders", []string{"country", "mnemonic", "role", "status", "created_at", "updated_at"}, holders); err != nil {
			return err
		}
		var rows []struct {
			ID       int64
			Country  string
			Mnemonic string
		}
		if err := tx.Raw("SELECT id, country, mnemonic FROM holders WHERE mnemonic LIKE 'SD%'").Scan(&rows).Error; err != nil {
			return err
		}
		ids := map[string]int64{}
		for _, r := range rows {
			ids[r.Country+r.Mnemonic] = r.ID
		}

		// Certificates.
		var certs [][]any
		add := func(holder *int64, car, chr string, role store.Role, status store.CertStatus, notAfter time.Time) {
			sum := sha256.Sum256([]byte("seed " + car + " " + chr))
			certs = append(certs, []any{holder, chr, car, string(role), notAfter.AddDate(0, 0, -30), notAfter, string(status),
				seedRaw, hex.EncodeToString(sum[:]), now})
		}
		day := now.Truncate(24 * time.Hour)
		expiry := func() time.Time { return day.AddDate(0, 0, rnd.IntN(461)-60) }
		status := func() store.CertStatus {
			switch p := rnd.IntN(100); {
			case p < 90:
				return store.CertValid
			case p < 97:
				return store.CertSuspended
			}
			return store.CertRevoked
		}
		hid := func(name string) *int64 {
			id := ids[name]
			return &id
		}
		add(nil, seedCVCA1, seedCVCA1, store.RoleCVCA, store.CertValid, day.AddDate(0, 0, 400))
		add(nil, seedCVCA1, seedCVCA2, store.RoleCVCA, store.CertValid, day.AddDate(2, 0, 0))
		add(nil, seedCVCA2, seedCVCA2, store.RoleCVCA, store.CertValid, day.AddDate(2, 0, 0))
		for _, c := range seedPartners {
			add(nil, c+"CVCA00001", c+"CVCA00001", store.RoleCVCA, store.CertValid, day.AddDate(1, 0, 0))
		}
		seq := map[string]int{}
		next := func(prefix string) string {
			seq[prefix]++
			return prefix + seqString(seq[prefix])
		}
		for i := range seedDVs {
			name := fmt.Sprintf("SDDV%02d", i+1)
			for j := range 3 {
				add(hid(seedCountry+name), seedCVCA2, next(seedCountry+name), store.RoleDVDomestic, store.CertValid, day.AddDate(0, 0, 30*j+10))
			}
		}
		for len(certs) < n {
			switch p := rnd.IntN(100); {
			case p < 94:
				t := rnd.IntN(seedTerminals) + 1
				dv := fmt.Sprintf("%sSDDV%02d", seedCountry, (t-1)%seedDVs+1)
				car := dv + seqString(rnd.IntN(3)+1)
				name := fmt.Sprintf("%sSDIS%04d", seedCountry, t)
				add(hid(name), car, next(name), store.RoleTerminal, status(), expiry())
			case p < 97:
				c := seedPartners[rnd.IntN(len(seedPartners))]
				name := fmt.Sprintf("%sSDDVF%d", c, rnd.IntN(5)+1)
				add(hid(name), seedCVCA2, next(name), store.RoleDVForeign, status(), expiry())
			case p < 98:
				c := seedPartners[rnd.IntN(len(seedPartners))]
				// Our DV's certificates from partner c: sequence numbers start with c.
				own := seedCountry + seedOwnDV
				seq[own+c]++
				add(hid(own), c+"CVCA00001", own+c+seqString(seq[own+c])[2:], store.RoleDVForeign, status(), expiry())
			default:
				name := fmt.Sprintf("%sSDDV%02d", seedCountry, rnd.IntN(seedDVs)+1)
				add(hid(name), seedCVCA2, next(name), store.RoleDVDomestic, status(), expiry())
			}
		}
		return batchInsert(tx, "certificates", []string{"holder_id", "chr", "car", "role", "not_before", "not_after", "status",
			"raw", "key_sha256", "created_at"}, certs)
	})
	if err != nil {
		tb.Fatalf("seed %d certificates: %v", n, err)
	}
}

// seqString is a certificate's 5-character sequence number (base 36).
func seqString(i int) string {
	s := strings.ToUpper(strconv.FormatInt(int64(i), 36))
	return strings.Repeat("0", max(0, 5-len(s))) + s
}

// batchInsert inserts rows into table, 400 rows a statement.
func batchInsert(tx *gorm.DB, table string, columns []string, rows [][]any) error {
	const batch = 400
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
	for start := 0; start < len(rows); start += batch {
		part := rows[start:min(start+batch, len(rows))]
		values := make([]string, len(part))
		args := make([]any, 0, len(part)*len(columns))
		for i, r := range part {
			values[i] = one
			args = append(args, r...)
		}
		q := "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES " + strings.Join(values, ", ")
		if err := tx.Exec(q, args...).Error; err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	return nil
}
